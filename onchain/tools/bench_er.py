"""`make bench-er`: sessions in the real MagicBlock ER on the local stack, measured with both cranks.

    python -m onchain.tools.bench_er [--seconds 60] [--model DIR] [--hz 60] [--cranks python,scheduled]
                               [--out build/bench_er.json]
  python -m onchain.tools.bench_er --sessions N | --sweep [1,2,4,8,16]   concurrent sessions: onchain/tools/bench_sessions.py

Starts the stack (onchain.localnet, fresh ports), uploads the model on the base chain (a model
directory with manifest.bin + weights.bin; by default the shipped model `make play` loads, the
first under assets/models/, or a random `micro` cartridge (seed 0) when none is shipped). Then, per
crank, one session: create and delegate it, start the players and a spectator (below), crank
it at --hz for --seconds, end it. Per session one scripted player process (onchain.tools.bot, player 1),
the game client as player 2 and a game-client spectator. Stops everything at the end.

  python     the Python crank (onchain.tools.crank, the default crank): one run_inference per tick, sent
             from this process
  scheduled  the ER's own task scheduler (onchain.tools.sched_crank, `onchain.tools.crank --scheduled`): a
             player's schedule_crank, then the validator runs run_inference by itself

Fields of build/bench_er.json (top level: the Python crank; under "scheduled": the scheduled one):
  seconds, ticks, ticks_per_s            crank run time, frames computed, frames per second
  tick_jitter_ms_p50 / _p99              python: how late ticks start against the schedule t0 + k / hz;
                                         scheduled: |gap between consecutive frames - 1000/hz| as the
                                         subscriber sees them (frame_gap_ms_p50 / _p99: the gaps)
  input_to_state_ms_p50 / _p95           at player 1's process (onchain.tools.bot): from sending submit_input for frame
                                         G to the SessionState notification with frame > G
  cu_per_frame_p50                       compute units of a whole frame (every 30th frame's txs)
  er_ms_per_inference_tx_p50             round trip of one run_inference transaction to the ER
  frames_missed                          python: ticks skipped because a frame overran its tick;
                                         scheduled: frames the subscriber never saw (frames_unseen)
  subscriber_frame_gap_ms_p50 / _p99     both cranks: gaps between new frames at a subscriber in this
  subscriber_jitter_ms_p50 / _p99        process, and |gap - 1000/hz|; subscriber_frames_unseen: frames
  subscriber_frames_unseen               that arrived two or more to a notification
  clients.online_player / .spectator     the game client itself (`python -m game --headless`, 60 Hz
                                         display ticks): player 2 plays online (random script; player 1
                                         is the bot), a spectator watches. "playout": what its playout
                                         buffer presented; "newest": what drawing the newest frame
                                         received (the client before issue 15) would have presented on
                                         the same ticks. Each: interval_ms_p50/_p99/_max (from one new
                                         frame on screen to the next), shown_twice (ticks repeating a
                                         frame), skipped, out_of_order, arrival_to_screen_ms_p50/_p99;
                                         target_delay_ms_p50/_max (the buffer's delay),
                                         display_ticks_late (the client's loop a whole tick late),
                                         added_delay_ms_p50 (arrival to screen, playout minus newest),
                                         input_to_screen_ms_p50/_p95 (player: input sampled to the
                                         frame after it on screen)
"""
from __future__ import annotations

import argparse
import json
import os
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from solders.keypair import Keypair

from worldmodel import cartridge as C
from worldmodel.randmodel import random_cartridge

from onchain.tools.crank import Crank
from onchain.sdk.keys import write_keypair
from onchain.localnet.stack import Localnet, free_port_block
from onchain.tools.measure import pct
from onchain.backends.remote import RemoteBackend
from onchain.tools.sched_crank import FrameWatch, ScheduledCrank
from onchain.backends.svm import ROOT

MODEL_ID = 1
CRANKS = ("python", "scheduled")


def shipped_model() -> str | None:
    """The shipped model the game's `model: auto` plays (assets/models/DEFAULT, else the first)."""
    found = C.shipped_models()
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


def game_client(net: Localnet, session_id: int, seconds: float, out: Path, *argv: str) -> subprocess.Popen:
    """The real game client (`python -m game`), headless, following the session through its playout
    buffer at 60 Hz for `seconds`; it writes its summary (with "playout") to `out`."""
    cmd = [sys.executable, "-m", "game", "--headless", "--profile", "local-er", "--url", net.er_url,
           "--session", str(session_id), "--width", "640", "--height", "360", "--frames", "100000000",
           "--duration", str(seconds), "--timeout", str(seconds + 60), "--wait", "60", *argv]
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"}
    return subprocess.Popen(cmd, stdout=out.open("w"), stderr=subprocess.PIPE, text=True, env=env)


