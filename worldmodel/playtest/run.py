"""Play every scripted scenario on every stage as one batch of closed-loop games.

A sampled-hit model's games depend on the hit draws, so each game draws from a session id of
its own (scenario_session: the scenario, the stage and a number, not the game's place in the
batch: `--scenarios bot_game` plays the same games as the full run), and the scenarios whose
outcome rides on hits (Scenario.sessions > 1) are played once per session and pass only if
every one of them does.
"""
from __future__ import annotations

import zlib

import numpy as np

from .. import rules as R
from .. import stages as S
from .batch import Games
from .scenarios import SCENARIOS, Rec

CHARACTERS = ("fox", "marth")  # the pair of the README's rules tables


def scenario_session(name: str, stage_key: str, k: int) -> int:
    """The session id (the program's u64; here 32 bits) game k of scenario `name` on a stage draws from."""
    return zlib.crc32(f"{name}/{stage_key}/{k}".encode())


def combine(per_session: list[dict], sessions: list[int]) -> dict:
    """One result for a scenario played in several sessions: it passes when each one does; its
    value is the worst (the largest: frames to an end, units off), or None where one has none."""
    if len(per_session) == 1:
        return per_session[0]
    vals = [r["value"] for r in per_session]
    first = per_session[0]
    checks = {k: all(r["checks"].get(k) for r in per_session) for k in first["checks"]}
    return {"pass": all(r["pass"] for r in per_session),
            "value": None if any(v is None for v in vals) else max(vals), "unit": first["unit"],
            "checks": checks, "passed_sessions": sum(bool(r["pass"]) for r in per_session),
            "measured": {"sessions": [{"session": s, "pass": r["pass"], "value": r["value"], **r["measured"]}
                                      for s, r in zip(sessions, per_session)]}}


def run_scenarios(cart, stages, quick: bool = False, characters=CHARACTERS, names=None):
    """-> {scenario: {stage: result}}, {scenario: {stage: (T, 2, 2) x, y after the rules}} (the
    trajectory of a scenario's first session)."""
    chars = [S.character_id(c) for c in characters]
    jobs = []  # (scenario, stage data, start, session id, session number)
    for sc in SCENARIOS:
        if names and sc.name not in names:
            continue
        for key in stages:
            st = S.stage(key)
            start = sc.start(st)
            for k in range(sc.sessions):
                jobs.append((sc, st, start, scenario_session(sc.name, st.key, k), k))
    live = [j for j in jobs if j[2] is not None]
    games = Games(cart, [j[1].key for j in live], [j[2] for j in live],
                  [(j[1].slippi_id, *chars) for j in live], [j[0].clock for j in live], [j[3] for j in live])
    budget = np.array([j[0].quick_frames if quick else j[0].frames for j in live])
    recs = [Rec(int(b)) for b in budget]
    mems = [{} for _ in live]
    active = np.ones(len(live), bool)
    t = 0
    while active.any():
        idx = np.flatnonzero(active)
        ctrl = np.zeros((len(idx), 2, 8), np.int64)
        for k, g in enumerate(idx):
            sc, st = live[g][:2]
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
    for sc, st, start, _, k in jobs:  # scored in SCENARIOS order: short_hop reads jump's result
        if k:
            continue
        if start is None:
            results[sc.name][st.key] = {"pass": None, "value": None, "unit": "", "checks": {},
                                        "measured": {"n/a": "no platform"}}
            continue
        mine = [g for g, j in enumerate(live) if j[0] is sc and j[1] is st]
        done = {name: results[name][st.key] for name in results if st.key in results[name]}
        res = combine([sc.score(recs[g], st, done) for g in mine], [live[g][3] for g in mine])
        res["frames"] = sum(len(recs[g].raw) for g in mine)
        res["interventions_per_10k"] = round(sum(recs[g].interventions for g in mine) * 1e4 / max(res["frames"], 1), 1)
        results[sc.name][st.key] = res
        rec = recs[mine[0]]
        xy = rec.post[:, :, [R.X, R.Y]] / 16.0
        xy[~np.isin(rec.phase, (R.PLAY, R.INVULN))] = np.nan  # break the line from a KO to the respawn
        traj[sc.name][st.key] = xy
    return results, traj
