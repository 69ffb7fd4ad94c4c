"""Replay-driven full games: each held-out game played from its first frame with its recorded
inputs, closed loop (the model's own output fed back, the rules after it) to the end of the
inputs, the end of the game, or 8:00, all games in one batch.

Invariant checks, per fighter and frame while the fighter is in play (rules phase PLAY or
INVULN entering the frame), counted per 10,000 frames (a frame with both fighters violating
counts 2):
  grounded_off_surface  airborne 0, not on the ledge nor held by a grab, no surface within
                        4 units (geom.ON_SURFACE, the rules' SNAP distance)
  inside_body           in the main platform's top 16 units, more than 4 units below its top
                        (not while held by a grab)
  alive_beyond_blast    in play past a blast zone after the rules (on the raw output such a
                        crossing is the KO itself, so it is not counted there)
  damage_far            percent up >= 1 % in a frame while the opponent (in play) is > 60 units away
Hits per minute (a fighter in play whose percent rises by rules.HIT_PERCENT or more in a frame)
beside the replay's own: a model that never hits plays a game nobody can win. KOs by the blast
zone they cross (the model's: where the rules held it; the replay's: where the fighter is on the
frame its stocks drop, "inside" if within every zone) and how many came with no hit on the
fighter in the SELF_DESTRUCT frames before (a fall with nobody near: in closed loop, mostly a
game that went elsewhere than the recorded inputs, which then do not recover the fighter).
They are measured on the model's raw output ("raw": what the acceptance target is about) and
after the rules' clamps ("post": what the player sees; FLOOR/SNAP/AIRBORNE make the first three
zero there by construction), and on the replay's own recorded frames ("replay": how often the
checks fire on real play, e.g. projectiles for damage_far, moving platforms).
"""
from __future__ import annotations

import numpy as np

from .. import dataset as ds
from .. import rules as R
from .. import stages as S
from . import geom as G
from .batch import Games

INVARIANTS = ("grounded_off_surface", "inside_body", "alive_beyond_blast", "damage_far")
ZONES = ("bottom", "top", "side", "inside")
SELF_DESTRUCT = 180  # frames: a KO with no hit on the fighter in the 3 s before
FAR = 60.0  # units
HIT = 16  # percent field units: 1 %
LIVE = (R.PLAY, R.INVULN)
GRABBED = ds.CAT["grabbed_thrown"]


def held_out(folder, model_dir, all_games: bool, cache):
    """worldmodel.eval's held-out games (the model's train.json split), supported stages only."""
    import json
    from pathlib import Path

    info = {}
    tj = Path(model_dir) / "train.json"
    if tj.exists():
        info = json.loads(tj.read_text())
    games = ds.load_folder(folder, cache)
    if not all_games:
        _, games = ds.split_games(games, info.get("val_fraction", 0.05), info.get("seed", 0))
    return [g for g in games if g.stage in S.STAGE_BY_ID]


def check(st, f, opp, prev_pct, live_opp, post: bool) -> list[bool]:
    x, y = G.xy(f)
    held = f[R.ACTION] == GRABBED  # the grabber places a held fighter
    grounded = f[R.AIRBORNE] == 0 and f[R.ACTION] != R.ACT_LEDGE and not held
    ox, oy = G.xy(opp)
    return [bool(grounded and G.surface_gap(st, x, y) > G.ON_SURFACE),
            bool(not held and G.inside_body(st, x, y)),
            bool(post and G.beyond_blast(st, x, y)),
            bool(int(f[R.PERCENT]) - prev_pct >= HIT and live_opp and np.hypot(x - ox, y - oy) > FAR)]


def zone(stage: R.Stage, f) -> str:
    """The blast zone a fighter at f's position is past (ZONES; bottom and top before the sides)."""
    x, y = int(f[R.X]), int(f[R.Y])
    if y < stage.blast_bottom:
        return "bottom"
    if y > stage.blast_top:
        return "top"
    return "side" if x < stage.blast_left or x > stage.blast_right else "inside"


def _alive_replay(f) -> bool:
    return int(f[R.ACTION]) not in (R.ACT_DEAD, R.ACT_RESPAWN) and f[R.STOCKS] > 0


