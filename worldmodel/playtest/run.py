"""Play every scripted scenario on every stage as one batch of closed-loop games."""
from __future__ import annotations

import numpy as np

from .. import rules as R
from .. import stages as S
from .batch import Games
from .scenarios import SCENARIOS, Rec

CHARACTERS = ("fox", "marth")  # the pair of the README's rules tables


def run_scenarios(cart, stages, quick: bool = False, characters=CHARACTERS, names=None):
    """-> {scenario: {stage: result}}, {scenario: {stage: (T, 2, 2) x, y after the rules}}."""
    chars = [S.character_id(c) for c in characters]
    jobs = []  # (scenario, stage data, start)
    for sc in SCENARIOS:
        if names and sc.name not in names:
            continue
        for key in stages:
            st = S.stage(key)
            jobs.append((sc, st, sc.start(st)))
    live = [j for j in jobs if j[2] is not None]
    games = Games(cart, [j[1].key for j in live], [j[2] for j in live],
                  [(j[1].slippi_id, *chars) for j in live], [j[0].clock for j in live])
    budget = np.array([j[0].quick_frames if quick else j[0].frames for j in live])
    recs = [Rec(int(b)) for b in budget]
    mems = [{} for _ in live]
    active = np.ones(len(live), bool)
    t = 0
    while active.any():
        idx = np.flatnonzero(active)
        ctrl = np.zeros((len(idx), 2, 8), np.int64)
        for k, g in enumerate(idx):
            sc, st, _ = live[g]
            rows = sc.policy(t, games.state[g], games.phases(g), mems[g], st)
            ctrl[k] = np.asarray(rows, np.int64)
        raw, post, outs = games.step(idx, ctrl)
        for k, g in enumerate(idx):
            rec, out = recs[g], outs[k]
            rec.append(raw[k], post[k], games.phases(g), (out.kos & 1, out.kos >> 1 & 1))
            rec.interventions += out.interventions
            if out.ended:
                rec.ended, rec.winner, rec.end_frame = True, out.winner, R.end_frame(games.rules[g])
            if out.ended or t + 1 >= budget[g] or live[g][0].done(rec):
                active[g] = False
        t += 1
    results = {sc.name: {} for sc in SCENARIOS if not names or sc.name in names}
    traj = {name: {} for name in results}
    for sc, st, start in jobs:  # scored in SCENARIOS order: short_hop reads jump's result
        if start is None:
            results[sc.name][st.key] = {"pass": None, "value": None, "unit": "", "checks": {},
                                        "measured": {"n/a": "no platform"}}
            continue
        g = next(i for i, j in enumerate(live) if j[0] is sc and j[1] is st)
        rec = recs[g]
        done = {name: results[name][st.key] for name in results if st.key in results[name]}
        res = sc.score(rec, st, done)
        res["frames"] = len(rec.raw)
        res["interventions_per_10k"] = round(rec.interventions * 1e4 / max(len(rec.raw), 1), 1)
        results[sc.name][st.key] = res
        xy = rec.post[:, :, [R.X, R.Y]] / 16.0
        xy[~np.isin(rec.phase, (R.PLAY, R.INVULN))] = np.nan  # break the line from a KO to the respawn
        traj[sc.name][st.key] = xy
    return results, traj
