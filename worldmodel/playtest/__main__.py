"""python -m worldmodel.playtest: see worldmodel/playtest/__init__.py."""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # batch steps are small: threads only contend
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from .. import cartridge as C  # noqa: E402
from .. import stages as S  # noqa: E402
from . import __doc__ as DOC  # noqa: E402
from .report import markdown, plot  # noqa: E402
from .run import run_scenarios  # noqa: E402
from .scenarios import NAMES  # noqa: E402

QUICK_GAMES, QUICK_FRAMES = 2, 1800  # --quick: two replay games, their first 30 s


def playtest(cart, model_name: str, stages, quick=False, replays=None, model_dir=None, games=None,
             all_games=False, cache="build/cache/replays", names=None):
    """-> (report dict, scenario trajectories). names: only these scenarios (default: all)."""
    t0 = time.monotonic()
    scen, traj = run_scenarios(cart, stages, quick, names=names)
    rep = {"model": model_name, "quick": quick, "stages": list(stages), "scenarios": scen}
    rep["scenario_summary"] = {n: {"passed": sum(r["pass"] is True for r in v.values()),
                                   "failed": sum(r["pass"] is False for r in v.values()),
                                   "n/a": sum(r["pass"] is None for r in v.values())} for n, v in scen.items()}
    rep["scenario_seconds"] = round(time.monotonic() - t0, 1)
    acc = {"scenarios": all(s["failed"] == 0 for s in rep["scenario_summary"].values())}
    if replays and Path(replays).is_dir():
        from .replays import held_out, run_replays

        gs = held_out(replays, model_dir or ".", all_games, cache)
        n = games if games is not None else (QUICK_GAMES if quick else None)
        gs = [g for g in gs if g.stage in {S.stage(k).slippi_id for k in stages}][:n]
        t1 = time.monotonic()
        rp = run_replays(cart, gs, QUICK_FRAMES if quick else None)
        rp.pop("x")
        rp["seconds"] = round(time.monotonic() - t1, 1)
        rep["replay"] = rp
        acc["replay_invariants"] = rp["overall"]["pass_invariants"]
        acc["replay_ko_rate"] = rp["overall"]["pass_ko_rate"]
    rep["acceptance"] = acc
    rep["seconds"] = round(time.monotonic() - t0, 1)
    return rep, traj


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=DOC, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="model directory (the cartridge)")
    ap.add_argument("--replays", default="../shared/replays", help="replay folder ('' to skip replay games)")
    ap.add_argument("--games", type=int, default=None, help="cap the replay games (default: all held out)")
    ap.add_argument("--all-games", action="store_true", help="no split: every game of --replays")
    ap.add_argument("--stages", default=",".join(s.key for s in S.STAGES))
    ap.add_argument("--quick", action="store_true", help="short budgets, 2 replay games of 30 s: a smoke run")
    ap.add_argument("--json", action="store_true", help="print the JSON report")
    ap.add_argument("--report", default=None, help="write playtest.json, playtest.md, playtest.png here")
    ap.add_argument("--cache", default="build/cache/replays")
    ap.add_argument("--scenarios", default=None, help="comma-separated scenarios (default: all): " + ", ".join(NAMES))
    ap.add_argument("--float", action="store_true",
                    help="play the model's float twin (float.pt) instead of the cartridge: what INT8 costs")
    args = ap.parse_args(argv)
    stages = [S.stage(s).key for s in args.stages.split(",")]
    model, name = C.load(Path(args.model)), Path(args.model).name
    if args.float:
        from ..floatbatch import FloatRef
        from ..train import load_checkpoint

        ckpt = Path(args.model) / "float.pt"
        if not ckpt.exists():
            ap.error(f"--float: {ckpt} does not exist (quantize writes it next to the cartridge)")
        model, name = FloatRef(load_checkpoint(ckpt)), name + " (float)"
    names = args.scenarios.split(",") if args.scenarios else None
    if names and set(names) - set(NAMES):
        ap.error(f"unknown scenarios {sorted(set(names) - set(NAMES))} (known: {', '.join(NAMES)})")
    rep, traj = playtest(model, name, stages, args.quick, args.replays,
                         args.model, args.games, args.all_games, args.cache, names)
    md = markdown(rep)
    if args.report:
        out = Path(args.report)
        out.mkdir(parents=True, exist_ok=True)
        (out / "playtest.json").write_text(json.dumps(rep, indent=2) + "\n")
        (out / "playtest.md").write_text(md + "\n")
        plot(rep, traj, out / "playtest.png")
    if args.json:
        json.dump(rep, sys.stdout, indent=2)
        print()
    else:
        print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