def play(cart, games, max_frames: int | None = None):
    """-> one dict of counts per game."""
    limit = [min(len(g), R.TIME_LIMIT_FRAMES + 1, (max_frames or 10 ** 9) + 1) for g in games]
    sim = Games(cart, [g.stage for g in games], [g.state[0] for g in games], [g.context() for g in games],
                [True] * len(games))
    acc = [{"frames": 0, "kos": 0, "interventions": 0, "raw": [0] * 4, "post": [0] * 4, "replay": [0] * 4,
            "fired": {k: 0 for k in R.RULE_NAMES}, "air": [0, 0], "x": [], "x_replay": [], "air_replay": [0, 0],
            "kos_replay": 0, "hits": 0, "hits_replay": 0, "ko_zones": dict.fromkeys(ZONES, 0),
            "ko_zones_replay": dict.fromkeys(ZONES, 0), "kos_no_hit": 0, "kos_no_hit_replay": 0,
            "last_hit": [-SELF_DESTRUCT - 1] * 2, "last_hit_replay": [-SELF_DESTRUCT - 1] * 2} for _ in games]
    active = np.array([n > 1 for n in limit])
    t = 1
    while active.any():
        idx = np.flatnonzero(active)
        before = [sim.phases(g) for g in idx]
        prev = sim.state[idx].copy()
        raw, post, outs = sim.step(idx, np.stack([games[g].ctrl[t] for g in idx]))
        for k, g in enumerate(idx):
            a, st, out, true = acc[g], sim.stage_data[g], outs[k], games[g].state
            a["frames"] += 1
            a["kos"] += bin(out.kos).count("1")
            a["interventions"] += out.interventions
            for i, name in enumerate(R.RULE_NAMES):
                a["fired"][name] += out.fired >> i & 1
            after = sim.phases(g)
            for p in range(2):
                q = 1 - p
                if before[k][p] in LIVE:
                    live_q = before[k][q] in LIVE
                    if int(post[k, p, R.PERCENT]) - int(prev[k, p, R.PERCENT]) >= R.HIT_PERCENT:
                        a["hits"] += 1
                        a["last_hit"][p] = t
                    if out.kos >> p & 1:  # held where it crossed
                        a["ko_zones"][zone(sim.stage[g], post[k, p])] += 1
                        a["kos_no_hit"] += t - a["last_hit"][p] > SELF_DESTRUCT
                    for i, v in enumerate(check(st, raw[k, p], prev[k, q], int(prev[k, p, R.PERCENT]), live_q, False)):
                        a["raw"][i] += v
                if after[p] in LIVE:
                    for i, v in enumerate(check(st, post[k, p], post[k, q], int(prev[k, p, R.PERCENT]), after[q] in LIVE, True)):
                        a["post"][i] += v
                    a["air"][0] += 1
                    a["air"][1] += int(post[k, p, R.AIRBORNE] != 0)
                    a["x"].append(post[k, p, R.X] / G.U)
                if _alive_replay(true[t, p]):
                    for i, v in enumerate(check(st, true[t, p], true[t, q], int(true[t - 1, p, R.PERCENT]),
                                                _alive_replay(true[t, q]), True)):
                        a["replay"][i] += v
                    a["air_replay"][0] += 1
                    a["air_replay"][1] += int(true[t, p, R.AIRBORNE] != 0)
                    a["x_replay"].append(true[t, p, R.X] / G.U)
                    if int(true[t, p, R.PERCENT]) - int(true[t - 1, p, R.PERCENT]) >= R.HIT_PERCENT:
                        a["hits_replay"] += 1
                        a["last_hit_replay"][p] = t
                if true[t, p, R.STOCKS] < true[t - 1, p, R.STOCKS]:
                    a["kos_replay"] += 1
                    a["ko_zones_replay"][zone(sim.stage[g], true[t, p])] += 1
                    a["kos_no_hit_replay"] += t - a["last_hit_replay"][p] > SELF_DESTRUCT
            if out.ended or t + 1 >= limit[g]:
                active[g] = False
        t += 1
    return acc