def wait_listening(proc: subprocess.Popen, timeout: float = 90.0) -> None:
    """Until the client says it follows the session (it prints "listening at frame N")."""
    end = time.monotonic() + timeout
    seen = []
    while time.monotonic() < end:
        if select.select([proc.stderr], [], [], 0.5)[0]:
            line = proc.stderr.readline()
            seen.append(line)
            if "listening at frame" in line:
                return
            if not line and proc.poll() is not None:
                break
    raise RuntimeError(f"game client did not start: {proc.args}\n{''.join(seen)[-2000:]}")


def play_session(net: Localnet, er: RemoteBackend, session_id: int, players: tuple[Keypair, Keypair],
                 seconds: float, tmp: Path, crank, client_args: tuple[str, ...] = ()) -> tuple[dict, list[float], dict]:
    """Player 1 as a scripted player process (onchain.tools.bot), player 2 as the game client (online,
    headless, random script) and a game-client spectator, on a live session while
    `crank(er, session_id, p1)` runs -> its summary, player 1's input-to-state latencies (ms), and
    the two game clients' summaries {"online_player": ..., "spectator": ...}."""
    p1, p2 = players
    procs = []
    kfs = []
    for n, kp in ((1, p1), (2, p2)):
        kfs.append(tmp / f"s{session_id}p{n}.json")
        write_keypair(kfs[-1], kp)
    outs = {"online_player": tmp / f"s{session_id}game-p2.json", "spectator": tmp / f"s{session_id}game-spec.json"}
    try:
        # The clients run 8 s past the crank's end; only frames while the session moves are measured.
        clients = {"online_player": game_client(net, session_id, seconds + 8, outs["online_player"], "--mode", "online",
                                                "--player", "2", "--keypair", str(kfs[1]), "--script", "random",
                                                *client_args),
                   "spectator": game_client(net, session_id, seconds + 8, outs["spectator"], "--mode", "spectate",
                                            *client_args)}
        procs += clients.values()
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "onchain.tools.bot", "play", "--url", net.er_url, "--session", str(session_id),
             "--keypair", str(kfs[0]), "--seed", "1", "--seconds", str(seconds + 4),
             "--json", str(tmp / f"s{session_id}player1.json")], stdout=subprocess.DEVNULL))
        for c in clients.values():
            wait_listening(c)
        time.sleep(1.0)  # the bot subscribes
        with FrameWatch(er, session_id, er.session(session_id).frame) as watch:
            stats = crank(er, session_id, p1)
        stats["subscriber"] = watch.summary(stats["hz"])
        for p in procs:
            p.wait(90)
        lat = json.loads((tmp / f"s{session_id}player1.json").read_text())["input_to_state_ms"]
        games = {}
        for name, path in outs.items():
            lines = path.read_text().strip().splitlines()
            if not lines:
                raise RuntimeError(f"game client {name} printed no summary (rc {clients[name].returncode})")
            games[name] = json.loads(lines[-1])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    return stats, lat, games


def run(seconds: float, hz: float, model: str | None, out: Path, cranks: tuple[str, ...] = CRANKS,
        client_sets: tuple[str, ...] = ()) -> dict:
    model = model or shipped_model()
    cart = model or random_cartridge("micro", seed=0)
    port = free_port_block(8, start=50000)
    tmp = Path(tempfile.mkdtemp(prefix="bench-er-"))
    auth = Keypair()
    found: dict[str, tuple[dict, list[float], dict]] = {}

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
                                           python_crank if name == "python" else scheduled_crank,
                                           tuple(a for kv in client_sets for a in ("--set", kv)))
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
    def clients(games):  # what the game clients presented: playout buffer vs newest frame, same ticks
        out = {}
        for role, g in games.items():
            po = g.get("playout") or {}
            out[role] = {"playout": po.get("playout"), "newest": po.get("newest"),
                         "added_delay_ms_p50": _diff(po, "arrival_to_screen_ms_p50"),
                         "target_delay_ms_p50": po.get("target_delay_ms_p50"),
                         "target_delay_ms_max": po.get("target_delay_ms_max"),
                         "display_ticks_late": po.get("display_ticks_late"),
                         "tick_late_ms_p99": g.get("tick_late_ms_p99"), "display_priority": g.get("display_priority"),
                         "input_to_screen_ms_p50": g.get("latency_ms_p50"), "input_to_screen_ms_p95": g.get("latency_ms_p95"),
                         "inputs_sent": g.get("inputs_sent"), "input_errors": g.get("input_errors")}
        return out
    result: dict = {}
    if "python" in found:
        stats, lat, games = found["python"]
        result.update({
            "seconds": stats["seconds"], "ticks": stats["frames"], "ticks_per_s": stats["ticks_per_s"],
            "tick_jitter_ms_p50": stats["tick_jitter_ms_p50"], "tick_jitter_ms_p99": stats["tick_jitter_ms_p99"],
            "input_to_state_ms_p50": pct(lat, 50), "input_to_state_ms_p95": pct(lat, 95),
            "cu_per_frame_p50": stats["cu_per_frame_p50"], "er_ms_per_inference_tx_p50": stats["tx_ms_p50"],
            "frames_missed": stats["frames_missed"],
            "hz": hz, "txs_per_frame": len(stats["plan"]), "plan": stats["plan"], "crank_errors": stats["errors"],
            "crank": "python (onchain.tools.crank)", **subscriber(stats), "clients": clients(games)})
    if "scheduled" in found:
        stats, lat, games = found["scheduled"]
        result["scheduled"] = {
            "seconds": stats["seconds"], "ticks": stats["frames"], "ticks_per_s": stats["ticks_per_s"],
            "tick_jitter_ms_p50": stats["tick_jitter_ms_p50"], "tick_jitter_ms_p99": stats["tick_jitter_ms_p99"],
            "frame_gap_ms_p50": stats["frame_gap_ms_p50"], "frame_gap_ms_p99": stats["frame_gap_ms_p99"],
            "input_to_state_ms_p50": pct(lat, 50), "input_to_state_ms_p95": pct(lat, 95),
            "frames_missed": stats["frames_unseen"], "interval_ms": stats["interval_ms"],
            "reschedules": stats["reschedules"], "error": stats["error"], "hz": hz,
            "crank": "scheduled (ER task scheduler, onchain.tools.crank --scheduled)", **subscriber(stats),
            "clients": clients(games)}
    result.update({"hz": hz, "model": Path(model).name if model else "random micro cartridge (seed 0)",
                   "er": "@magicblock-labs/ephemeral-validator 0.8.3", "client_settings": list(client_sets)})
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    return result


