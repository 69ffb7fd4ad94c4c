"""Does the model land? Its airborne flag and y on the held-out games' landings, teacher-forced
and in closed loop, against the replay's.

    python -m worldmodel.landings --model DIR --replays DIR [--events 256] [--json]

On the frame a fighter lands Melee puts it on the surface; a model that keeps falling its
speed's worth on that frame lands inside the stage (playtest: a fast-fall lands 1.5-2 units
deep). The playtest's hops are six landings a model; here are a few hundred real ones. A
landing is a frame on which a fighter's airborne flag goes 1 -> 0, not into or out of a death
or respawn, not onto the ledge nor in a grab. For `--events` landings spread evenly over the
held-out games (supported stages), both ways run the model (INT8 cartridge, and the float twin)
over WARMUP frames of the replay before the landing with the replay's inputs:

- teacher-forced: fed the replay's state every frame; on the replay's landing frame, whether
  the model says grounded, and whether its y is within 1 unit (geom.LANDING) of the replay's;
- closed loop from LEAD frames before the landing: fed the replay's state up to then and its
  own after it; the first frame, within LEAD + SLACK, on which it says grounded is its landing,
  and its y there within 1 unit of a surface under it (geom.surface_gap) is a landing on one.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from . import cartridge as C
from . import dataset as ds
from . import probe
from . import stages as S
from .playtest import geom as G

ACTION, AIRBORNE, Y, X = (C.FIELDS.index(n) for n in ("action", "airborne", "y", "x"))
WARMUP, LEAD, SLACK = 120, 4, 8  # frames of replay before the landing; closed loop from LEAD before; then SLACK after
NOT_A_LANDING = (ds.CAT["dead"], ds.CAT["respawn"], ds.CAT["ledge"], ds.CAT["grabbed_thrown"])


def find_landings(games: list[ds.Game], limit: int) -> list[tuple[int, int, int]]:
    """-> [(game index, player, landing frame)], `limit` of them spread evenly over every landing found."""
    found = []
    for gi, g in enumerate(games):
        air, act = g.state[:, :, AIRBORNE], g.state[:, :, ACTION]
        for p in range(2):
            t = np.flatnonzero((air[:-1, p] != 0) & (air[1:, p] == 0)) + 1
            t = t[(t >= WARMUP) & (t + SLACK < len(g))]
            t = t[~np.isin(act[t, p], NOT_A_LANDING) & ~np.isin(act[t - 1, p], NOT_A_LANDING)]
            found += [(gi, p, int(k)) for k in t]
    found.sort()
    if len(found) > limit:
        found = [found[i] for i in np.linspace(0, len(found) - 1, limit).round().astype(int)]
    return found


def play(ref, games, landings, closed_loop: bool) -> np.ndarray:
    """-> (n, LEAD + SLACK + 1, 2, 16) the model's states for the frames landing - LEAD ..
    landing + SLACK (row LEAD: the replay's landing frame), teacher-forced or in closed loop
    from LEAD frames before the landing. ref: BatchRef or FloatRef."""
    n = len(landings)
    hidden = ref.new_hidden(n)
    context = np.stack([games[gi].context() for gi, _, _ in landings])
    session = np.arange(n)
    state = np.stack([games[gi].state[t - WARMUP] for gi, _, t in landings]).astype(np.int64)
    out = np.zeros((n, LEAD + SLACK + 1, 2, 16), np.int64)
    for k in range(-WARMUP + 1, SLACK + 1):  # computes the state of frame landing + k
        ctrl = np.stack([games[gi].ctrl[t + k] for gi, _, t in landings]).astype(np.int64)
        draw = C.hit_draw_array(session, np.full(n, k + WARMUP))
        nxt, _, hidden = ref.step(state, ctrl, hidden, context, draw)
        if k >= -LEAD:
            out[:, k + LEAD] = nxt
        if closed_loop and k > -LEAD:
            state = nxt
        else:
            state = np.stack([games[gi].state[t + k] for gi, _, t in landings]).astype(np.int64)
    return out


def score_teacher_forced(pred: np.ndarray, games, landings) -> dict:
    i = np.arange(len(landings))
    p = np.array([q for _, q, _ in landings])
    true_y = np.array([games[gi].state[t, q, Y] for gi, q, t in landings]) / G.U
    at = pred[i, LEAD, p]
    grounded = at[:, AIRBORNE] == 0
    err = at[:, Y] / G.U - true_y
    near = np.abs(err) <= G.LANDING
    return {"grounded": round(float(grounded.mean()), 3), "y_within_1": round(float(near.mean()), 3),
            "both": round(float((grounded & near).mean()), 3), "y_error_mean": round(float(err.mean()), 3) + 0.0,
            "y_error_abs_median": round(float(np.median(np.abs(err))), 3)}


def score_closed_loop(pred: np.ndarray, games, landings) -> dict:
    landed = on = 0
    gaps = []
    for k, (gi, p, _) in enumerate(landings):
        down = np.flatnonzero(pred[k, 1:, p, AIRBORNE] == 0)  # row 0: the frame then fed from the replay
        if not len(down):
            continue
        landed += 1
        x, y = G.xy(pred[k, 1 + down[0], p])
        gap = G.surface_gap(S.STAGE_BY_ID[games[gi].stage], x, y)
        gaps.append(gap)
        on += gap <= G.LANDING
    n = max(len(landings), 1)
    return {"landed": round(landed / n, 3), "on_surface_1": round(on / n, 3),
            "gap_median": round(float(np.median(gaps)), 3) if gaps else None}


def run(model_dir: Path, replays, events: int, cache) -> dict:
    from .playtest.replays import held_out

    games = held_out(replays, model_dir, False, cache)
    landings = find_landings(games, events)
    if not landings:
        raise SystemExit(f"no landings in the held-out games of {replays}")
    refs = probe.refs(model_dir)
    rep = {"model": model_dir.name, "landings": len(landings), "games": len({gi for gi, _, _ in landings})}
    for name, ref in refs.items():
        rep[name] = {"teacher_forced": score_teacher_forced(play(ref, games, landings, False), games, landings),
                     "closed_loop": score_closed_loop(play(ref, games, landings, True), games, landings)}
    return rep


def markdown(rep: dict) -> str:
    lines = [f"Landings of `{rep['model']}`: {rep['landings']} held-out landings in {rep['games']} games", "",
             "| model | teacher-forced: grounded on the frame | y within 1 unit of the replay's | both "
             f"| mean y error (units) | closed loop from {LEAD} frames before: landed | on a surface within 1 unit "
             "| median distance (units) |", "|---|---|---|---|---|---|---|---|"]
    for name in ("int8", "float"):
        if name in rep:
            tf, cl = rep[name]["teacher_forced"], rep[name]["closed_loop"]
            lines.append(f"| {name} | {100 * tf['grounded']:.1f} % | {100 * tf['y_within_1']:.1f} % "
                         f"| {100 * tf['both']:.1f} % | {tf['y_error_mean']:+.2f} | {100 * cl['landed']:.1f} % "
                         f"| {100 * cl['on_surface_1']:.1f} % | {cl['gap_median']} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    return probe.main(argv, "worldmodel.landings", __doc__, run, markdown, 256,
                      "landings to play, spread evenly over those found")


if __name__ == "__main__":
    sys.exit(main())
