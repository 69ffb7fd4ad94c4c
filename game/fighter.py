"""A fighter's 16 int16 state fields in display units, safe for any bytes.

Units follow worldmodel.cartridge (near DEFAULT_FIELDS): x, y in 1/16 game unit; velocities
in 1/256 unit per frame; percent and shield in 1/16; facing -1/+1; action an action-category
id. A model (or a malformed account) can produce any int16 in any field, so every value is
read defensively: nothing here raises, odd values are clamped for display only.
"""
from __future__ import annotations

import dataclasses

from worldmodel.cartridge import FIELDS

POS_SCALE = 16.0
VEL_SCALE = 256.0
PERCENT_SCALE = 16.0
SHIELD_SCALE = 16.0
SHIELD_FULL = 60.0  # Melee's full shield health

# The action categories, in id order, come from the model's dataset module when it defines
# them; otherwise this list (the game only uses the names to choose a pose).
FALLBACK_CATEGORIES = (
    "dead", "respawn", "idle", "walk", "turn", "dash_run", "jumpsquat", "jump",
    "fall", "special_fall", "tumble", "crouch", "landing", "jab", "tilt_dash_attack", "smash",
    "aerial", "aerial_landing", "damage", "item", "shield", "downed", "tech", "shield_break",
    "grab", "throw", "grabbed_thrown", "dodge", "ledge", "special", "other", "unused",
)


def action_categories() -> tuple[str, ...]:
    try:
        from worldmodel import dataset  # the model helper's reader, when present
        names = getattr(dataset, "ACTION_CATEGORIES", None)
        if names:
            return tuple(str(n) for n in names)
    except Exception:  # absent or broken: the fallback names still draw something sensible
        pass
    return FALLBACK_CATEGORIES


CATEGORIES = action_categories()


@dataclasses.dataclass(frozen=True)
class Fighter:
    x: float
    y: float
    vx: float
    vy: float
    kb_vx: float
    kb_vy: float
    facing: int
    action: int
    action_name: str
    action_frame: int
    percent: float
    stocks: int
    shield: float
    airborne: bool
    jumps_left: int
    hitlag: int
    hitstun: int

    @property
    def dead(self) -> bool:
        return self.stocks <= 0

    @property
    def percent_shown(self) -> int:
        return max(0, min(999, int(self.percent)))

    @property
    def stocks_shown(self) -> int:
        return max(0, min(9, self.stocks))


def decode(raw) -> Fighter:
    """16 ints (a SessionView fighter row) -> Fighter."""
    values = [int(v) for v in list(raw)[:len(FIELDS)]]
    values += [0] * (len(FIELDS) - len(values))
    f = dict(zip(FIELDS, values))
    action = f["action"]
    name = CATEGORIES[action] if 0 <= action < len(CATEGORIES) else f"action {action}"
    return Fighter(
        x=f["x"] / POS_SCALE, y=f["y"] / POS_SCALE,
        vx=f["self_vx"] / VEL_SCALE, vy=f["self_vy"] / VEL_SCALE,
        kb_vx=f["kb_vx"] / VEL_SCALE, kb_vy=f["kb_vy"] / VEL_SCALE,
        facing=-1 if f["facing"] < 0 else 1,
        action=action, action_name=name, action_frame=f["action_frame"],
        percent=f["percent"] / PERCENT_SCALE, stocks=f["stocks"],
        shield=max(0.0, f["shield"] / SHIELD_SCALE), airborne=f["airborne"] != 0,
        jumps_left=f["jumps_left"], hitlag=f["hitlag"], hitstun=f["hitstun"],
    )


# Pose family per category name: the dataset's names exactly, then keywords for any other
# category list a model may bring (the first keyword that matches wins).
POSE_OF = {
    "dead": "dead", "respawn": "stand", "idle": "stand", "walk": "walk", "turn": "walk",
    "dash_run": "run", "jumpsquat": "crouch", "jump": "jump", "fall": "fall", "special_fall": "hurt",
    "tumble": "hurt", "crouch": "crouch", "landing": "land", "jab": "attack", "tilt_dash_attack": "attack",
    "smash": "smash", "aerial": "aerial", "aerial_landing": "land", "damage": "hurt", "item": "special",
    "shield": "shield", "downed": "down", "tech": "dodge", "shield_break": "hurt", "grab": "grab",
    "throw": "grab", "grabbed_thrown": "hurt", "dodge": "dodge", "ledge": "ledge", "special": "special",
}
POSE_KEYWORDS = (
    ("hurt", ("hitstun", "damage", "tumble", "hurt", "helpless", "thrown", "break")),
    ("dead", ("dead", "death")),
    ("shield", ("shield", "guard")),
    ("dodge", ("roll", "dodge", "escape", "tech")),
    ("down", ("knockdown", "down", "lying", "getup")),
    ("ledge", ("ledge", "cliff")),
    ("land", ("land",)),
    ("grab", ("grab", "throw", "catch")),
    ("aerial", ("aerial", "air_attack")),
    ("smash", ("smash",)),
    ("special", ("special",)),
    ("attack", ("attack", "jab", "tilt")),
    ("crouch", ("crouch", "squat")),
    ("run", ("run", "dash")),
    ("walk", ("walk", "turn", "teeter")),
    ("jump", ("jump",)),
    ("fall", ("fall", "air")),
    ("stand", ("stand", "idle", "wait", "entry", "respawn")),
)


def pose(f: Fighter) -> str:
    name = f.action_name.lower()
    if name in POSE_OF:
        return POSE_OF[name]
    for family, words in POSE_KEYWORDS:
        if any(w in name for w in words):
            return family
    return "fall" if f.airborne else "stand"