def _diff(po: dict, key: str) -> float | None:
    a, b = (po.get("playout") or {}).get(key), (po.get("newest") or {}).get(key)
    return None if a is None or b is None else round(a - b, 3)


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
    render_clients(r)


def render_clients(r: dict) -> None:
    """What the game clients presented at 60 Hz: newest frame (before) vs playout buffer (after)."""
    def fmt(p, key):
        return "-" if not p or p.get(key) is None else str(p[key])
    print("Game clients (python -m game, headless, 60 Hz display ticks): newest frame -> playout buffer")
    for crank, d in (("python", r if "ticks" in r else None), ("scheduled", r.get("scheduled"))):
        for role, c in ((d or {}).get("clients") or {}).items():
            nw, po = c["newest"], c["playout"]
            print(f"  {crank} crank, {role}:")
            for label, key in (("presented interval p50 (ms)", "interval_ms_p50"),
                               ("presented interval p99 (ms)", "interval_ms_p99"),
                               ("ticks showing a frame twice", "shown_twice"), ("frames skipped", "skipped"),
                               ("frames out of order", "out_of_order"),
                               ("arrival to screen p50 (ms)", "arrival_to_screen_ms_p50"),
                               ("arrival to screen p99 (ms)", "arrival_to_screen_ms_p99")):
                print(f"    {label:<30} {fmt(nw, key):>10} -> {fmt(po, key):>10}")
            print(f"    {'playout delay p50 / max (ms)':<30} {c['target_delay_ms_p50']} / {c['target_delay_ms_max']}"
                  f"  (added at p50: {c['added_delay_ms_p50']} ms)")
            print(f"    {'display ticks a tick late':<30} {c['display_ticks_late']}  (the client's own loop, busy machine)")
            print(f"    {'tick wake-up late p99 (ms)':<30} {c.get('tick_late_ms_p99')}  "
                  f"(display thread priority: {c.get('display_priority')})")
            if c.get("inputs_sent") is not None:
                print(f"    {'input to screen p50 / p95 (ms)':<30} {c['input_to_screen_ms_p50']} / {c['input_to_screen_ms_p95']}"
                      f"  ({c['inputs_sent']} inputs sent, {c['input_errors']} rejected)")


def main(argv: list[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else argv
    if any(a.split("=")[0] in ("--sessions", "--sweep") for a in args_in):  # concurrent sessions (issue 20)
        from onchain.tools.bench_sessions import main as sessions_main
        return sessions_main(args_in)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--hz", type=float, default=60.0)
    ap.add_argument("--model", help="model directory (manifest.bin, weights.bin); default: the first shipped model in assets/models/, else a random micro")
    ap.add_argument("--out", default=str(ROOT / "build" / "bench_er.json"))
    ap.add_argument("--cranks", default=",".join(CRANKS), help="which cranks to measure (default: python,scheduled)")
    ap.add_argument("--client-set", action="append", default=[], metavar="KEY=VALUE",
                    help="a setting for the two game clients (python -m game --set), e.g. window.realtime=false")
    args = ap.parse_args(argv)
    cranks = tuple(c for c in args.cranks.split(",") if c)
    if not cranks or any(c not in CRANKS for c in cranks):
        ap.error(f"--cranks: a comma-separated subset of {','.join(CRANKS)}")
    render(run(args.seconds, args.hz, args.model, Path(args.out), cranks, tuple(args.client_set)))
    print("wrote", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
