"""Melee's legal stages and characters: names, Slippi ids and the geometry the rules use.

Geometry is in Melee game units, y up, origin at the centre of the main platform's top.
Sources:
- blast zones: Magus420's measurements as tabulated in libmelee `melee/stages.py` (BLASTZONES,
  https://smashboards.com/threads/official-ask-anyone-frame-things-thread.313889/page-20#post-18643652);
- edge (last standing x), ledge (ledge-hang x), platforms: libmelee `melee/stages.py`
  (EDGE_GROUND_POSITION, EDGE_POSITION, top/left/right_platform_position);
- Fountain of Dreams' side platforms move (libmelee leaves them TODO): their x range and
  resting height here were measured from the replays (`python -m worldmodel.measure_rules`);
- respawn point and revival-platform timings: measured from the replays (same command; see
  RESPAWN and worldmodel/rules.py).
Pokémon Stadium's transformations, Randall and the moving platforms are not modelled: the rules
see the static layout.

`rules_table(stage)` turns a stage into the integer row the rules layer uses (x, y in 1/16
unit, the units of the state fields; worldmodel/cartridge.py DEFAULT_FIELDS).
"""
from __future__ import annotations

import dataclasses

POS_SCALE = 16  # state fields x, y are in 1/16 game unit


@dataclasses.dataclass(frozen=True)
class Platform:
    y: float
    left: float
    right: float


@dataclasses.dataclass(frozen=True)
class StageData:
    key: str  # also the name of assets/stages/<key>.yaml
    name: str
    slippi_id: int
    blast: tuple[float, float, float, float]  # left, right, top, bottom
    edge: float  # last standing x (the main platform spans -edge..edge at y 0)
    ledge: float  # x when hanging from the ledge
    platforms: tuple[Platform, ...]
    respawn_x: tuple[float, float]  # revival platform x of player 1 (port 1), player 2 (port 2)
    respawn_y: float  # height of the fighter waiting on the platform
    descent_top: float  # height where the platform's descent starts


CHARACTERS = (  # Slippi external character ids (the order of the character-select screen data)
    "captain_falcon", "donkey_kong", "fox", "game_and_watch", "kirby", "bowser", "link", "luigi",
    "mario", "marth", "mewtwo", "ness", "peach", "pikachu", "ice_climbers", "jigglypuff", "samus",
    "yoshi", "zelda", "sheik", "falco", "young_link", "dr_mario", "roy", "pichu", "ganondorf",
)
CHARACTER_IDS = {name: i for i, name in enumerate(CHARACTERS)}


# Respawn: the fighter's position while it waits on the revival platform (action state 0xD,
# ON_HALO_WAIT) and where its descent (0xC) starts, from all the replays of each stage
# (`python -m worldmodel.measure_rules`, 2,471 respawns in 504 games). Heights are one value per stage.
# x depends on the port on Final Destination and Battlefield (port 1 / port 2 below; ports 3
# and 4 use 50 / -15 and 40 / -12) and is 0 elsewhere (a few respawns at 16 or -5 aside).
STAGES = (
    StageData("final_destination", "Final Destination", 32, (-246.0, 246.0, 188.0, -140.0),
              85.5657, 88.4735, (), (16.0, -50.0), 45.0, 112.85),
    StageData("battlefield", "Battlefield", 31, (-224.0, 224.0, 200.0, -108.8), 68.4, 71.3079,
              (Platform(54.4001, -18.8, 18.8), Platform(27.2001, -57.6, -20.0), Platform(27.2001, 20.0, 57.6)),
              (12.8, -40.0), 80.0, 135.067),
    StageData("dream_land", "Dream Land", 28, (-255.0, 255.0, 250.0, -123.0), 77.2713, 80.1792,
              (Platform(51.4254, -19.0181, 19.0171), Platform(30.1422, -61.3929, -31.7254),
               Platform(30.2426, 31.7036, 63.0745)),
              (0.0, 0.0), 84.2215, 188.237),
    StageData("fountain_of_dreams", "Fountain of Dreams", 2, (-198.75, 198.75, 202.5, -146.25), 63.3475,
              66.2554, (Platform(42.7501, -14.25, 14.25),), (0.0, 0.0), 63.75, 111.6875),
    StageData("pokemon_stadium", "Pokémon Stadium", 3, (-230.0, 230.0, 180.0, -111.0), 87.75, 90.6579,
              (Platform(25.0001, -55.0, -25.0), Platform(25.0001, 25.0, 55.0)),
              (0.0, 0.0), 60.0, 119.0),
    StageData("yoshis_story", "Yoshi's Story", 8, (-175.7, 173.6, 168.0, -91.0), 56.0, 58.9078,
              (Platform(42.0001, -15.75, 15.75), Platform(23.4501, -59.5, -28.0), Platform(23.4501, 28.0, 59.5)),
              (0.0, 0.0), 52.5, 117.2033),
)

