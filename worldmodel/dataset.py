"""Slippi replays -> per-frame integer arrays in the on-chain units, cached as .npz.

One game becomes two arrays (T frames, rollback removed, frame ids consecutive):

    state (T, 2, 16) int16   both fighters after frame t, fields = cartridge.FIELDS, units:
                             x, y 1/16 game unit; velocities 1/256 unit/frame; facing -1/+1;
                             action = ACTION_CATEGORIES id; action_frame, hitlag, hitstun frames;
                             percent, shield 1/16; stocks; airborne 0/1; jumps_left
    ctrl  (T, 2, 8)  int16   controller read on frame t, as onchain.sdk.wire.ControllerInput.as_row():
                             stick x, y, c-stick x, y (-127..127), l, r (0..255), buttons, 0

The model steps (state[t-1], ctrl[t]) -> state[t]: Slippi's pre-frame inputs of frame t are
what the game consumed to produce the post-frame state of frame t.

Fields missing in older Slippi versions (velocities before 3.5, hitlag before 3.8, airborne,
jumps and hitstun before 2.0) are 0, and `has_vel` says whether the game recorded velocities
so the trainer can leave them out of the loss.
"""
from __future__ import annotations

import hashlib
import lzma
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import cartridge as C

F = {name: i for i, name in enumerate(C.FIELDS)}
CACHE_VERSION = 1

# Melee action-state ids -> 32 categories. Ids 0..340 are common to every character
# (the game's shared action table); >= 341 are character-specific special moves.
# (first id, last id inclusive, category)
ACTION_CATEGORIES = (
    "dead", "respawn", "idle", "walk", "turn", "dash_run", "jumpsquat", "jump",
    "fall", "special_fall", "tumble", "crouch", "landing", "jab", "tilt_dash_attack", "smash",
    "aerial", "aerial_landing", "damage", "item", "shield", "downed", "tech", "shield_break",
    "grab", "throw", "grabbed_thrown", "dodge", "ledge", "special", "other", "unused",
)
_ACTION_RANGES = (
    (0, 10, 0), (11, 13, 1), (322, 324, 1), (14, 14, 2), (15, 17, 3), (18, 18, 4),
    (19, 23, 5), (24, 24, 6), (25, 28, 7), (29, 34, 8), (35, 37, 9), (38, 38, 10),
    (39, 41, 11), (42, 43, 12), (44, 49, 13), (50, 57, 14), (58, 64, 15), (65, 69, 16),
    (70, 74, 17), (75, 91, 18), (92, 177, 19), (178, 182, 20), (183, 198, 21),
    (199, 204, 22), (205, 211, 23), (212, 218, 24), (219, 222, 25), (223, 232, 26),
    (239, 243, 26), (233, 236, 27), (245, 247, 28), (252, 263, 28),
)
N_ACTIONS = len(ACTION_CATEGORIES)
CAT = {name: i for i, name in enumerate(ACTION_CATEGORIES)}


def _action_table() -> np.ndarray:
    table = np.full(1 << 16, CAT["other"], dtype=np.int16)
    table[341:] = CAT["special"]
    for lo, hi, cat in _ACTION_RANGES:
        table[lo:hi + 1] = cat
    return table


ACTION_TABLE = _action_table()

# Slippi's pre-frame `buttons_physical` bits -> ControllerInput bits (onchain/sdk/wire.py).
PHYSICAL_TO_CONTROLLER = (
    (0x0100, 0), (0x0200, 1), (0x0400, 2), (0x0800, 3),  # A B X Y
    (0x0010, 4), (0x0040, 5), (0x0020, 6), (0x1000, 7),  # Z L R Start
    (0x0008, 8), (0x0004, 9), (0x0001, 10), (0x0002, 11),  # D-up D-down D-left D-right
)


class ReplayError(ValueError):
    """A replay that cannot be turned into training data (corrupt, unsupported, not 1v1)."""


