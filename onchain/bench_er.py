"""`make bench-er`: sessions in the real MagicBlock ER on the local stack, measured with both cranks.

    python -m onchain.bench_er [--seconds 60] [--model DIR] [--hz 60] [--cranks python,scheduled]
                               [--out build/bench_er.json]

Starts the stack (onchain.localnet, fresh ports), uploads the model on the base chain (a model
directory with manifest.bin + weights.bin; by default the shipped model `make play` loads, the
first under assets/models/, or a random `micro` cartridge (seed 0) when none is shipped). Then, per
crank, one session: create and delegate it, start two scripted player processes (onchain.bot), crank
it at --hz for --seconds, end it. Stops everything at the end.

  python     the Python crank (onchain.crank, the default crank): one run_inference per tick, sent
             from this process
  scheduled  the ER's own task scheduler (onchain.sched_crank, `onchain.crank --scheduled`): a
             player's schedule_crank, then the validator runs run_inference by itself

Fields of build/bench_er.json (top level: the Python crank; under "scheduled": the scheduled one):
  seconds, ticks, ticks_per_s            crank run time, frames computed, frames per second
  tick_jitter_ms_p50 / _p99              python: how late ticks start against the schedule t0 + k / hz;
                                         scheduled: |gap between consecutive frames - 1000/hz| as the
                                         subscriber sees them (frame_gap_ms_p50 / _p99: the gaps)
  input_to_state_ms_p50 / _p95           at the player processes: from sending submit_input for frame
                                         G to the SessionState notification with frame > G
  cu_per_frame_p50                       compute units of a whole frame (every 30th frame's txs)
  er_ms_per_inference_tx_p50             round trip of one run_inference transaction to the ER
  frames_missed                          python: ticks skipped because a frame overran its tick;
                                         scheduled: frames the subscriber never saw (frames_unseen)
  subscriber_frame_gap_ms_p50 / _p99     both cranks: gaps between new frames at a subscriber in this
  subscriber_jitter_ms_p50 / _p99        process, and |gap - 1000/hz|; subscriber_frames_unseen: frames
  subscriber_frames_unseen               that arrived two or more to a notification
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from solders.keypair import Keypair

from worldmodel.randmodel import random_cartridge

from .crank import Crank
from .keys import write_keypair
from .localnet import Localnet, free_port_block
from .measure import pct
from .remote import RemoteBackend
from .sched_crank import FrameWatch, ScheduledCrank
from .svm import ROOT

MODEL_ID = 1
CRANKS = ("python", "scheduled")


def shipped_model() -> str | None:
    """The first model directory under assets/models/ (the game's `model: auto`)."""
    found = sorted(p for p in (ROOT / "assets" / "models").glob("*") if (p / "manifest.bin").is_file())
    return str(found[0]) if found else None


def live_session(base: RemoteBackend, er: RemoteBackend, session_id: int) -> tuple[Keypair, Keypair]:
    """Create, join and delegate a session; ready to crank in the ER."""
    p1, p2 = Keypair(), Keypair()
    for k in (p1, p2):
        base.airdrop(k.pubkey(), 100 * 10**9)
    # The ER's identity is the only validator it may be delegated to; the ER backend's key cranks.
    for step in (base.create_session(session_id, MODEL_ID, p1, validator=er.identity(), crank_key=er.payer.pubkey()),
                 base.join_session(session_id, p2), base.delegate_session(session_id, p1),
                 er.start_in_er(session_id)):
        if not step.ok:
            raise RuntimeError(step.error)
    return p1, p2


def play_session(net: Localnet, er: RemoteBackend, session_id: int, players: tuple[Keypair, Keypair],
                 seconds: float, tmp: Path, crank) -> tuple[dict, list[float]]:
    """Two player processes on a live session while `crank(er, session_id, p1)` runs -> its summary
    and the players' input-to-state latencies (ms)."""
    p1, p2 = players
    procs = []
    try:
        for n, kp in ((1, p1), (2, p2)):
            kf = tmp / f"s{session_id}p{n}.json"
            write_keypair(kf, kp)
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "onchain.bot", "play", "--url", net.er_url, "--session", str(session_id),
                 "--keypair", str(kf), "--seed", str(n), "--seconds", str(seconds + 4),
                 "--json", str(tmp / f"s{session_id}player{n}.json")], stdout=subprocess.DEVNULL))
        time.sleep(3.0)  # players start and subscribe
        with FrameWatch(er, session_id, er.session(session_id).frame) as watch:
            stats = crank(er, session_id, p1)
        stats["subscriber"] = watch.summary(stats["hz"])
        for p in procs:
            p.wait(60)
        lat = []
        for n in (1, 2):
            lat += json.loads((tmp / f"s{session_id}player{n}.json").read_text())["input_to_state_ms"]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    return stats, lat


