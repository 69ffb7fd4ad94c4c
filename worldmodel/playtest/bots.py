"""Controller inputs the scripted scenarios are made of (onchain.sdk.wire.ControllerInput rows:
stick x, y, c-stick x, y in -127..127 with y up; L, R 0..255; buttons; pad).

Melee's meaning of each: a full stick tilt held from neutral is a dash, then a run (a smash
of the stick: past ~0.8 in a frame or two); X (or Y) is jump: held through jumpsquat (3-6
frames) it is a full hop, released within 2 frames a short hop; the stick pulled fully down
in one frame is a tap: on a platform it drops through, in the air after the apex it is a
fast-fall; the c-stick tilted fully is a smash attack in that direction (no charge); up with
B is the up special (every character's recovery).
"""
from __future__ import annotations

from .. import rules as R
from .geom import xy

# onchain.sdk.wire.BUTTONS order (copied to keep the chain SDK out of the playtest;
# tests/worldmodel/test_playtest.py checks it against onchain.sdk.wire.BUTTON_BIT)
BUTTON_BIT = {name: 1 << i for i, name in enumerate(
    ("A", "B", "X", "Y", "Z", "L", "R", "START", "D_UP", "D_DOWN", "D_LEFT", "D_RIGHT"))}
FULL = 127


def pad(sx=0, sy=0, cx=0, cy=0, buttons=()) -> list[int]:
    b = 0
    for name in buttons:
        b |= BUTTON_BIT[name]
    return [sx, sy, cx, cy, 0, 0, b, 0]


NEUTRAL = pad()
SMASH_RANGE = 14.0  # units: a forward smash from closer than this reaches (Fox's ~13-15)
SMASH_HOLD = 3  # frames the c-stick is held
SMASH_COOLDOWN = 45  # frames left to the move before the next input (Fox's f-smash: 39)
EDGE_MARGIN = 10.0  # the bot does not chase past edge - this
PLATFORM_LEAVE = 10.0  # units: an opponent this far below makes the bot leave its platform
WALK_RANGE, WALK_TILT = 35.0, 50  # closer than this it walks (half tilt), so it is not running when it smashes


def _sign(v: float) -> int:
    return 1 if v >= 0 else -1


def platform_under(st, x: float, y: float):
    """The platform (stages.Platform) a fighter at x, y stands on, or None (the main stage, the air)."""
    for plat in st.platforms:
        if plat.left <= x <= plat.right and abs(y - plat.y) <= 1.0:
            return plat
    return None


def fighter(s, ph, p: int, t: int, mem: dict, st, attack: bool = True) -> list[int]:
    """A simple fighter for player p: recover to the stage when off it, run off a platform
    when the opponent is below it, else walk at the opponent and forward-smash it when in
    range. s: (2, 16) state after the rules."""
    if ph[p] not in (R.PLAY, R.INVULN):
        return NEUTRAL  # on the revival platform: wait (it times out)
    x, y = xy(s[p])
    ox, oy = xy(s[1 - p])
    if abs(x) > st.edge or y < -4:  # off the stage: drift back, double jump, then up-B
        toward = -_sign(x) * FULL
        if y < -20 and t % 60 < 3:
            return pad(0, FULL, buttons=("B",))
        return pad(toward, 0, buttons=("X",) if t % 30 < 2 else ())
    k = mem.setdefault(p, {"smash": 0, "cool": 0})
    if k["smash"] > 0:
        k["smash"] -= 1
        return pad(cx=_sign(ox - x) * FULL)
    if k["cool"] > 0:
        k["cool"] -= 1
        return NEUTRAL
    alive = ph[1 - p] in (R.PLAY, R.INVULN)
    lim = st.edge - EDGE_MARGIN
    target = min(max(ox, -lim), lim) if alive else 0.0
    grounded = s[p][R.AIRBORNE] == 0
    plat = platform_under(st, x, y) if grounded else None
    if alive and plat is not None and oy < y - PLATFORM_LEAVE:
        # the opponent is under the platform: run off its nearer end (without this two bots
        # stand one above the other for the rest of the game, neither in range)
        return pad(FULL if x >= (plat.left + plat.right) / 2 else -FULL, 0)
    if attack and alive and grounded and abs(ox - x) <= SMASH_RANGE and abs(oy - y) < 10:
        k["smash"], k["cool"] = SMASH_HOLD - 1, SMASH_COOLDOWN
        return pad(cx=_sign(ox - x) * FULL)
    if abs(target - x) > 3:
        return pad(_sign(target - x) * (FULL if abs(target - x) > WALK_RANGE else WALK_TILT), 0)
    return NEUTRAL
