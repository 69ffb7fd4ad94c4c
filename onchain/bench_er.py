"""`make bench-er`: one session in the real MagicBlock ER on the local stack, measured.

    python -m onchain.bench_er [--seconds 60] [--model DIR] [--hz 60] [--out build/bench_er.json]

Starts the stack (onchain.localnet, fresh ports), uploads the model on the base chain (a model
directory with manifest.bin + weights.bin; by default the shipped model `make play` loads, the
first under assets/models/, or a random `micro` cartridge (seed 0) when none is shipped), creates and delegates a session, then runs two scripted player processes
(onchain.bot) and the in-process crank at --hz for --seconds. Stops everything at the end.

Fields of build/bench_er.json:
  seconds, ticks, ticks_per_s            crank run time, frames computed, frames per second
  tick_jitter_ms_p50 / _p99              how late ticks start against the schedule t0 + k / hz
  input_to_state_ms_p50 / _p95           at the player processes: from sending submit_input for frame
                                         G to the SessionState notification with frame > G
  cu_per_frame_p50                       compute units of a whole frame (every 30th frame's txs)
  er_ms_per_inference_tx_p50             round trip of one run_inference transaction to the ER
  frames_missed                          ticks skipped because a frame overran its tick
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from solders.keypair import Keypair

from worldmodel.randmodel import random_cartridge

from .crank import Crank
from .localnet import Localnet, free_port_block
from .remote import RemoteBackend
from .svm import ROOT

MODEL_ID, SESSION_ID = 1, 1


def shipped_model() -> str | None:
    """The first model directory under assets/models/ (the game's `model: auto`)."""
    found = sorted(p for p in (ROOT / "assets" / "models").glob("*") if (p / "manifest.bin").is_file())
    return str(found[0]) if found else None


def run(seconds: float, hz: float, model: str | None, out: Path) -> dict:
    model = model or shipped_model()
    cart = model or random_cartridge("micro", seed=0)
    port = free_port_block(8, start=50000)
    tmp = Path(tempfile.mkdtemp(prefix="bench-er-"))
    auth, p1, p2 = Keypair(), Keypair(), Keypair()
    procs = []
    with Localnet(ROOT / "build" / "bench-er-net", base_port=port, er_port=port + 4) as net:
        base = RemoteBackend(net.base_url)
        er = RemoteBackend(net.er_url, ephemeral=True)
        try:
            for k in (base.payer, auth, p1, p2):
                base.airdrop(k.pubkey(), 100 * 10**9)
            base.upload_model(cart, MODEL_ID, auth)
            for step in (base.create_session(SESSION_ID, MODEL_ID, p1), base.join_session(SESSION_ID, p2),
                         base.delegate_session(SESSION_ID, p1, er.identity()), er.start_in_er(SESSION_ID)):
                if not step.ok:
                    raise RuntimeError(step.error)
            for n, kp in ((1, p1), (2, p2)):
                kf = tmp / f"p{n}.json"
                kf.write_text(json.dumps(list(bytes(kp))))
                procs.append(subprocess.Popen(
                    [sys.executable, "-m", "onchain.bot", "play", "--url", net.er_url, "--session", str(SESSION_ID),
                     "--keypair", str(kf), "--seed", str(n), "--seconds", str(seconds + 4),
                     "--json", str(tmp / f"player{n}.json")], stdout=subprocess.DEVNULL))
            time.sleep(3.0)  # players start and subscribe
            crank = Crank(er, SESSION_ID, hz, cu_every=30)
            stats = crank.run(seconds, report_every=5.0).summary()
            for p in procs:
                p.wait(60)
            lat = []
            for n in (1, 2):
                lat += json.loads((tmp / f"player{n}.json").read_text())["input_to_state_ms"]
            er.close_session(SESSION_ID, p1)
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
            er.close()
            base.close()

    def pct(xs, q):
        return round(float(np.percentile(xs, q)), 3) if xs else None
    result = {
        "seconds": stats["seconds"], "ticks": stats["frames"], "ticks_per_s": stats["ticks_per_s"],
        "tick_jitter_ms_p50": stats["tick_jitter_ms_p50"], "tick_jitter_ms_p99": stats["tick_jitter_ms_p99"],
        "input_to_state_ms_p50": pct(lat, 50), "input_to_state_ms_p95": pct(lat, 95),
        "cu_per_frame_p50": stats["cu_per_frame_p50"], "er_ms_per_inference_tx_p50": stats["tx_ms_p50"],
        "frames_missed": stats["frames_missed"],
        "hz": hz, "txs_per_frame": len(stats["plan"]), "plan": stats["plan"], "crank_errors": stats["errors"],
        "model": Path(model).name if model else "random micro cartridge (seed 0)",
        "crank": "python (onchain.crank)", "er": "@magicblock-labs/ephemeral-validator 0.8.3",
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    return result


def render(r: dict) -> None:
    rows = [("frames per second (target %g Hz)" % r["hz"], r["ticks_per_s"]),
            ("frames / missed ticks", f'{r["ticks"]} / {r["frames_missed"]}'),
            ("tick jitter p50 / p99 (ms)", f'{r["tick_jitter_ms_p50"]} / {r["tick_jitter_ms_p99"]}'),
            ("input to state p50 / p95 (ms)", f'{r["input_to_state_ms_p50"]} / {r["input_to_state_ms_p95"]}'),
            ("CU per frame p50", r["cu_per_frame_p50"]),
            ("run_inference txs per frame", r["txs_per_frame"]),
            ("ER ms per run_inference tx p50", r["er_ms_per_inference_tx_p50"])]
    w = max(len(k) for k, _ in rows)
    print(f"ER benchmark: {r['seconds']} s, {r['model']}, {r['crank']} crank")
    for k, v in rows:
        print(f"  {k:<{w}}  {v}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--hz", type=float, default=60.0)
    ap.add_argument("--model", help="model directory (manifest.bin, weights.bin); default: the first shipped model in assets/models/, else a random micro")
    ap.add_argument("--out", default=str(ROOT / "build" / "bench_er.json"))
    args = ap.parse_args(argv)
    render(run(args.seconds, args.hz, args.model, Path(args.out)))
    print("wrote", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