@dataclass
class Game:
    name: str
    state: np.ndarray  # (T, 2, 16) int16
    ctrl: np.ndarray  # (T, 2, 8) int16
    has_vel: bool
    stage: int | None = None  # Slippi stage id
    characters: tuple[int, ...] = ()  # Slippi external character ids, port order

    def __len__(self) -> int:
        return len(self.state)

    def context(self) -> np.ndarray:
        """(3,) int64: stage, character 1, character 2 (Slippi ids), the session context a
        model may be fed (cartridge.CONTEXT_ONEHOT); unknown ones are 0 / 255 (no feature)."""
        chars = (tuple(self.characters) + (255, 255))[:2]
        return np.array([self.stage if self.stage is not None else 0, *chars], dtype=np.int64)


# -- parsing -------------------------------------------------------------------------

def _np(arr, n: int, default: float = 0.0) -> np.ndarray:
    """A peppi (pyarrow) leaf as float64, or `default` when the replay lacks the field."""
    if arr is None:
        return np.full(n, default, dtype=np.float64)
    out = arr.to_numpy(zero_copy_only=False)
    return np.nan_to_num(out.astype(np.float64), nan=default)


def map_buttons(physical: np.ndarray) -> np.ndarray:
    out = np.zeros(physical.shape, dtype=np.int64)
    phys = physical.astype(np.int64)
    for mask, bit in PHYSICAL_TO_CONTROLLER:
        out |= ((phys & mask) != 0).astype(np.int64) << bit
    return out


def stick(v: np.ndarray) -> np.ndarray:
    return np.clip(np.round(v * 127.0), -127, 127)


