"""Evaluate a model directory on held-out games.

    python -m worldmodel.eval --model DIR --replays DIR --json [--report DIR]

For each window (a held-out game, a start frame t0): the hidden state warms up over the
`--warmup` frames before t0 with the true states as input, then
  - autoregressive rollout: from the true state at t0, the model's own predictions are fed
    back for 60 frames (the true controller inputs each frame), as the game runs on chain;
  - teacher-forced: the model predicts every frame after t0 from the true previous state.
Errors at horizons 1, 5, 10, 20, 60 frames after t0, for the float model (float.pt in the
model directory, if present), the INT8 cartridge run by the integer reference
(worldmodel.intbatch, identical to intref.step), and two baselines: persistence (nothing
changes) and constant velocity (positions move by their last frame-to-frame change).

Held-out games: the model directory's train.json names the split (seed, fraction) its
training used, and the same split of --replays is taken; --all-games uses every game (for
a folder the model never saw). Metrics: pos_mae (game units, mean of |dx| and |dy| over
both fighters), vel_mae (units/frame, games that record velocities), action_acc (action
category), percent_mae (%), stock_acc.

A sampled-hit cartridge (cartridge.CONTEXT_SAMPLED_HIT) also gets its hit odds checked on the
teacher-forced frames: the hits the replays have against the hits its odds expect (the sum of
its hit probabilities, with and without the hit floor), over all frames and over the frames
where the fighters are more than 60 units apart (where a hit is rare: projectiles).
`--hit-floors 0,16,32` reports that for other hit floors too, and `--train-games` takes the
windows from the training split instead: how a floor is chosen without the held-out games.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

from . import cartridge as C
from . import dataset as ds
from .intbatch import BatchRef

HORIZONS = (1, 5, 10, 20, 60)
F = ds.F
VEL = [F["self_vx"], F["self_vy"], F["kb_vx"], F["kb_vy"]]
METRICS = ("pos_mae", "vel_mae", "action_acc", "percent_mae", "stock_acc")


def metrics(pred: np.ndarray, true: np.ndarray, has_vel: np.ndarray) -> dict:
    """pred, true (n, 2, 16) int states; has_vel (n,) -> the five metrics."""
    p, t = pred.astype(np.float64), true.astype(np.float64)
    pos = np.abs(p[:, :, [F["x"], F["y"]]] - t[:, :, [F["x"], F["y"]]]).mean() / 16
    vel = None
    if has_vel.any():
        vel = float(np.abs(p[has_vel][:, :, VEL] - t[has_vel][:, :, VEL]).mean() / 256)
    return {
        "pos_mae": float(pos),
        "vel_mae": vel,
        "action_acc": float((pred[:, :, F["action"]] == true[:, :, F["action"]]).mean()),
        "percent_mae": float(np.abs(p[:, :, F["percent"]] - t[:, :, F["percent"]]).mean() / 16),
        "stock_acc": float((pred[:, :, F["stocks"]] == true[:, :, F["stocks"]]).mean()),
    }


def windows(games: list[ds.Game], n_games: int, per_game: int, warmup: int, horizon: int):
    """-> state (w, warmup + horizon + 1, 2, 16), ctrl (same), has_vel (w,), games used."""
    need = warmup + horizon + 2
    used = [g for g in games if len(g) >= need][:n_games]
    st, ct, hv = [], [], []
    for g in used:
        for t0 in np.linspace(warmup + 1, len(g) - horizon - 1, per_game).astype(int):
            sl = slice(t0 - warmup - 1, t0 + horizon + 1)
            st.append(g.state[sl])
            ct.append(g.ctrl[sl])
            hv.append(g.has_vel)
    return np.stack(st), np.stack(ct), np.array(hv), used


def run_int8(cart: C.Cartridge, st: np.ndarray, ct: np.ndarray, warmup: int, horizon: int, cx=None,
             hit_probs: list | None = None):
    """-> rollout states (w, horizon, 2, 16), teacher-forced states (w, horizon, 2, 16).
    cx (w, 3): each window's stage and characters, for a cartridge fed them. hit_probs: a list
    that gets (w, 2) Q16 hit probabilities of every teacher-forced frame k = 1.. (a sampled-hit
    cartridge), the frame it predicts being k."""
    br = BatchRef(cart)
    hid = br.new_hidden(st.shape[0])
    windows = np.arange(st.shape[0])  # a sampled-hit model draws per window as a session of its index

    def draw(k):
        return C.hit_draw_array(windows, np.full(len(windows), k))
    # index k of the window: frame t0 - warmup - 1 + k; t0 is at k = warmup + 1
    hit_rows = [C.out_dim_for(cart.fields) + p * C.HIT_WIDTH for p in range(2)]  # FeatureSpec.hit_slot

    def odds(out):
        if hit_probs is not None and cart.context & C.CONTEXT_SAMPLED_HIT:
            hit_probs.append(np.stack([br.hit_probability_q16(out[:, r].astype(np.int64)) for r in hit_rows], 1))
    for k in range(1, warmup + 2):
        _, out, hid = br.step(st[:, k - 1], ct[:, k], hid, cx, draw(k))
        odds(out)
    h0 = hid.copy()
    tf = []
    for j in range(horizon):
        k = warmup + 2 + j
        nxt, out, hid = br.step(st[:, k - 1], ct[:, k], hid, cx, draw(k))
        odds(out)
        tf.append(nxt)
    roll, cur, hid = [], st[:, warmup + 1], h0
    for j in range(horizon):
        cur, _, hid = br.step(cur, ct[:, warmup + 2 + j], hid, cx, draw(warmup + 2 + j))
        roll.append(cur)
    return np.stack(roll, 1), np.stack(tf, 1)


def run_float(ckpt: Path, st: np.ndarray, ct: np.ndarray, warmup: int, horizon: int, cx=None):
    import torch

    from .model import build_features, decode
    from .train import load_checkpoint

    torch.set_num_threads(1)
    model = load_checkpoint(ckpt)
    fs = model.fs
    s = torch.from_numpy(st.astype(np.int64))
    c = torch.from_numpy(ct.astype(np.int64))
    cx = None if cx is None else torch.from_numpy(np.asarray(cx, dtype=np.int64))
    with torch.no_grad():
        hid = model.new_hidden(s.shape[0])
        _, h0 = model(build_features(fs, s[:, :warmup + 1], c[:, 1:warmup + 2], cx), hid)
        base = s[:, warmup + 1:-1]
        out, _ = model(build_features(fs, base, c[:, warmup + 2:], cx), h0)
        windows = np.arange(s.shape[0])  # the draws of run_int8
        draws = torch.from_numpy(np.stack([C.hit_draw_array(windows, np.full(len(windows), warmup + 2 + j))
                                           for j in range(horizon)], axis=1))  # (w, horizon, 2)
        tf = decode(fs, base, out, draws)
        roll, cur, hid = [], s[:, warmup + 1:warmup + 2], h0
        for j in range(horizon):
            out, hid = model(build_features(fs, cur, c[:, warmup + 2 + j:warmup + 3 + j], cx), hid)
            cur = decode(fs, cur, out, draws[:, j:j + 1])
            roll.append(cur)
    return torch.cat(roll, 1).numpy().astype(np.int16), tf.numpy().astype(np.int16)


def baselines(st: np.ndarray, warmup: int, horizon: int):
    s0 = st[:, warmup + 1].astype(np.int64)
    prev = st[:, warmup].astype(np.int64)
    persist = np.repeat(s0[:, None], horizon, axis=1)
    cv = persist.copy()
    steps = np.arange(1, horizon + 1)[None, :, None]
    for f in (F["x"], F["y"]):
        cv[:, :, :, f] = s0[:, None, :, f] + steps * (s0 - prev)[:, None, :, f]
    return persist, np.clip(cv, -32768, 32767)


FAR = 60 * 16  # state units: fighters this far apart are rarely hit (projectiles)


def hit_calibration(cart: C.Cartridge, st: np.ndarray, probs: np.ndarray) -> dict:
    """st (w, k + 1, 2, 16) the windows' true states, probs (w, k, 2) Q16 hit odds of frames
    1..k -> the replays' hits against the sums of the odds (expected hits), overall and far."""
    from .rules import HIT_PERCENT, PERCENT, X, Y

    k = probs.shape[1]
    hit = (st[:, 1:k + 1, :, PERCENT].astype(np.int64) - st[:, :k, :, PERCENT]) >= HIT_PERCENT
    p = probs / 65536.0
    floor = probs >= cart.hit_floor * C.HIT_FLOOR_UNIT
    kept = np.where(floor, p, 0.0)
    d = np.hypot(*(st[:, :k, 1, f].astype(np.float64) - st[:, :k, 0, f] for f in (X, Y)))
    far = np.repeat((d > FAR)[..., None], 2, axis=2)

    def part(m):
        return {"fighter_frames": int(m.sum()), "hits": int(hit[m].sum()), "expected": round(float(p[m].sum()), 1),
                "expected_above_floor": round(float(kept[m].sum()), 1),
                "hits_above_floor": int((hit & floor)[m].sum())}
    return {"hit_floor_q16": cart.hit_floor * C.HIT_FLOOR_UNIT, "all": part(np.ones_like(hit)), "far": part(far)}