def w1(a, b) -> float | None:
    """Wasserstein-1 distance (units) between two samples, on 99 quantiles."""
    if not len(a) or not len(b):
        return None
    q = np.linspace(0.005, 0.995, 199)
    return float(np.abs(np.quantile(a, q) - np.quantile(b, q)).mean())


def summarize(accs: list[dict]) -> dict:
    n = sum(a["frames"] for a in accs)
    per = lambda v: round(v * 1e4 / n, 2) if n else None  # noqa: E731
    minutes = n / 3600
    out = {"games": len(accs), "frames": n}
    for kind in ("raw", "post", "replay"):
        counts = [sum(a[kind][i] for a in accs) for i in range(4)]
        out[f"violations_{kind}_per_10k"] = per(sum(counts))
        out[f"by_invariant_{kind}_per_10k"] = {name: per(c) for name, c in zip(INVARIANTS, counts)}
    out["by_invariant_raw_per_10k"]["alive_beyond_blast"] = None  # on the raw output the crossing is the KO
    kos, kos_r = sum(a["kos"] for a in accs), sum(a["kos_replay"] for a in accs)
    out["kos"], out["kos_replay"] = kos, kos_r
    out["kos_per_min"] = round(kos / minutes, 3) if n else None
    out["kos_per_min_replay"] = round(kos_r / minutes, 3) if n else None
    out["ko_rate_ratio"] = round(kos / kos_r, 3) if kos_r else None
    for suffix in ("", "_replay"):
        out["ko_zones" + suffix] = {z: sum(a["ko_zones" + suffix][z] for a in accs) for z in ZONES}
        out["kos_no_hit" + suffix] = sum(a["kos_no_hit" + suffix] for a in accs)
    hits, hits_r = sum(a["hits"] for a in accs), sum(a["hits_replay"] for a in accs)
    out["hits_per_min"] = round(hits / minutes, 2) if n else None
    out["hits_per_min_replay"] = round(hits_r / minutes, 2) if n else None
    air = [sum(a["air"][i] for a in accs) for i in range(2)]
    air_r = [sum(a["air_replay"][i] for a in accs) for i in range(2)]
    out["airborne_share"] = round(air[1] / air[0], 4) if air[0] else None
    out["airborne_share_replay"] = round(air_r[1] / air_r[0], 4) if air_r[0] else None
    xs = np.concatenate([np.asarray(a["x"]) for a in accs]) if accs else np.zeros(0)
    xr = np.concatenate([np.asarray(a["x_replay"]) for a in accs]) if accs else np.zeros(0)
    out["x_w1"] = None if w1(xs, xr) is None else round(w1(xs, xr), 2)
    out["x_quantiles"] = [round(float(v), 1) for v in np.quantile(xs, (0.05, 0.25, 0.5, 0.75, 0.95))] if len(xs) else None
    out["x_quantiles_replay"] = [round(float(v), 1) for v in np.quantile(xr, (0.05, 0.25, 0.5, 0.75, 0.95))] if len(xr) else None
    out["interventions_per_10k"] = per(sum(a["interventions"] for a in accs))
    out["frames_with_rule_per_10k"] = {k: per(sum(a["fired"][k] for a in accs)) for k in R.RULE_NAMES}
    out["pass_invariants"] = out["violations_raw_per_10k"] is not None and out["violations_raw_per_10k"] < 1.0
    out["pass_ko_rate"] = out["ko_rate_ratio"] is not None and abs(out["ko_rate_ratio"] - 1) <= 0.25
    return out


def run_replays(cart, games, max_frames=None) -> dict:
    accs = play(cart, games, max_frames)
    by_stage = {}
    for g, a in zip(games, accs):
        by_stage.setdefault(S.stage(g.stage).key, []).append(a)
    return {"per_stage": {k: summarize(v) for k, v in sorted(by_stage.items())}, "overall": summarize(accs),
            "games": [g.name for g in games], "x": {k: (np.concatenate([np.asarray(a["x"]) for a in v]),
                                                       np.concatenate([np.asarray(a["x_replay"]) for a in v]))
                                                   for k, v in by_stage.items()}}