# Fountain of Dreams' side platforms move up and down (not in the rules table); grounded
# fighters in the replays stand on them between x 21 and 49.5 (each side).
FOD_SIDE_PLATFORM_X = (21.0, 49.5)

STAGE_BY_KEY = {s.key: s for s in STAGES}
STAGE_BY_ID = {s.slippi_id: s for s in STAGES}


def _norm(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name.lower().replace("'", "").replace("é", "e")).strip("_")


def stage(name_or_id) -> StageData:
    """A stage by key ("final_destination"), display name, or Slippi id (32 or "32")."""
    if isinstance(name_or_id, StageData):
        return name_or_id
    if isinstance(name_or_id, int) or str(name_or_id).isdigit():
        sid = int(name_or_id)
        if sid in STAGE_BY_ID:
            return STAGE_BY_ID[sid]
        raise ValueError(f"no stage with Slippi id {sid} (known: {sorted(STAGE_BY_ID)})")
    key = _norm(str(name_or_id))
    aliases = {"fd": "final_destination", "bf": "battlefield", "dl": "dream_land", "dreamland": "dream_land",
               "dream_land_n64": "dream_land", "fod": "fountain_of_dreams", "ps": "pokemon_stadium",
               "stadium": "pokemon_stadium", "ys": "yoshis_story", "yoshi_s_story": "yoshis_story"}
    key = aliases.get(key, key)
    if key in STAGE_BY_KEY:
        return STAGE_BY_KEY[key]
    raise ValueError(f"no stage {name_or_id!r} (known: {', '.join(STAGE_BY_KEY)})")


def character_id(name_or_id) -> int:
    """A character's Slippi external id from its name ("fox", "Captain Falcon") or id."""
    if isinstance(name_or_id, int) or str(name_or_id).isdigit():
        cid = int(name_or_id)
        if 0 <= cid < len(CHARACTERS):
            return cid
        raise ValueError(f"no character with Slippi id {cid} (0..{len(CHARACTERS) - 1})")
    key = _norm(str(name_or_id))
    key = {"falcon": "captain_falcon", "dk": "donkey_kong", "gnw": "game_and_watch", "puff": "jigglypuff",
           "ics": "ice_climbers", "doc": "dr_mario", "ganon": "ganondorf", "game___watch": "game_and_watch",
           "mr_game___watch": "game_and_watch", "mr_game_and_watch": "game_and_watch"}.get(key, key)
    if key in CHARACTER_IDS:
        return CHARACTER_IDS[key]
    raise ValueError(f"no character {name_or_id!r} (known: {', '.join(CHARACTERS)})")


def units(v: float) -> int:
    """Game units -> the i16 position units of the state fields (nearest)."""
    return int(round(v * POS_SCALE))


MAX_PLATFORMS = 3


def rules_table(st: StageData) -> tuple[int, ...]:
    """The stage's integer row for the rules layer (rules.rs `Stage`, same order):
    id, blast left, right, top, bottom, edge, ledge, respawn x p1, p2, respawn y, descent top,
    platform count, then MAX_PLATFORMS x (y, left, right) (unused rows 0)."""
    left, right, top, bottom = st.blast
    plats = []
    for p in st.platforms:
        plats += [units(p.y), units(p.left), units(p.right)]
    plats += [0] * (3 * MAX_PLATFORMS - len(plats))
    return (st.slippi_id, units(left), units(right), units(top), units(bottom), units(st.edge), units(st.ledge),
            units(st.respawn_x[0]), units(st.respawn_x[1]), units(st.respawn_y), units(st.descent_top),
            len(st.platforms), *plats)
