"""What the held-out event probes (worldmodel.turns, worldmodel.landings) share: the model played
both ways (the INT8 cartridge and, where quantize wrote it, the float twin) and the command line."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from . import cartridge as C


def refs(model_dir: Path) -> dict:
    """{"int8": BatchRef, "float": FloatRef (only with float.pt)} of a model directory."""
    from .floatbatch import FloatRef
    from .intbatch import BatchRef
    from .train import load_checkpoint

    out = {"int8": BatchRef(C.load(model_dir))}
    if (model_dir / "float.pt").exists():
        out["float"] = FloatRef(load_checkpoint(model_dir / "float.pt"))
    return out


def main(argv, prog: str, doc: str, run, markdown, events: int, events_help: str) -> int:
    """`python -m <prog> --model DIR --replays DIR [--events N] [--cache DIR] [--json]`:
    run(model_dir, replays, events, cache) -> report, printed as markdown(report) or JSON."""
    ap = argparse.ArgumentParser(prog=f"python -m {prog}", description=doc.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--replays", required=True)
    ap.add_argument("--events", type=int, default=events, help=events_help)
    ap.add_argument("--cache", default="build/cache/replays")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    rep = run(Path(args.model), args.replays, args.events, args.cache)
    print(json.dumps(rep, indent=1) if args.json else markdown(rep))
    return 0