def _player_arrays(port, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    pre, post = port.leader.pre, port.leader.post
    n = len(keep)

    def g(arr, default=0.0):
        return np.full(n, default) if arr is None else _np(arr, 0, default)[keep]

    st = np.zeros((n, C.N_FIELDS), dtype=np.float64)
    airborne = g(post.airborne)
    st[:, F["x"]] = g(post.position.x) * 16
    st[:, F["y"]] = g(post.position.y) * 16
    vel = post.velocities
    has_vel = vel is not None
    if has_vel:
        vx_air, vx_ground = g(vel.self_x_air), g(vel.self_x_ground)
        st[:, F["self_vx"]] = np.where(airborne > 0, vx_air, vx_ground) * 256
        st[:, F["self_vy"]] = g(vel.self_y) * 256
        st[:, F["kb_vx"]] = g(vel.knockback_x) * 256
        st[:, F["kb_vy"]] = g(vel.knockback_y) * 256
    st[:, F["facing"]] = np.where(g(post.direction, 1.0) < 0, -1, 1)
    action = ACTION_TABLE[g(post.state).astype(np.int64) & 0xFFFF]
    st[:, F["action"]] = action
    st[:, F["action_frame"]] = np.clip(g(post.state_age), 0, 32767)
    st[:, F["percent"]] = g(post.percent) * 16
    st[:, F["stocks"]] = np.clip(g(post.stocks), 0, 4)
    st[:, F["shield"]] = g(post.shield) * 16
    st[:, F["airborne"]] = airborne > 0
    st[:, F["jumps_left"]] = np.clip(g(post.jumps), 0, 8)
    st[:, F["hitlag"]] = np.clip(g(post.hitlag), 0, 255)
    # misc_as holds hitstun frames left only while the fighter is being hit.
    in_hitstun = (action == CAT["damage"]) | (action == CAT["tumble"])
    st[:, F["hitstun"]] = np.where(in_hitstun, np.clip(g(post.misc_as), 0, 255), 0)
    state = np.clip(np.round(st), -32768, 32767).astype(np.int16)

    ctrl = np.zeros((n, 8), dtype=np.int64)
    ctrl[:, 0] = stick(g(pre.joystick.x))
    ctrl[:, 1] = stick(g(pre.joystick.y))
    ctrl[:, 2] = stick(g(pre.cstick.x))
    ctrl[:, 3] = stick(g(pre.cstick.y))
    ctrl[:, 4] = np.clip(np.round(g(pre.triggers_physical.l) * 255), 0, 255)
    ctrl[:, 5] = np.clip(np.round(g(pre.triggers_physical.r) * 255), 0, 255)
    ctrl[:, 6] = map_buttons(g(pre.buttons_physical))
    return state, ctrl.astype(np.int16), has_vel


def last_row_per_frame(ids: np.ndarray) -> np.ndarray:
    """Row indices that keep, for each frame id, the last row written (netplay rollback
    re-simulates frames and writes them again), in frame-id order."""
    _, last_rev = np.unique(ids[::-1], return_index=True)
    return len(ids) - 1 - last_rev  # np.unique sorts by id


def read_replay(path: str | Path) -> Game:
    """Parse one .slp or .slp.xz into a Game; raises ReplayError when it cannot."""
    import peppi_py

    path = Path(path)
    tmp = None
    try:
        if path.suffix == ".xz":
            fd, tmp = tempfile.mkstemp(suffix=".slp")
            with os.fdopen(fd, "wb") as out, lzma.open(path) as src:
                out.write(src.read())
            slp = tmp
        else:
            slp = str(path)
        try:
            game = peppi_py.read_slippi(slp)
        except BaseException as exc:  # peppi raises its own (pyo3) exception types
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            raise ReplayError(f"{path.name}: peppi-py cannot parse it ({exc})") from None
    except (lzma.LZMAError, EOFError) as exc:
        raise ReplayError(f"{path.name}: bad xz stream ({exc})") from None
    finally:
        if tmp:
            os.unlink(tmp)
    ports = game.frames.ports if game.frames is not None else []
    if len(ports) != 2:
        raise ReplayError(f"{path.name}: {len(ports)} occupied ports, need a two-player game")
    ids = game.frames.id.to_numpy()
    keep = last_row_per_frame(ids)
    if len(keep) < 2 or np.any(np.diff(ids[keep]) != 1):
        raise ReplayError(f"{path.name}: frame ids have gaps after removing rollback")
    parts = [_player_arrays(p, keep) for p in ports]
    state = np.stack([p[0] for p in parts], axis=1)
    ctrl = np.stack([p[1] for p in parts], axis=1)
    chars = tuple(int(p.character) for p in game.start.players)
    return Game(path.name, state, ctrl, all(p[2] for p in parts), int(game.start.stage), chars)


# -- folder + cache ----------------------------------------------------------------

def replay_files(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    files = [p for p in folder.rglob("*") if p.name.endswith((".slp", ".slp.xz"))]
    return sorted(files)


def _cache_path(cache_dir: Path, path: Path) -> Path:
    st = path.stat()
    key = hashlib.sha1(f"{CACHE_VERSION}|{path.name}|{st.st_size}|{int(st.st_mtime)}".encode()).hexdigest()
    return cache_dir / f"{key[:20]}.npz"


def load_game(path: Path, cache_dir: Path | None) -> Game:
    if cache_dir is not None:
        cp = _cache_path(cache_dir, path)
        if cp.exists():
            z = np.load(cp)
            if "stage" in z:  # older cache files lack the context: read the replay again
                return Game(path.name, z["state"], z["ctrl"], bool(z["has_vel"]), int(z["stage"]),
                            tuple(int(c) for c in z["characters"]))
    game = read_replay(path)
    if cache_dir is not None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = cp.with_suffix(f".{os.getpid()}.tmp.npz")  # per process: two runs may fill one cache
        np.savez(tmp, state=game.state, ctrl=game.ctrl, has_vel=game.has_vel, stage=game.stage,
                 characters=np.array(game.characters, dtype=np.int64))
        tmp.replace(cp)
    return game


def load_folder(folder: str | Path, cache_dir: str | Path | None = "build/cache/replays",
                limit: int | None = None, progress: bool = False) -> list[Game]:
    """Every readable game in the folder (sorted by name); one warning per bad file."""
    files = replay_files(folder)
    if limit is not None:
        files = files[:limit]
    cache = Path(cache_dir) if cache_dir is not None else None
    it = files
    if progress:
        from tqdm import tqdm
        it = tqdm(files, desc="replays", unit="game")
    games = []
    for p in it:
        try:
            games.append(load_game(p, cache))
        except ReplayError as exc:
            warnings.warn(f"skipping replay: {exc}", stacklevel=2)
    return games


def split_games(games: list[Game], val_fraction: float = 0.05, seed: int = 0):
    """Split by game (never by frame) with a fixed seed: (train, held_out)."""
    order = np.random.default_rng(seed).permutation(len(games))
    n_val = max(1, int(round(len(games) * val_fraction))) if len(games) > 1 else 0
    val = sorted(order[:n_val].tolist())
    train = sorted(order[n_val:].tolist())
    return [games[i] for i in train], [games[i] for i in val]
