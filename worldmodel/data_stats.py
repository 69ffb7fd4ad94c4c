"""What the training data holds: frames per action category, per stage and per character, the
airborne share, and how many frames show a death or a respawn (the rare events a closed-loop model
must still learn), how predictable a hit is from what the model sees (`hit_odds`), how far x
moves in a frame (`x_steps`: what a dead band on x rounds away) and how a slow turn goes
(`slow_turns`: when the facing flips; and how often any facing flips), what the rules' TURN
clamp assumes of a turn (`turn_clock`) and how often a half tilt against the facing turns a
fighter facing its opponent and one facing away (`tilt_turns`).

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
from . import rules as R
from .stages import CHARACTERS, STAGES

ACTION = C.FIELDS.index("action")
AIRBORNE = C.FIELDS.index("airborne")
X, Y, ACTION_FRAME, PERCENT, FACING = (C.FIELDS.index(n) for n in ("x", "y", "action_frame", "percent", "facing"))
SLOW_TURN = 9  # frames: a turn action this long is a walk's turn (a dash-back turns in 1-2)
MIN_CELL = 10  # frames a cell needs before its odds count


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


def hit_odds(games: list[ds.Game]) -> dict:
    """How often the next frame is a hit, given the frame the model sees. Every fighter-frame
    (attacker p, defender q) falls in a cell of: p's character, action category and action frame
    (to 63), q's action category, |x_p - x_q| in 4-unit bins (to 60) and y_q - y_p in 8-unit bins
    (-32..32). The hit rate of a cell is what a model that knows only those sees; a deterministic
    decode (argmax, or the median that an L1 loss converges to) predicts a hit only where it is
    over 1/2. Cells are fine and counts small, so the rates lean high: it bounds from above what
    such a model can get. (The model's recurrent state knows more than one frame: the exact move
    from its first frames; this is the odds without that.)"""
    keys, hit = [], []
    for g in games:
        st = g.state.astype(np.int64)
        if len(st) < 2:
            continue
        for p in range(2):
            q = 1 - p
            a, d = st[:-1, p], st[:-1, q]
            char = g.characters[p] if 0 <= g.characters[p] < 26 else 26
            dx = np.minimum(np.abs(a[:, X] - d[:, X]) >> 6, 15)
            dy = np.clip((d[:, Y] - a[:, Y]) >> 7, -4, 3) + 4
            k = (((((char * 32 + np.clip(a[:, ACTION], 0, 31)) * 64 + np.clip(a[:, ACTION_FRAME], 0, 63)) * 32
                  + np.clip(d[:, ACTION], 0, 31)) * 16 + dx) * 8 + dy)
            keys.append(k)
            hit.append(np.diff(st[:, q, PERCENT]) >= R.HIT_PERCENT)
    keys, hit = np.concatenate(keys), np.concatenate(hit)
    cells, inv, n = np.unique(keys, return_inverse=True, return_counts=True)
    h = np.bincount(inv, weights=hit, minlength=len(cells))
    rate = h / n
    ok = n >= MIN_CELL
    hits = int(hit.sum())
    over = lambda r: int(h[ok & (rate > r)].sum())  # noqa: E731 (hits in cells above rate r)
    return {"fighter_frames": int(len(hit)), "hits": hits, "hit_share": round(hits / max(1, len(hit)), 5),
            "cells": int(len(cells)), "cells_with_min_frames": int(ok.sum()), "min_frames": MIN_CELL,
            "hits_in_counted_cells": int(h[ok].sum()),
            "hits_where_rate_over_half": over(0.5), "hits_where_rate_over_quarter": over(0.25),
            "max_rate": round(float(rate[ok].max()), 4) if ok.any() else 0.0}


def x_steps(games: list[ds.Game]) -> dict:
    """Share of grounded and of airborne fighter-frames whose x moved by exactly 0, 1, 2, 3
    state units (1/16 unit) since the last frame, and by 4 or more: a dead band of b on the
    model's x output (quantize --dead-band x=b) turns the moves of b units or less into none."""
    counts = {"grounded": np.zeros(5, np.int64), "airborne": np.zeros(5, np.int64)}
    for g in games:
        st = g.state.astype(np.int64)
        if len(st) < 2:
            continue
        dx = np.minimum(np.abs(np.diff(st[:, :, X], axis=0)), 4)
        air = st[1:, :, AIRBORNE] != 0
        counts["grounded"] += np.bincount(dx[~air], minlength=5)
        counts["airborne"] += np.bincount(dx[air], minlength=5)
    return {k: {"fighter_frames": int(c.sum()),
                "share": {str(i) if i < 4 else "4+": round(float(c[i] / max(1, c.sum())), 5) for i in range(5)}}
            for k, c in counts.items()}


