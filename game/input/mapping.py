"""Physical controls -> the program's ControllerInput ranges.

Sticks are -127..127 (the program rejects -128), triggers 0..255, buttons the SDK's bit
names. Every reader (keyboard, SDL pad, raw Linux pad) ends in these functions, and every
ControllerInput it builds is encoded by onchain.sdk.wire's codec when it is sent.
"""
from __future__ import annotations

import math

from onchain.sdk.wire import BUTTON_BIT, ControllerInput

STICK_MAX = 127
TRIGGER_MAX = 255
# A keyboard diagonal is the corner of a square; Melee's stick gate is round, so a diagonal
# is scaled back onto the circle (127 / sqrt 2 on each axis).
DIAGONAL = 1 / math.sqrt(2)
TILT = 0.5  # the tilt modifier's fraction of full tilt (walk, tilt attacks)


def stick_axis(value: float, dead_zone: float) -> int:
    """A stick axis in -1..1 -> -127..127, zero inside the dead zone and rescaled outside it
    so the first value past the dead zone is small, not a jump."""
    if value != value:  # NaN from a broken driver reads as centred
        return 0
    magnitude = min(abs(value), 1.0)
    if magnitude <= dead_zone:
        return 0
    scaled = (magnitude - dead_zone) / (1.0 - dead_zone)
    return int(math.copysign(round(scaled * STICK_MAX), value))


def trigger_axis(value: float, dead_zone: float) -> int:
    """A trigger in 0..1 -> 0..255 with a dead zone at rest."""
    if value != value or value <= dead_zone:
        return 0
    return min(TRIGGER_MAX, round((min(value, 1.0) - dead_zone) / (1.0 - dead_zone) * TRIGGER_MAX))


def digital_stick(up: bool, down: bool, left: bool, right: bool, tilt: bool = False) -> tuple[int, int]:
    """Four keys -> (x, y), y up positive like Melee, diagonals on the round gate."""
    x, y = int(right) - int(left), int(up) - int(down)
    scale = STICK_MAX * (DIAGONAL if x and y else 1.0) * (TILT if tilt else 1.0)
    return round(x * scale), round(y * scale)


def buttons_mask(pressed: dict[str, bool]) -> int:
    mask = 0
    for name, down in pressed.items():
        if down:
            mask |= BUTTON_BIT[name]
    return mask


def controller(stick=(0, 0), cstick=(0, 0), l=0, r=0, buttons: dict[str, bool] | None = None) -> ControllerInput:
    """A validated ControllerInput; a digital L/R press also reads as a full analog press,
    as it does on a GameCube controller."""
    pressed = dict(buttons or {})
    l = TRIGGER_MAX if pressed.get("L") else l
    r = TRIGGER_MAX if pressed.get("R") else r
    return ControllerInput(stick[0], stick[1], cstick[0], cstick[1], l, r, buttons_mask(pressed)).validate()


def merge(a: ControllerInput, b: ControllerInput) -> ControllerInput:
    """Two sources for one player (keyboard + pad): the larger deflection wins, buttons OR."""
    def pick(u: int, v: int) -> int:
        return u if abs(u) >= abs(v) else v
    return ControllerInput(pick(a.stick_x, b.stick_x), pick(a.stick_y, b.stick_y),
                           pick(a.cstick_x, b.cstick_x), pick(a.cstick_y, b.cstick_y),
                           max(a.l, b.l), max(a.r, b.r), a.buttons | b.buttons)
