"""Stage geometry as data (assets/stages/*.yaml), in Melee game units with y up."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import yaml

STAGE_DIR = Path(__file__).resolve().parent.parent / "assets" / "stages"
ASPECT = 16 / 9


class StageError(ValueError):
    pass


@dataclasses.dataclass(frozen=True)
class Surface:
    left: float
    right: float
    y: float
    moving: bool = False  # drawn at a typical height; the rules leave it out (Fountain of Dreams)


@dataclasses.dataclass(frozen=True)
class Box:
    left: float
    right: float
    top: float
    bottom: float

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.top - self.bottom

    def contains(self, x: float, y: float) -> bool:
        return self.left <= x <= self.right and self.bottom <= y <= self.top


@dataclasses.dataclass(frozen=True)
class Stage:
    key: str
    name: str
    ground: Surface
    platforms: tuple[Surface, ...]
    blast_zones: Box
    camera: Box
    underside: tuple[tuple[float, float], ...]
    colors: dict[str, tuple[int, int, int]]
    respawn: tuple[tuple[float, float], tuple[float, float]] = ((0.0, 0.0), (0.0, 0.0))  # revival platforms


def _surface(d: dict, where: str) -> Surface:
    try:
        s = Surface(float(d["left"]), float(d["right"]), float(d["y"]), bool(d.get("moving", False)))
    except (KeyError, TypeError, ValueError) as e:
        raise StageError(f"{where}: needs numeric left, right, y ({e})") from None
    if s.left >= s.right:
        raise StageError(f"{where}: left must be < right")
    return s


def _box(d: dict, where: str) -> Box:
    try:
        b = Box(float(d["left"]), float(d["right"]), float(d["top"]), float(d["bottom"]))
    except (KeyError, TypeError, ValueError) as e:
        raise StageError(f"{where}: needs numeric left, right, top, bottom ({e})") from None
    if b.left >= b.right or b.bottom >= b.top:
        raise StageError(f"{where}: empty box")
    return b


def load(key: str, directory: Path = STAGE_DIR) -> Stage:
    path = directory / f"{key}.yaml"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in directory.glob("*.yaml")))
        raise StageError(f"no stage {key!r} (known: {known})")
    d = yaml.safe_load(path.read_text())
    camera = _box(d["camera"], f"{path} camera")
    if abs(camera.width / camera.height - ASPECT) > 0.01:
        raise StageError(f"{path}: camera must be 16:9 (is {camera.width:g} x {camera.height:g})")
    return Stage(
        key=key, name=str(d["name"]),
        ground=_surface(d["ground"], f"{path} ground"),
        platforms=tuple(_surface(p, f"{path} platform {i}") for i, p in enumerate(d.get("platforms") or [])),
        blast_zones=_box(d["blast_zones"], f"{path} blast_zones"),
        camera=camera,
        underside=tuple((float(x), float(y)) for x, y in d.get("underside") or []),
        colors={k: tuple(int(c) for c in v) for k, v in (d.get("colors") or {}).items()},
        respawn=_respawn(key),
    )


def _respawn(key: str):
    """The revival platforms' points from the rules' stage table (measured from the replays)."""
    try:
        from worldmodel.stages import STAGE_BY_KEY
    except ImportError:
        return ((0.0, 0.0), (0.0, 0.0))
    s = STAGE_BY_KEY.get(key)
    return ((s.respawn_x[0], s.respawn_y), (s.respawn_x[1], s.respawn_y)) if s else ((0.0, 0.0), (0.0, 0.0))


def available(directory: Path = STAGE_DIR) -> list[str]:
    return sorted(p.stem for p in directory.glob("*.yaml"))