def run(seconds: float, hz: float, model: str | None, out: Path, cranks: tuple[str, ...] = CRANKS) -> dict:
    model = model or shipped_model()
    cart = model or random_cartridge("micro", seed=0)
    port = free_port_block(8, start=50000)
    tmp = Path(tempfile.mkdtemp(prefix="bench-er-"))
    auth = Keypair()
    found: dict[str, tuple[dict, list[float]]] = {}

    def python_crank(er, session_id, _player):
        return Crank(er, session_id, hz, cu_every=30).run(seconds, report_every=5.0).summary()

    def scheduled_crank(er, session_id, player):
        return ScheduledCrank(er, session_id, player, hz).run(seconds, report_every=5.0).summary()

    with Localnet(ROOT / "build" / "bench-er-net", base_port=port, er_port=port + 4) as net:
        base = RemoteBackend(net.base_url)
        er = RemoteBackend(net.er_url, ephemeral=True)
        try:
            for k in (base.payer, auth):
                base.airdrop(k.pubkey(), 100 * 10**9)
            base.upload_model(cart, MODEL_ID, auth)
            # Every session is delegated before any is cranked: the ER clones their accounts while idle.
            players = [live_session(base, er, n) for n in range(1, len(cranks) + 1)]
            for n, name in enumerate(cranks, start=1):
                found[name] = play_session(net, er, n, players[n - 1], seconds, tmp,
                                           python_crank if name == "python" else scheduled_crank)
            # Sessions end (commit + undelegate) only after every measurement: the 0.8.3 ER has
            # stalled for a minute right after an end_session, which would hit the next crank.
            for n, (p1, _) in enumerate(players, start=1):
                er.close_session(n, p1)
        finally:
            er.close()
            base.close()

    def subscriber(stats):  # what a separate subscriber in this process saw, for either crank
        w = stats["subscriber"]
        return {"subscriber_frame_gap_ms_p50": w["frame_gap_ms_p50"], "subscriber_frame_gap_ms_p99": w["frame_gap_ms_p99"],
                "subscriber_jitter_ms_p50": w["jitter_ms_p50"], "subscriber_jitter_ms_p99": w["jitter_ms_p99"],
                "subscriber_frames_unseen": w["frames_unseen"]}
    result: dict = {}
    if "python" in found:
        stats, lat = found["python"]
        result.update({
            "seconds": stats["seconds"], "ticks": stats["frames"], "ticks_per_s": stats["ticks_per_s"],
            "tick_jitter_ms_p50": stats["tick_jitter_ms_p50"], "tick_jitter_ms_p99": stats["tick_jitter_ms_p99"],
            "input_to_state_ms_p50": pct(lat, 50), "input_to_state_ms_p95": pct(lat, 95),
            "cu_per_frame_p50": stats["cu_per_frame_p50"], "er_ms_per_inference_tx_p50": stats["tx_ms_p50"],
            "frames_missed": stats["frames_missed"],
            "hz": hz, "txs_per_frame": len(stats["plan"]), "plan": stats["plan"], "crank_errors": stats["errors"],
            "crank": "python (onchain.crank)", **subscriber(stats)})
    if "scheduled" in found:
        stats, lat = found["scheduled"]
        result["scheduled"] = {
            "seconds": stats["seconds"], "ticks": stats["frames"], "ticks_per_s": stats["ticks_per_s"],
            "tick_jitter_ms_p50": stats["tick_jitter_ms_p50"], "tick_jitter_ms_p99": stats["tick_jitter_ms_p99"],
            "frame_gap_ms_p50": stats["frame_gap_ms_p50"], "frame_gap_ms_p99": stats["frame_gap_ms_p99"],
            "input_to_state_ms_p50": pct(lat, 50), "input_to_state_ms_p95": pct(lat, 95),
            "frames_missed": stats["frames_unseen"], "interval_ms": stats["interval_ms"],
            "reschedules": stats["reschedules"], "error": stats["error"], "hz": hz,
            "crank": "scheduled (ER task scheduler, onchain.crank --scheduled)", **subscriber(stats)}
    result.update({"hz": hz, "model": Path(model).name if model else "random micro cartridge (seed 0)",
                   "er": "@magicblock-labs/ephemeral-validator 0.8.3"})
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    return result