def by_horizon(pred: np.ndarray, true: np.ndarray, has_vel: np.ndarray) -> dict:
    return {f"h{h}": metrics(pred[:, h - 1], true[:, h - 1], has_vel) for h in HORIZONS}


def evaluate(model_dir: Path, replays: str, n_games: int, per_game: int, warmup: int,
             all_games: bool, cache: str | None, progress: bool = False, train_games: bool = False,
             hit_floors: tuple[int, ...] = ()) -> dict:
    horizon = max(HORIZONS)
    info = {}
    if (model_dir / "train.json").exists():
        info = json.loads((model_dir / "train.json").read_text())
    games = ds.load_folder(replays, cache, progress=progress)
    if not all_games:
        train, held = ds.split_games(games, info.get("val_fraction", 0.05), info.get("seed", 0))
        games = train if train_games else held
    st, ct, hv, used = windows(games, n_games, per_game, warmup, horizon)
    truth = st[:, warmup + 2:]
    cx = np.repeat(np.stack([g.context() for g in used]), per_game, axis=0)  # windows() takes per_game a game
    results, teacher, timing = {}, {}, {}
    ckpt = model_dir / "float.pt"
    if ckpt.exists():
        t = time.monotonic()
        roll, tf = run_float(ckpt, st, ct, warmup, horizon, cx)
        timing["float"] = round(time.monotonic() - t, 2)
        results["float"], teacher["float"] = by_horizon(roll, truth, hv), by_horizon(tf, truth, hv)
    t = time.monotonic()
    cart, probs = C.load(model_dir), []
    roll, tf = run_int8(cart, st, ct, warmup, horizon, cx, probs)
    timing["int8"] = round(time.monotonic() - t, 2)
    results["int8"], teacher["int8"] = by_horizon(roll, truth, hv), by_horizon(tf, truth, hv)
    persist, cv = baselines(st, warmup, horizon)
    results["persistence"] = by_horizon(persist, truth, hv)
    results["constant_velocity"] = by_horizon(cv, truth, hv)
    rep = {
        "model": str(model_dir.name), "games": len(used), "frames": int(st.shape[0] * st.shape[1]),
        "windows": int(st.shape[0]), "warmup": warmup, "results": results,
        "teacher_forced": teacher, "seconds": timing,
    }
    if probs:
        odds = np.stack(probs, axis=1)
        rep["hit_calibration"] = hit_calibration(cart, st, odds)
        if hit_floors:
            rep["hit_calibration_by_floor"] = {
                floor: hit_calibration(dataclasses.replace(cart, hit_floor=floor), st, odds) for floor in hit_floors}
    rep["split"] = "all" if all_games else "train" if train_games else "held-out"
    return rep


