"""--mode replay FILE.slp[.xz]: a real replay's ground truth next to the model's prediction.

The replay's own inputs drive the model (the embedded backend, from the replay's first
state), and the replay's recorded states are drawn as outlined ghosts behind the model's
fighters. Reading replays is the dataset module's job (worldmodel.dataset, the model issue);
without it this mode says so and exits.
"""
from __future__ import annotations

from .backends import GameSetupError


def run_replay(settings, args) -> int:
    if not args.replay:
        raise GameSetupError("--mode replay needs a replay file: python -m game --mode replay FILE.slp[.xz]")
    try:
        from worldmodel import dataset  # noqa: F401
    except ImportError as e:
        raise GameSetupError(
            "replay mode needs worldmodel.dataset (the Slippi replay reader from the model issue), "
            f"which this checkout does not have yet ({e})") from None
    raise GameSetupError("replay mode is not wired to worldmodel.dataset yet")
