"""What a game is played with (stage, characters) and how it stands under the rules.

A session tells the client its `Match` (stage and characters) and, when the program keeps the
rules' state, the rules block (worldmodel/rules.py `st`, RULES_LEN bytes): `decode_rules`
turns it into what the HUD and the results screen show. The Simulator backend (sim) has both;
a chain session has them once SessionState stores them (SessionView attributes `stage_id`,
`characters` and `rules`, read by `from_view`).
"""
from __future__ import annotations

import dataclasses

from worldmodel import rules as R
from worldmodel import stages as WS

FPS = 60

# Drawing style per character: height relative to Fox (the pose skeletons are Fox-sized) and a
# body colour. Sizes are rough standing heights; colours are each character's most familiar one.
STYLE = {
    "captain_falcon": (1.3, (70, 70, 190)), "donkey_kong": (1.5, (140, 86, 40)), "fox": (1.0, (214, 146, 76)),
    "game_and_watch": (1.0, (70, 70, 70)), "kirby": (0.65, (255, 160, 196)), "bowser": (1.6, (70, 150, 60)),
    "link": (1.2, (60, 170, 70)), "luigi": (1.05, (50, 180, 70)), "mario": (0.95, (226, 50, 50)),
    "marth": (1.25, (70, 90, 200)), "mewtwo": (1.35, (200, 184, 224)), "ness": (0.85, (230, 70, 70)),
    "peach": (1.2, (255, 176, 210)), "pikachu": (0.65, (250, 220, 50)), "ice_climbers": (0.8, (110, 110, 240)),
    "jigglypuff": (0.7, (255, 186, 214)), "samus": (1.35, (236, 130, 40)), "yoshi": (1.1, (120, 216, 90)),
    "zelda": (1.25, (236, 170, 210)), "sheik": (1.15, (100, 100, 160)), "falco": (1.05, (80, 120, 226)),
    "young_link": (0.95, (120, 206, 90)), "dr_mario": (0.95, (240, 240, 240)), "roy": (1.2, (190, 50, 50)),
    "pichu": (0.55, (250, 232, 130)), "ganondorf": (1.4, (110, 60, 110)),
}


@dataclasses.dataclass(frozen=True)
class Match:
    stage: str  # worldmodel.stages key (= assets/stages/<key>.yaml)
    characters: tuple[str, str]

    @classmethod
    def of(cls, stage, characters) -> "Match":
        """From names or Slippi ids; raises ValueError for an unknown one."""
        names = tuple(WS.CHARACTERS[WS.character_id(c)] for c in characters)
        return cls(WS.stage(stage).key, (names[0], names[1]))

    def label(self, player: int) -> str:
        return self.characters[player].replace("_", " ").title()


def from_view(view) -> Match | None:
    """A SessionView's match, when the account holds one (stage_id and characters)."""
    sid, chars = getattr(view, "stage_id", None), getattr(view, "characters", None)
    if sid is None or not chars:
        return None
    try:
        return Match.of(int(sid), tuple(int(c) for c in chars))
    except ValueError:
        return None


@dataclasses.dataclass(frozen=True)
class RulesView:
    ended: bool
    winner: int | None  # 0 or 1; None on a tie or while playing
    end_frame: int | None
    phases: tuple[str, str]  # worldmodel.rules.PHASE_NAMES
    stocks: tuple[int, int]
    interventions: int


def decode_rules(block) -> RulesView | None:
    """The rules block (bytes) -> RulesView; None when absent or not started."""
    if block is None or len(block) < R.RULES_LEN or block[0] != R.RULES_VERSION:
        return None
    st = bytes(block[:R.RULES_LEN])
    ended = st[1] != 0
    phases = tuple(R.PHASE_NAMES[min(R.phase(st, p), len(R.PHASE_NAMES) - 1)] for p in (0, 1))
    return RulesView(ended, st[2] if ended and st[2] < 2 else None, R.end_frame(st),
                     (phases[0], phases[1]), (R.stocks(st, 0), R.stocks(st, 1)), R.interventions(st))


def timer_text(frame: int) -> str:
    """What is left of the 8:00 game clock after `frame` frames (m:ss, rounded up like Melee)."""
    left = max(0, R.TIME_LIMIT_FRAMES - frame)
    secs = -(-left // FPS)
    return f"{secs // 60}:{secs % 60:02d}"