def markdown(rep: dict) -> str:
    hs = [f"h{h}" for h in HORIZONS]
    lines = [f"# Evaluation of `{rep['model']}`", "",
             f"{rep['games']} {rep.get('split', 'held-out')} games, {rep['windows']} windows ({rep['frames']} frames), "
             f"hidden state warmed up over {rep['warmup']} true frames, then {max(HORIZONS)}-frame "
             "autoregressive rollouts from the true state.", ""]
    for m in METRICS:
        lines += [f"## {m}", "", "| method | " + " | ".join(hs) + " |",
                  "|---" * (len(hs) + 1) + "|"]
        for name, res in list(rep["results"].items()) + \
                [(f"{k} (teacher-forced)", v) for k, v in rep.get("teacher_forced", {}).items()]:
            vals = [res[h][m] for h in hs]
            lines.append(f"| {name} | " + " | ".join("-" if v is None else f"{v:.3f}" for v in vals) + " |")
        lines.append("")
    hc = rep.get("hit_calibration")
    if hc:
        lines += ["## hit odds (INT8, teacher-forced)", "",
                  f"hit floor {hc['hit_floor_q16']} / 65536", "",
                  "| frames | fighter-frames | hits | expected by the odds | hits above the floor "
                  "| expected above the floor |", "|---" * 6 + "|"]
        for key, name in (("all", "all"), ("far", f"fighters > {FAR // 16} units apart")):
            h = hc[key]
            lines.append(f"| {name} | {h['fighter_frames']} | {h['hits']} | {h['expected']} | {h['hits_above_floor']} "
                         f"| {h['expected_above_floor']} |")
        lines.append("")
        if rep.get("hit_calibration_by_floor"):
            lines += ["| hit floor (/4096) | hits above it | expected above it | far: hits | far: expected above it |",
                      "|---" * 5 + "|"]
            for floor, h in rep["hit_calibration_by_floor"].items():
                lines.append(f"| {floor} | {h['all']['hits_above_floor']} / {h['all']['hits']} | "
                             f"{h['all']['expected_above_floor']} | {h['far']['hits']} | {h['far']['expected_above_floor']} |")
            lines.append("")
    return "\n".join(lines)