def turn_runs(g: ds.Game, p: int):
    """Player p's runs of the turn action SLOW_TURN frames or longer (a turn at a walk's tilt),
    not at the game's first frame: yields (first frame, end frame, the run's frame on which the
    facing flips: 0 = the first, -1 = never)."""
    turn = (g.state[:, p, ACTION] == ds.CAT["turn"]).astype(np.int8)
    edges = np.diff(np.concatenate([[0], turn, [0]]))
    for s, e in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
        if e - s < SLOW_TURN or s == 0:
            continue
        flipped = np.flatnonzero(g.state[s:e, p, FACING] != g.state[s - 1, p, FACING])
        yield int(s), int(e), int(flipped[0]) if len(flipped) else -1


def slow_turns(games: list[ds.Game]) -> dict:
    """The slow turns (turn_runs) of every game: how many, the frame of the run on which the
    facing flips (0 = the run's first frame, -1 = never), and the runs' lengths."""
    flips: dict[int, int] = {}
    lengths: dict[int, int] = {}
    n = all_flips = frames = 0
    for g in games:
        face = g.state[:, :, FACING]
        all_flips += int(np.count_nonzero(face[1:] != face[:-1]))
        frames += face[1:].size
        for p in range(2):
            for s, e, k in turn_runs(g, p):
                n += 1
                lengths[e - s] = lengths.get(e - s, 0) + 1
                flips[k] = flips.get(k, 0) + 1
    return {"runs": n, "min_frames": SLOW_TURN, "flip_frame": dict(sorted(flips.items())),
            "length": dict(sorted(lengths.items())),
            "facing_flips": all_flips, "facing_flip_share": round(all_flips / max(1, frames), 5)}


def turn_clock(games: list[ds.Game]) -> dict:
    """What the rules' TURN clamp assumes, measured: in a turn (the action category "turn"; a
    new one when the category starts or the counter goes back to 0 or 1), how often the counter
    steps by exactly one from frame to frame, and of the turns that reach frame rules.TURN_FLIP,
    how many face the other way by then."""
    steps = by_one = reached = flipped = 0
    turn = ds.CAT["turn"]
    for g in games:
        for p in range(2):
            a = g.state[:, p, R.ACTION]
            af = g.state[:, p, ACTION_FRAME].astype(np.int64)
            face = g.state[:, p, FACING]
            before, counted = None, True
            for t in range(1, len(a)):
                if a[t] != turn:
                    before = None
                    continue
                if a[t - 1] != turn or (af[t] in (0, 1) and af[t - 1] > 1):
                    before, counted = face[t - 1], False
                else:
                    steps += 1
                    by_one += int(af[t] - af[t - 1] == 1)
                if not counted and af[t] >= R.TURN_FLIP:
                    counted = True
                    reached += 1
                    flipped += int(face[t] != before)
    return {"steps": steps, "steps_by_one": by_one, "by_one_share": round(by_one / max(1, steps), 5),
            "flip_frame": R.TURN_FLIP, "turns_reaching_flip_frame": reached, "flipped_by_then": flipped}


TILT = (30, 60)  # a half tilt of the stick x (of 127), the playtest's walk being 50
TILT_TURN_FRAMES = 12  # a slow turn flips the facing by its frame 8


def tilt_turns(games: list[ds.Game]) -> dict:
    """How a fighter standing or walking answers the stick tilted half away from its facing (the
    frame the stick enters TILT against the facing, grounded, no hitstun): how often it faces the
    other way within TILT_TURN_FRAMES, apart for a fighter facing its opponent and one facing away
    from it (a model may learn the one and not the other)."""
    standing = (ds.CAT["idle"], ds.CAT["walk"])
    out = {"facing_the_other": [0, 0], "facing_away": [0, 0]}  # [onsets, turned]
    for g in games:
        s = g.state.astype(np.int64)
        for p in range(2):
            sx = g.ctrl[:, p, 0].astype(np.int64)
            face = s[:, p, FACING]
            against = (sx * np.roll(face, 1) < 0) & (np.abs(sx) >= TILT[0]) & (np.abs(sx) <= TILT[1])
            for t in np.flatnonzero(against[2:len(s) - TILT_TURN_FRAMES]) + 2:
                f = s[t - 1, p]
                if against[t - 1] or f[R.ACTION] not in standing or f[R.AIRBORNE] or f[R.HITSTUN]:
                    continue
                key = "facing_the_other" if (s[t - 1, 1 - p, X] - f[X]) * f[FACING] > 0 else "facing_away"
                out[key][0] += 1
                out[key][1] += int((face[t:t + TILT_TURN_FRAMES] != f[FACING]).any())
    return {"tilt": list(TILT), "within_frames": TILT_TURN_FRAMES,
            **{k: {"onsets": n, "turned": k2, "share": round(k2 / max(1, n), 4)} for k, (n, k2) in out.items()}}


