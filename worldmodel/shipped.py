"""Which cartridge a client plays (the game, `er_session host`): a shipped model from
assets/models/, or a stand-in.

Until a trained model is shipped in assets/models/<name>/ (manifest.bin, weights.bin,
model.json), `auto` falls back to a randomly initialised `micro` cartridge with seed 0: the
same format and cost as a real model, but its "physics" is noise.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from . import cartridge as C
from .randmodel import random_cartridge

MODELS_DIR = C.MODELS_DIR
FALLBACK_PRESET, FALLBACK_SEED = "micro", 0


class ModelError(ValueError):
    pass


@dataclasses.dataclass
class Model:
    name: str
    cartridge: C.Cartridge
    source: str  # directory, or "random" for the stand-in


def shipped(directory: Path = MODELS_DIR) -> list[Path]:
    """The shipped models, the one `auto` plays first (assets/models/DEFAULT names it)."""
    return C.shipped_models(directory)


def resolve(choice: str, directory: Path = MODELS_DIR) -> Model:
    """`auto`, `random`, a name under assets/models/, or a model directory."""
    if choice == "random":
        return _random()
    if choice == "auto":
        found = shipped(directory)
        return _load(found[0]) if found else _random()
    path = Path(choice).expanduser()
    if not path.is_dir():
        path = directory / choice
    if not (path / "manifest.bin").is_file():
        names = ", ".join(p.name for p in shipped(directory)) or "none shipped yet"
        raise ModelError(f"model {choice!r}: no manifest.bin there (models in assets/models/: {names}; "
                         "or use auto / random)")
    return _load(path)


def _load(path: Path) -> Model:
    try:
        return Model(path.name, C.load(path), str(path))
    except C.CartridgeError as e:
        raise ModelError(f"{path}: {e}") from None


def _random() -> Model:
    return Model(f"random-{FALLBACK_PRESET}-seed{FALLBACK_SEED}",
                 random_cartridge(FALLBACK_PRESET, seed=FALLBACK_SEED), "random")