def plot(rep: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    for ax, m in zip(axes.ravel(), ("pos_mae", "vel_mae", "action_acc", "percent_mae")):
        for name, res in rep["results"].items():
            ys = [res[f"h{h}"][m] for h in HORIZONS]
            if all(v is not None for v in ys):
                ax.plot(HORIZONS, ys, "o-", label=name)
        ax.set_xscale("log")
        ax.set_xticks(HORIZONS, [str(h) for h in HORIZONS])
        ax.set_xlabel("horizon (frames)")
        ax.set_title(m)
        ax.grid(alpha=0.3)
    axes[0, 0].legend()
    fig.suptitle(f"{rep['model']}: autoregressive rollout error vs horizon")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="model directory (cartridge, float.pt)")
    ap.add_argument("--replays", required=True)
    ap.add_argument("--json", action="store_true", help="print the JSON report on stdout")
    ap.add_argument("--report", default=None, help="write eval.json, eval.md, eval.png here")
    ap.add_argument("--games", type=int, default=16, help="held-out games to use")
    ap.add_argument("--windows", type=int, default=8, help="windows per game")
    ap.add_argument("--warmup", type=int, default=64)
    ap.add_argument("--all-games", action="store_true", help="no split: every game is held out")
    ap.add_argument("--cache", default="build/cache/replays")
    ap.add_argument("--train-games", action="store_true",
                    help="windows from the training split (to choose a setting without the held-out games)")
    ap.add_argument("--hit-floors", default="",
                    help="N,N,...: a sampled-hit model's odds against the hits for these hit floors too (/4096)")
    args = ap.parse_args(argv)
    try:
        floors = tuple(int(v) for v in args.hit_floors.split(",") if v.strip())
    except ValueError:
        ap.error("--hit-floors: integers 0..255")
    rep = evaluate(Path(args.model), args.replays, args.games, args.windows, args.warmup,
                   args.all_games, args.cache, progress=not args.json, train_games=args.train_games,
                   hit_floors=floors)
    if args.report:
        out = Path(args.report)
        out.mkdir(parents=True, exist_ok=True)
        (out / "eval.json").write_text(json.dumps(rep, indent=2) + "\n")
        (out / "eval.md").write_text(markdown(rep) + "\n")
        plot(rep, out / "eval.png")
    if args.json:
        json.dump(rep, sys.stdout, indent=2)
        print()
    else:
        print(markdown(rep))


if __name__ == "__main__":
    main()
