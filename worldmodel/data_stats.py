"""What the training data holds: frames per action category, per stage and per character, the
airborne share, and how many frames show a death or a respawn (the rare events a closed-loop model
must still learn).

    python -m worldmodel.data_stats --replays DIR [--json] [--out build/data_stats.json]

Counts are fighter-frames (each frame counts once per fighter) over every readable game in DIR,
rollback removed as the training sees them (worldmodel.dataset).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from . import cartridge as C
from . import dataset as ds
from .stages import CHARACTERS, STAGES

ACTION = C.FIELDS.index("action")
AIRBORNE = C.FIELDS.index("airborne")


def count(games: list[ds.Game]) -> dict:
    actions = np.zeros(ds.N_ACTIONS, dtype=np.int64)
    stages: dict[str, int] = {}
    characters: dict[str, int] = {}
    airborne = fighter_frames = 0
    for g in games:
        act = g.state[:, :, ACTION].astype(np.int64).ravel()
        actions += np.bincount(np.clip(act, 0, ds.N_ACTIONS - 1), minlength=ds.N_ACTIONS)
        airborne += int(np.count_nonzero(g.state[:, :, AIRBORNE]))
        fighter_frames += act.size
        name = next((s.key for s in STAGES if s.slippi_id == g.stage), f"stage {g.stage}")
        stages[name] = stages.get(name, 0) + len(g)
        for c in g.characters[:2]:
            who = CHARACTERS[c] if 0 <= c < len(CHARACTERS) else f"character {c}"
            characters[who] = characters.get(who, 0) + len(g)
    share = actions / max(1, fighter_frames)
    return {
        "games": len(games), "frames": sum(len(g) for g in games), "fighter_frames": fighter_frames,
        "airborne_share": round(airborne / max(1, fighter_frames), 4),
        "actions": {name: {"fighter_frames": int(n), "share": round(float(s), 5)}
                    for name, n, s in zip(ds.ACTION_CATEGORIES, actions, share)},
        "death_frames": int(actions[ds.CAT["dead"]]), "respawn_frames": int(actions[ds.CAT["respawn"]]),
        "stages": dict(sorted(stages.items(), key=lambda kv: -kv[1])),
        "characters": dict(sorted(characters.items(), key=lambda kv: -kv[1])),
    }


def render(stats: dict) -> str:
    lines = [f"{stats['games']} games, {stats['frames']:,} frames ({stats['fighter_frames']:,} fighter-frames), "
             f"airborne {100 * stats['airborne_share']:.1f} %", "",
             "| action category | fighter-frames | share |", "|---|---|---|"]
    for name, row in sorted(stats["actions"].items(), key=lambda kv: -kv[1]["fighter_frames"]):
        lines.append(f"| {name} | {row['fighter_frames']:,} | {100 * row['share']:.3f} % |")
    lines += ["", "| stage | frames |", "|---|---|"]
    lines += [f"| {k} | {v:,} |" for k, v in stats["stages"].items()]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m worldmodel.data_stats", description=__doc__.split("\n\n")[0])
    ap.add_argument("--replays", required=True)
    ap.add_argument("--cache", default="build/cache/replays")
    ap.add_argument("--json", action="store_true", help="print the JSON instead of the tables")
    ap.add_argument("--out", default="build/data_stats.json")
    args = ap.parse_args(argv)
    games = ds.load_folder(args.replays, args.cache)
    if not games:
        raise SystemExit(f"no readable games in {args.replays}")
    stats = count(games)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(stats, indent=1))
    print(json.dumps(stats, indent=1) if args.json else render(stats))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
