"""--mode replay FILE.slp[.xz]: a real replay's ground truth next to the model's prediction.

The session starts from the replay's first recorded state and, every frame, is fed the
controller inputs the two humans actually pressed; the program (embedded backend) predicts
the next state. The replay's recorded state is drawn as outlined ghosts behind the model's
fighters, and the HUD shows the position error, so what you see is the model's real fidelity
(it is free-running: errors accumulate, nothing is corrected from the replay).
Reading replays is the dataset module's job (worldmodel.dataset, from the model issue).
"""
from __future__ import annotations

import math

from onchain.sdk.wire import ControllerInput

from .backends import GameSetupError
from .session import LocalSession, TickResult


def read(path: str):
    try:
        from worldmodel import dataset
    except ImportError as e:
        raise GameSetupError(
            "replay mode needs worldmodel.dataset (the Slippi replay reader from the model issue), "
            f"which this checkout does not have yet ({e})") from None
    try:
        return dataset.read_replay(path)
    except ImportError as e:  # peppi-py, the Slippi parser, comes with the model issue's setup
        raise GameSetupError(f"reading replays needs peppi-py: {e}") from None
    except (dataset.ReplayError, OSError) as e:
        raise GameSetupError(f"{path}: {e}") from None


def controller(row) -> ControllerInput:
    """A dataset ctrl row (ControllerInput.as_row order), clamped into the program's ranges."""
    sx, sy, cx, cy, l, r, buttons = (int(v) for v in list(row)[:7])
    clamp = lambda v: max(-127, min(127, v))  # noqa: E731
    return ControllerInput(clamp(sx), clamp(sy), clamp(cx), clamp(cy), max(0, min(255, l)),
                           max(0, min(255, r)), buttons & 0x0FFF)


class ReplaySession(LocalSession):
    """A local session whose inputs come from the replay, with the recorded states as ghosts."""

    def __init__(self, backend, cartridge, session_id, keys, replay):
        super().__init__(backend, cartridge, session_id, keys, start_state=replay.state[0])
        self.replay = replay
        self.match_ = self.match()  # the session is created on the replay's stage with its characters
        self.t = 0  # replay row of the session's current state
        self.errors: list[float] = []

    def tick(self, ctrls) -> TickResult:
        if self.t + 1 >= len(self.replay.state):
            return TickResult(False, error="end of replay")
        row = self.replay.ctrl[self.t + 1]
        result = super().tick({0: controller(row[0]), 1: controller(row[1])})
        if result.advanced:
            self.t += 1
            self.errors.append(self.position_error())
        return result

    def restart(self) -> None:
        self.t, self.errors = 0, []
        super().restart()

    def ghosts(self):
        return [tuple(int(v) for v in self.replay.state[self.t][p]) for p in (0, 1)]

    def position_error(self) -> float:
        """Mean distance in game units between predicted and recorded fighters now."""
        view = self.view()
        if view is None:
            return float("nan")
        d = [math.dist((view.fighters[p][0] / 16, view.fighters[p][1] / 16),
                       (int(self.replay.state[self.t][p][0]) / 16, int(self.replay.state[self.t][p][1]) / 16))
             for p in (0, 1)]
        return sum(d) / 2

    def match(self):
        """The replay's own stage and characters (None for a stage without a table: the
        configured stage is drawn)."""
        from .match import Match
        try:
            return Match.of(self.replay.stage, self.replay.characters[:2])
        except (ValueError, TypeError, IndexError, AttributeError):
            return None

    def hud_lines(self) -> tuple[str, ...]:
        err = self.errors[-1] if self.errors else 0.0
        return (f"replay frame {self.t}/{len(self.replay.state) - 1}", f"position error {err:.1f} units",
                "ghosts: replay, solid: model")


def build(settings, args, make_backend, model, keys) -> ReplaySession:
    if not args.replay:
        raise GameSetupError("--mode replay needs a replay file: python -m game --mode replay FILE.slp[.xz]")
    replay = read(args.replay)
    if len(replay.state) < 2:
        raise GameSetupError(f"{args.replay}: too short to replay")
    backend = make_backend()
    session_id = args.session if args.session is not None else settings["session_id"]
    return ReplaySession(backend, model.cartridge, session_id, keys, replay)
