"""Scripted inputs: a function frame -> (player 1, player 2) controller rows.

A row is the integer reference's controller format (worldmodel.intref ctrl[p]: stick x, y,
c-stick x, y, L, R, buttons, 0), the program's ControllerInput fields in order, so the model's
own tools (worldmodel.sim, worldmodel.drift) run the scripts without the chain SDK or the game;
the game plays the same scripts as ControllerInputs (game/scripts.py).

`demo` walks the fighters at each other and cycles through jumps, attacks, shields and
specials so every pose family shows up; `idle` holds neutral; `random` mashes with a fixed
seed; `ko` runs player 1 off the stage again and again. All are deterministic.
"""
from __future__ import annotations

import random
from typing import Callable

from .playtest.bots import BUTTON_BIT

Row = tuple[int, int, int, int, int, int, int, int]
Script = Callable[[int], tuple[Row, Row]]
TRIGGER_MAX = 255


def controller(sx: int = 0, sy: int = 0, buttons=()) -> Row:
    """A stick and buttons; a digital L/R press also reads as a full analog press, as it does
    on a GameCube controller (game/input/mapping.controller)."""
    mask = 0
    for name in buttons:
        mask |= BUTTON_BIT[name]
    l = TRIGGER_MAX if "L" in buttons else 0
    r = TRIGGER_MAX if "R" in buttons else 0
    return (sx, sy, 0, 0, l, r, mask, 0)


NEUTRAL = controller()

# (frames, stick x toward the opponent, stick y, buttons) phases of the demo, repeated.
DEMO_PHASES = (
    (40, 127, 0, ()),  # run in
    (10, 0, 0, ("A",)),  # jab
    (20, 0, 0, ()),
    (6, 0, 0, ("X",)),  # jump
    (24, 60, 0, ()),  # drift
    (8, 0, 0, ("A",)),  # aerial
    (20, 0, 0, ()),
    (30, 0, 0, ("L",)),  # shield
    (10, -127, 0, ("L",)),  # roll
    (20, 0, -127, ()),  # crouch
    (10, 0, 0, ("B",)),  # special
    (30, -127, 0, ()),  # run away
    (12, 0, 0, ("Z",)),  # grab
)
DEMO_LENGTH = sum(p[0] for p in DEMO_PHASES)


def _demo_for(player: int, frame: int) -> Row:
    toward = 1 if player == 0 else -1
    t = (frame + (0 if player == 0 else DEMO_LENGTH // 3)) % DEMO_LENGTH
    for length, sx, sy, buttons in DEMO_PHASES:
        if t < length:
            return controller(sx * toward, sy, buttons)
        t -= length
    return NEUTRAL


def demo(frame: int) -> tuple[Row, Row]:
    return _demo_for(0, frame), _demo_for(1, frame)


def idle(frame: int) -> tuple[Row, Row]:
    return NEUTRAL, NEUTRAL


def make_random(seed: int = 0) -> Script:
    rng = random.Random(seed)
    cache: dict[int, tuple[Row, Row]] = {}

    def one() -> Row:
        return (rng.randint(-127, 127), rng.randint(-127, 127), rng.randint(-127, 127),
                rng.randint(-127, 127), rng.randint(0, 255), rng.randint(0, 255),
                rng.randint(0, (1 << 12) - 1), 0)

    def script(frame: int) -> tuple[Row, Row]:
        while len(cache) <= frame:
            cache[len(cache)] = (one(), one())
        return cache[frame]
    return script


KO_PERIOD, KO_RUN = 1200, 300


def ko(frame: int) -> tuple[Row, Row]:
    """Every 20 s player 1 runs right for 5 s (off the stage, into the blast zone), jumping now
    and then, then stands still; player 2 stands still. With the rules layer player 1 is KO'd
    about once a period and respawns, so a 3,600-frame run shows KOs and both fighters."""
    t = frame % KO_PERIOD
    if t >= KO_RUN:
        return NEUTRAL, NEUTRAL
    jump = t % 90 < 4
    return controller(127, 0, ("X",) if jump else ()), NEUTRAL


SCRIPTS: dict[str, Callable[[], Script]] = {"demo": lambda: demo, "idle": lambda: idle, "random": make_random,
                                            "ko": lambda: ko}


def get(name: str) -> Script:
    if name not in SCRIPTS:
        raise ValueError(f"unknown script {name!r} (known: {', '.join(SCRIPTS)})")
    return SCRIPTS[name]()
