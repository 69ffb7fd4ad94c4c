"""Training throughput: frames per second of `worldmodel.train`'s own step, per configuration, in
one run on this machine.

    python -m worldmodel.bench_train --replays DIR [--configs micro:1:32,tiny:1:32,tiny-wide:2:64]
                                     [--steps 30] [--warmup 5] [--rollout] [--out build/bench_train.json]

A configuration is PRESET:THREADS:BATCH (windows of --seq frames). Each runs --warmup untimed
steps, then --steps timed ones of `train.train_step` (teacher-forced loss, and with --rollout a
2-deep rollout pass on every step, the costliest step training takes) on the same games, and
reports frames/s (batch x seq per step over the median step time) and the step time p50/p90.
Configurations run one after another, never at once, so each has the machine to itself.
"""
from __future__ import annotations

import argparse
import os
import json
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from . import cartridge as C
from . import dataset as ds
from .model import WorldModel
from .train import Corpus, Streams, train_step

DEFAULT_CONFIGS = "micro:1:32,tiny:1:32,tiny-wide:1:32,tiny-wide:2:32,tiny-wide:2:64"
DEFAULT_OUT = Path("build/bench_train.json")


def parse_config(text: str) -> tuple[str, int, int]:
    try:
        preset, threads, batch = text.split(":")
        if preset not in C.PRESETS:
            raise ValueError(f"unknown preset {preset!r}")
        return preset, int(threads), int(batch)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"{text!r}: expected PRESET:THREADS:BATCH ({e})") from None


def bench_config(corpus: Corpus, preset: str, threads: int, batch: int, seq: int, steps: int, warmup: int,
                 rollout: bool, seed: int = 0) -> dict:
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    dev = torch.device("cpu")
    model = WorldModel(preset)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    streams = Streams(corpus, batch, seq, rng)
    hid = model.new_hidden(batch, dev)
    args = SimpleNamespace(rollout_max=1.0 if rollout else 0.0, rollout_ramp=0.5, rollout_depth=2, rollout_noise=0.0)
    times = []
    for k in range(warmup + steps):
        t0 = time.perf_counter()
        # frac 1: with --rollout every step takes the rollout pass (rollout_max 1.0)
        train_step(model, opt, streams.next(), hid, 1.0, args, rng, dev)
        if k >= warmup:
            times.append(time.perf_counter() - t0)
    p50 = float(np.median(times))
    return {"preset": preset, "threads": threads, "batch": batch, "seq": seq, "rollout": rollout,
            "params": sum(p.numel() for p in model.parameters()), "steps": steps,
            "step_ms_p50": round(1000 * p50, 1), "step_ms_p90": round(1000 * float(np.percentile(times, 90)), 1),
            "frames_per_s": round(batch * seq / p50, 1)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m worldmodel.bench_train", description=__doc__.split("\n\n")[0])
    ap.add_argument("--replays", required=True)
    ap.add_argument("--configs", default=DEFAULT_CONFIGS, help="comma-separated PRESET:THREADS:BATCH")
    ap.add_argument("--seq", type=int, default=64)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--rollout", action="store_true", help="a 2-deep rollout pass on every step")
    ap.add_argument("--games", type=int, default=24, help="games loaded (the first by name)")
    ap.add_argument("--cache", default="build/cache/replays")
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    args = ap.parse_args(argv)
    try:
        configs = [parse_config(c) for c in args.configs.split(",") if c]
    except argparse.ArgumentTypeError as e:
        ap.error(str(e))
    games = ds.load_folder(args.replays, args.cache, limit=args.games)
    if not games:
        raise SystemExit(f"no readable games in {args.replays}")
    corpus = Corpus(games)
    rows = []
    print(f"{'preset':<10} {'threads':>7} {'batch':>5} {'params':>9} {'step ms p50':>11} {'p90':>7} {'frames/s':>9}")
    for preset, threads, batch in configs:
        r = bench_config(corpus, preset, threads, batch, args.seq, args.steps, args.warmup, args.rollout)
        rows.append(r)
        print(f"{preset:<10} {threads:>7} {batch:>5} {r['params']:>9,} {r['step_ms_p50']:>11} {r['step_ms_p90']:>7} "
              f"{r['frames_per_s']:>9,.0f}", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"configs": rows, "games": len(games), "torch": torch.__version__,
                               "cpus": os.cpu_count()}, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
