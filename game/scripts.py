"""Scripted inputs for headless runs: a function frame -> (player 1, player 2) controllers.

`demo` walks the fighters at each other and cycles through jumps, attacks, shields and
specials so every pose family shows up; `idle` holds neutral; `random` mashes with a fixed
seed; `ko` runs player 1 off the stage again and again. All are deterministic.
"""
from __future__ import annotations

import random
from typing import Callable

from onchain.backend import NEUTRAL, ControllerInput

from .input import mapping

Script = Callable[[int], tuple[ControllerInput, ControllerInput]]

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


def _demo_for(player: int, frame: int) -> ControllerInput:
    toward = 1 if player == 0 else -1
    t = (frame + (0 if player == 0 else DEMO_LENGTH // 3)) % DEMO_LENGTH
    for length, sx, sy, buttons in DEMO_PHASES:
        if t < length:
            return mapping.controller((sx * toward, sy), buttons={b: True for b in buttons})
        t -= length
    return NEUTRAL


def demo(frame: int) -> tuple[ControllerInput, ControllerInput]:
    return _demo_for(0, frame), _demo_for(1, frame)


def idle(frame: int) -> tuple[ControllerInput, ControllerInput]:
    return NEUTRAL, NEUTRAL


def make_random(seed: int = 0) -> Script:
    rng = random.Random(seed)
    cache: dict[int, tuple[ControllerInput, ControllerInput]] = {}

    def one() -> ControllerInput:
        return ControllerInput(rng.randint(-127, 127), rng.randint(-127, 127), rng.randint(-127, 127),
                               rng.randint(-127, 127), rng.randint(0, 255), rng.randint(0, 255),
                               rng.randint(0, (1 << 12) - 1))

    def script(frame: int) -> tuple[ControllerInput, ControllerInput]:
        while len(cache) <= frame:
            cache[len(cache)] = (one(), one())
        return cache[frame]
    return script


KO_PERIOD, KO_RUN = 1200, 300


def ko(frame: int) -> tuple[ControllerInput, ControllerInput]:
    """Every 20 s player 1 runs right for 5 s (off the stage, into the blast zone), jumping now
    and then, then stands still; player 2 stands still. With the rules layer player 1 is KO'd
    about once a period and respawns, so a 3,600-frame run shows KOs and both fighters."""
    t = frame % KO_PERIOD
    if t >= KO_RUN:
        return NEUTRAL, NEUTRAL
    jump = t % 90 < 4
    return mapping.controller((127, 0), buttons={"X": True} if jump else {}), NEUTRAL


SCRIPTS: dict[str, Callable[[], Script]] = {"demo": lambda: demo, "idle": lambda: idle, "random": make_random,
                                            "ko": lambda: ko}


def get(name: str) -> Script:
    if name not in SCRIPTS:
        raise ValueError(f"unknown script {name!r} (known: {', '.join(SCRIPTS)})")
    return SCRIPTS[name]()