def render(r: dict) -> None:
    py, sc = (r if "ticks" in r else None), r.get("scheduled")

    def cell(d, key, fmt="{}"):
        return "-" if d is None or d.get(key) is None else fmt.format(d[key])

    def pair(d, low, high):
        return "-" if d is None else f"{d[low]} / {d[high]}"

    rows = [
        ("frames per second (target %g Hz)" % r["hz"], cell(py, "ticks_per_s"), cell(sc, "ticks_per_s")),
        ("frames in the run", cell(py, "ticks"), cell(sc, "ticks")),
        ("missed ticks / frames unseen", cell(py, "frames_missed"), cell(sc, "frames_missed")),
        ("tick jitter p50 / p99 (ms) (python: crank side)",
         pair(py, "tick_jitter_ms_p50", "tick_jitter_ms_p99"), pair(sc, "tick_jitter_ms_p50", "tick_jitter_ms_p99")),
        ("subscriber: gap between frames p50 / p99 (ms)",
         pair(py, "subscriber_frame_gap_ms_p50", "subscriber_frame_gap_ms_p99"), pair(sc, "subscriber_frame_gap_ms_p50", "subscriber_frame_gap_ms_p99")),
        ("subscriber: |gap - 1/hz| p50 / p99 (ms)",
         pair(py, "subscriber_jitter_ms_p50", "subscriber_jitter_ms_p99"), pair(sc, "subscriber_jitter_ms_p50", "subscriber_jitter_ms_p99")),
        ("input to state p50 / p95 (ms)",
         pair(py, "input_to_state_ms_p50", "input_to_state_ms_p95"), pair(sc, "input_to_state_ms_p50", "input_to_state_ms_p95")),
        ("CU per frame p50", cell(py, "cu_per_frame_p50"), "(same instruction)"),
        ("run_inference txs per frame", cell(py, "txs_per_frame"), "1 per run"),
        ("ER ms per run_inference tx p50", cell(py, "er_ms_per_inference_tx_p50"), "-"),
        ("task interval (ms)", "-", cell(sc, "interval_ms")),
    ]
    w = max(len(k) for k, _, _ in rows)
    secs = (py or sc or {}).get("seconds")
    print(f"ER benchmark: {secs} s per crank, {r['model']}")
    print(f"  {'':<{w}}  {'python crank':>16}  {'scheduled crank':>18}")
    for k, a, b in rows:
        print(f"  {k:<{w}}  {a:>16}  {b:>18}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--hz", type=float, default=60.0)
    ap.add_argument("--model", help="model directory (manifest.bin, weights.bin); default: the first shipped model in assets/models/, else a random micro")
    ap.add_argument("--out", default=str(ROOT / "build" / "bench_er.json"))
    ap.add_argument("--cranks", default=",".join(CRANKS), help="which cranks to measure (default: python,scheduled)")
    args = ap.parse_args(argv)
    cranks = tuple(c for c in args.cranks.split(",") if c)
    if not cranks or any(c not in CRANKS for c in cranks):
        ap.error(f"--cranks: a comma-separated subset of {','.join(CRANKS)}")
    render(run(args.seconds, args.hz, args.model, Path(args.out), cranks))
    print("wrote", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