def render(stats: dict) -> str:
    lines = [f"{stats['games']} games, {stats['frames']:,} frames ({stats['fighter_frames']:,} fighter-frames), "
             f"airborne {100 * stats['airborne_share']:.1f} %", "",
             "| action category | fighter-frames | share |", "|---|---|---|"]
    for name, row in sorted(stats["actions"].items(), key=lambda kv: -kv[1]["fighter_frames"]):
        lines.append(f"| {name} | {row['fighter_frames']:,} | {100 * row['share']:.3f} % |")
    lines += ["", "| stage | frames |", "|---|---|"]
    lines += [f"| {k} | {v:,} |" for k, v in stats["stages"].items()]
    ho = stats.get("hit_odds")
    if ho:
        lines += ["", f"hits (a one-frame rise >= 0.5 %): {ho['hits']:,} of {ho['fighter_frames']:,} fighter-frames "
                  f"({100 * ho['hit_share']:.2f} %); in cells of >= {ho['min_frames']} frames: "
                  f"{ho['hits_in_counted_cells']:,}; of those, in a cell where the next frame is a hit more than "
                  f"half the time: {ho['hits_where_rate_over_half']:,}, more than a quarter: "
                  f"{ho['hits_where_rate_over_quarter']:,} (highest cell rate {ho['max_rate']})"]
    xs = stats.get("x_steps")
    if xs:
        lines += ["", "| x moved in a frame (state units) | 0 | 1 | 2 | 3 | 4+ |", "|---|---|---|---|---|---|"]
        lines += [f"| {k} ({row['fighter_frames']:,}) | " + " | ".join(f"{100 * v:.2f} %" for v in row["share"].values())
                  + " |" for k, row in xs.items()]
    tu = stats.get("slow_turns")
    if tu:
        lines += ["", f"slow turns (the turn action {tu['min_frames']}+ frames): {tu['runs']:,}; the facing flips on "
                  "their frame (0 = the first; -1 = never): " + ", ".join(f"{k}: {v:,}" for k, v in tu["flip_frame"].items())
                  + "; lengths: " + ", ".join(f"{k}: {v:,}" for k, v in tu["length"].items()),
                  f"facing flips (any action): {tu['facing_flips']:,}, {100 * tu['facing_flip_share']:.2f} % of fighter-frames"]
    tt = stats.get("tilt_turns")
    if tt:
        lines += ["stick tilted half away from the facing ({}-{} of 127), standing or walking: turned within {} frames "
                  "facing the other {:,} of {:,} ({:.1f} %), facing away from it {:,} of {:,} ({:.1f} %)".format(
                      *tt["tilt"], tt["within_frames"], tt["facing_the_other"]["turned"], tt["facing_the_other"]["onsets"],
                      100 * tt["facing_the_other"]["share"], tt["facing_away"]["turned"], tt["facing_away"]["onsets"],
                      100 * tt["facing_away"]["share"])]
    tc = stats.get("turn_clock")
    if tc:
        lines += [f"turn clock (the rules' TURN): {tc['steps_by_one']:,} of {tc['steps']:,} frames within a turn step "
                  f"its counter by one ({100 * tc['by_one_share']:.2f} %); {tc['flipped_by_then']:,} of the "
                  f"{tc['turns_reaching_flip_frame']:,} turns that reach frame {tc['flip_frame']} have turned by then"]
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
    stats["hit_odds"] = hit_odds(games)
    stats["x_steps"] = x_steps(games)
    stats["slow_turns"] = slow_turns(games)
    stats["turn_clock"] = turn_clock(games)
    stats["tilt_turns"] = tilt_turns(games)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(stats, indent=1))
    print(json.dumps(stats, indent=1) if args.json else render(stats))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
