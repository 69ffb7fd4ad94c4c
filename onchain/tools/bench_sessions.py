"""How many matches one ER holds: N concurrent sessions at 60 Hz in the local MagicBlock ER.

    python -m onchain.tools.bench_er --sessions 4 [--seconds 30]          one level, N = 4
    python -m onchain.tools.bench_er --sweep [1,2,4,8,16] [--seconds 30]  N = 1, 2, 4, ... up to the first
                                                                    N that fails (below)
    (the same: python -m onchain.tools.bench_sessions ...)

One local stack (onchain.localnet: the base node, the ER and its proxy) for the whole run, one model
uploaded. Per level N, N fresh sessions are created, joined and delegated, and each gets what a
match has: its own Python crank process (`onchain.tools.crank`, signed by player 1, the default crank),
two scripted player processes (`onchain.tools.bot play`, an input per frame each) and a spectator process
(`onchain.tools.bot spectate`). The N cranks start ticking at the same instant and run --seconds.

First, unless --no-profile, the ER's profile (`er_profile` in the JSON): its CPU per submit_input and
per run_inference, and the frames per second it computes at most (1-3 unpaced cranks, no players).

A level *holds* when every session computes at least 99 % of --hz frames per second and every
crank's tick jitter p99 is under 5 ms. The sweep stops after the first level that does not hold.

Per level (build/bench_er_sessions.json, "levels"; a PNG of the sweep with --png):
  fps_min / fps_mean               frames per second of the slowest session / the mean of all
  ticks_skipped                    ticks the cranks skipped because a frame overran its tick (sum)
  tick_jitter_ms_p50 / _p99        median of the cranks' p50 / worst crank's p99 (how late a tick starts)
  input_to_state_ms_p50 / _p95     over every input of every player (submit_input to the state after it)
  spectator_gap_ms_p99             worst spectator's p99 gap between new frames
  inputs_late_pct                  inputs refused as StaleInput: the player saw the state so late that
                                   the frame it aimed at (the next one) was computed before its input came
  errors                           failed run_inference, inputs refused for any other reason, processes
                                   that failed
  cpu_pct                          CPU over the measured window, in % of one core (this machine has
                                   `cores`): er, base, proxy, clients (cranks + players + spectators,
                                   from their own process_time), machine (all processes, /proc/stat)
  cpu_pct_by_process               the same window for every process on the machine, by name (the
                                   module of `python -m`; "tmux (ER terminal)" draws the ER's terminal UI)
  er_cpu_ms_per_frame              the ER's CPU time per frame computed (all sessions)
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from solders.keypair import Keypair

from worldmodel.randmodel import random_cartridge

from onchain.tools.bench_er import MODEL_ID, live_session, shipped_model
from onchain.sdk import instructions as I
from onchain.sdk.wire import ControllerInput
from onchain.sdk.keys import write_keypair
from onchain.localnet.stack import Localnet, free_port_block
from onchain.tools.measure import pct
from onchain.backends.remote import RemoteBackend
from onchain.backends.svm import ROOT

JITTER_LIMIT_MS = 5.0
FPS_SHARE = 0.99  # a session holds 60 Hz when it computes >= 99 % of the ticks
DEFAULT_LEVELS = (1, 2, 4, 8, 16)
TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid: int | None) -> float:
    """utime + stime of a process and all its threads, in seconds (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    except (OSError, IndexError, ValueError, TypeError):
        return 0.0


def process_label(pid: int) -> str:
    """A readable name: the module of `python -m X`, else the command's base name."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"
    args = [a.decode(errors="replace") for a in argv if a]
    if comm.startswith("tmux"):  # its server runs the ER's terminal UI (its argv names the ER too)
        return "tmux (ER terminal)"
    if "-m" in args[:-1]:
        mod = args[args.index("-m") + 1]
        return f"{mod} {args[args.index('-m') + 2]}" if mod == "onchain.tools.bot" and len(args) > args.index("-m") + 2 else mod
    if any("ephemeral-validator" in a for a in args):
        return "ER validator"
    return comm


def cpu_by_process() -> dict[int, tuple[str, float]]:
    """pid -> (label, CPU seconds so far) for every process on the machine."""
    out = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            cpu = proc_cpu_s(int(d))
            if cpu > 0:
                out[int(d)] = (process_label(int(d)), cpu)
    return out


def cpu_delta_by_label(before: dict, after: dict, wall: float) -> dict[str, float]:
    """% of one core per process label over the window, largest first (processes that started
    during the window count from zero)."""
    acc: dict[str, float] = {}
    for pid, (label, cpu) in after.items():
        acc[label] = acc.get(label, 0.0) + cpu - before.get(pid, (label, 0.0))[1]
    return {k: round(100 * v / wall, 1) for k, v in sorted(acc.items(), key=lambda kv: -kv[1]) if v / wall >= 0.005}


def machine_cpu_s() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        vals = [int(v) for v in f.readline().split()[1:]]
    idle = vals[3] + vals[4]  # idle + iowait
    return (sum(vals) - idle) / TICK, sum(vals) / TICK


def py(*args: str) -> list[str]:
    return [sys.executable, "-m", *args]


def run_level(net: Localnet, base: RemoteBackend, er: RemoteBackend, first_id: int, n: int,
              seconds: float, hz: float, tmp: Path) -> dict:
    """N sessions at once, each with its crank, two players and a spectator -> the level's figures."""
    ids = list(range(first_id, first_id + n))
    t_setup = time.perf_counter()
    keys = {i: live_session(base, er, i) for i in ids}
    setup_s = time.perf_counter() - t_setup
    procs: list[tuple[str, int, subprocess.Popen, Path]] = []
    # Every process imports numpy/solders and connects (about a second of CPU each); ticking starts
    # for all cranks together once they all had time for that.
    start_at = time.time() + 4.0 + 1.2 * n
    client_s = start_at - time.time() + seconds + 4.0
    logs = tmp / "logs"
    logs.mkdir(exist_ok=True)
    for i in ids:
        kf = []
        for slot, kp in enumerate(keys[i], start=1):
            kf.append(tmp / f"s{i}p{slot}.json")
            write_keypair(kf[-1], kp)
        for role, argv in (
                ("p1", py("onchain.tools.bot", "play", "--keypair", str(kf[0]), "--seed", str(2 * i))),
                ("p2", py("onchain.tools.bot", "play", "--keypair", str(kf[1]), "--seed", str(2 * i + 1))),
                ("spectator", py("onchain.tools.bot", "spectate", "--hz", str(hz)))):
            out = tmp / f"s{i}{role}.json"
            argv += ["--url", net.er_url, "--session", str(i), "--seconds", f"{client_s:.1f}", "--json", str(out)]
            procs.append((role, i, subprocess.Popen(argv, stdout=(logs / f"s{i}{role}.log").open("w"),
                                                    stderr=subprocess.STDOUT), out))
        out = tmp / f"s{i}crank.json"
        argv = py("onchain.tools.crank", "--url", net.er_url, "--session", str(i), "--hz", str(hz), "--seconds", str(seconds),
                  "--keypair", str(kf[0]), "--start-at", f"{start_at:.3f}", "--json", str(out))
        procs.append(("crank", i, subprocess.Popen(argv, stdout=(logs / f"s{i}crank.log").open("w"),
                                                   stderr=subprocess.STDOUT), out))
    pids = {"er": net.state.get("er_pid"), "base": net.state.get("base_pid"), "proxy": net.state.get("proxy_pid")}
    time.sleep(max(0.0, start_at - time.time()))
    cpu0 = {k: proc_cpu_s(p) for k, p in pids.items()}
    every0 = cpu_by_process()
    m0 = machine_cpu_s()
    t0 = time.perf_counter()
    time.sleep(seconds)
    wall = time.perf_counter() - t0
    cpu1 = {k: proc_cpu_s(p) for k, p in pids.items()}
    every1 = cpu_by_process()
    m1 = machine_cpu_s()
    failed = 0
    found: dict[str, list[dict]] = {"crank": [], "p1": [], "p2": [], "spectator": []}
    for role, i, proc, out in procs:
        try:
            rc = proc.wait(client_s + 60)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = -9
        if rc != 0 or not out.is_file():
            failed += 1
            print(f"[sessions] session {i} {role} failed (rc {rc}); log: {logs / f's{i}{role}.log'}", flush=True)
            continue
        found[role].append(json.loads(out.read_text()))
    cranks, players, specs = found["crank"], found["p1"] + found["p2"], found["spectator"]
    fps = [c["ticks_per_s"] for c in cranks]
    frames = sum(c["frames"] for c in cranks)
    lat = [x for p in players for x in p["input_to_state_ms"]]
    clients_cpu = sum(c.get("cpu_s", 0.0) for c in cranks + players + specs)
    busy = (m1[0] - m0[0]) / wall
    pct1 = lambda s: round(100 * s / wall, 1)  # noqa: E731  CPU seconds over the window -> % of one core
    level = {
        "sessions": n, "seconds": round(wall, 2), "hz": hz, "setup_s": round(setup_s, 2),
        "fps_min": min(fps) if fps else 0.0, "fps_mean": round(sum(fps) / len(fps), 2) if fps else 0.0,
        "frames": frames, "ticks_skipped": sum(c["frames_missed"] for c in cranks),
        "tick_jitter_ms_p50": pct([c["tick_jitter_ms_p50"] for c in cranks if c["tick_jitter_ms_p50"] is not None], 50),
        "tick_jitter_ms_p99": max((c["tick_jitter_ms_p99"] or 0.0 for c in cranks), default=None),
        "input_to_state_ms_p50": pct(lat, 50), "input_to_state_ms_p95": pct(lat, 95),
        "spectator_gap_ms_p99": max((s["frame_gap_ms_p99"] or 0.0 for s in specs), default=None),
        "spectator_frames_unseen": sum(s["frames_unseen"] for s in specs),
        # SessionState notifications a spectator's callbacks got per new frame (1.0: one per change)
        "spectator_notes_per_frame": round(sum(len(s["frames"]) for s in specs) / max(1, sum(s["notes"] for s in specs)), 2),
        "inputs": sum(p["inputs"] for p in players),
        "inputs_late_pct": round(100 * sum(p["inputs_stale"] for p in players) / max(1, sum(p["inputs"] for p in players)), 1),
        "errors": sum(c["errors"] for c in cranks) + sum(p["error_count"] for p in players) + failed,
        "crank_errors": [c["last_error"] for c in cranks if c["last_error"]][:3],
        "input_errors": [e for p in players for e in p["errors"]][:3],
        "er_ms_per_inference_tx_p50": pct([c["tx_ms_p50"] for c in cranks if c["tx_ms_p50"] is not None], 50),
        "cpu_pct": {"er": pct1(cpu1["er"] - cpu0["er"]), "base": pct1(cpu1["base"] - cpu0["base"]),
                    "proxy": pct1(cpu1["proxy"] - cpu0["proxy"]), "clients": pct1(clients_cpu),
                    "machine": round(100 * busy, 1)},
        "cpu_pct_by_process": cpu_delta_by_label(every0, every1, wall),
        "cores": os.cpu_count(),
        "er_cpu_ms_per_frame": round(1000 * (cpu1["er"] - cpu0["er"]) / frames, 3) if frames else None,
        "clients_cpu_ms_per_frame": round(1000 * clients_cpu / frames, 3) if frames else None,
    }
    level["holds"] = bool(len(cranks) == n and level["fps_min"] >= FPS_SHARE * hz
                          and (level["tick_jitter_ms_p99"] or 0.0) < JITTER_LIMIT_MS and level["errors"] == 0)
    return level


def er_profile(net: Localnet, base: RemoteBackend, er: RemoteBackend, tmp: Path, first_id: int,
               n_tx: int = 300, probe_s: float = 6.0) -> dict:
    """Where the ER's CPU goes, before any level runs:
    - per transaction: the ER's CPU for one submit_input and one run_inference (a whole frame),
      each sent n_tx times back to back from this process, and the ER's CPU while idle;
    - its ceiling: 1, 2 and 3 crank processes on their own sessions, unpaced (as fast as the ER
      answers), no players: frames per second the ER computes in all, and its CPU share."""
    er_pid = net.state.get("er_pid")
    out: dict = {}
    c0, w0 = proc_cpu_s(er_pid), time.perf_counter()
    time.sleep(3.0)
    out["idle_cpu_pct"] = round(100 * (proc_cpu_s(er_pid) - c0) / (time.perf_counter() - w0), 1)
    p1, _ = live_session(base, er, first_id)
    b = RemoteBackend(net.er_url, ephemeral=True, payer=p1)
    try:
        frame = b.session(first_id).frame
        b.run_inference(first_id, frame, MODEL_ID)  # the plan settles on the first frame
        frame += 1

        def per_tx(send) -> float:
            c0 = proc_cpu_s(er_pid)
            for k in range(n_tx):
                send(k)
            return round(1000 * (proc_cpu_s(er_pid) - c0) / n_tx, 3)

        def one_frame(_k):
            nonlocal frame
            res = b.run_inference(first_id, frame, MODEL_ID, fetch_cu=_k == 0)
            if not res.ok:
                raise RuntimeError(f"run_inference: {res.error}")
            out.setdefault("cu_per_frame", res.cu)
            frame += 1
        ix = I.submit_input(b.program_id, p1.pubkey(), first_id, 0, frame + 5, ControllerInput())
        res = b.send([ix], [p1], fetch_cu=True)
        out["cu_per_submit_input"] = res.cu if res.ok else None
        out["er_cpu_ms_per_submit_input"] = per_tx(
            lambda k: b.submit_input(first_id, p1, frame + 5, ControllerInput(stick_x=k % 100)))
        out["er_cpu_ms_per_run_inference"] = per_tx(one_frame)
    finally:
        b.close()
    ceiling = []
    next_id = first_id + 1
    for k in (1, 2, 3):
        procs = []
        for j in range(k):
            sid = next_id
            next_id += 1
            kp = tmp / f"probe{sid}.json"
            write_keypair(kp, live_session(base, er, sid)[0])
            procs.append((sid, subprocess.Popen(
                py("onchain.tools.crank", "--url", net.er_url, "--session", str(sid), "--hz", "100000",
                   "--seconds", str(probe_s + 4), "--keypair", str(kp), "--json", str(tmp / f"probe{sid}.out.json")),
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))
        time.sleep(3.0)  # imports, connections, the first frame
        c0, m0, w0 = proc_cpu_s(er_pid), machine_cpu_s(), time.perf_counter()
        time.sleep(probe_s)
        w = time.perf_counter() - w0
        c1, m1 = proc_cpu_s(er_pid), machine_cpu_s()
        fps = []
        for sid, proc in procs:
            proc.wait(60)
            fps.append(json.loads((tmp / f"probe{sid}.out.json").read_text())["ticks_per_s"])
        ceiling.append({"cranks": k, "frames_per_s": round(sum(fps), 1), "er_cpu_pct": round(100 * (c1 - c0) / w, 1),
                        "machine_cpu_pct": round(100 * (m1[0] - m0[0]) / w, 1)})
    out["unpaced_cranks"] = ceiling
    out["next_session_id"] = next_id
    return out


def run(levels: list[int], seconds: float, hz: float, model: str | None, out: Path,
        stop_at_first_miss: bool = True, profile: bool = True, run_dir: Path | None = None) -> dict:
    model = model or shipped_model()
    cart = model or random_cartridge("micro", seed=0)
    port = free_port_block(8, start=50000)
    tmp = Path(tempfile.mkdtemp(prefix="bench-sessions-"))
    result = {"hz": hz, "seconds_per_level": seconds, "cores": os.cpu_count(),
              "model": Path(model).name if model else "random micro cartridge (seed 0)",
              "er": "@magicblock-labs/ephemeral-validator 0.8.3", "jitter_limit_ms": JITTER_LIMIT_MS,
              "fps_share": FPS_SHARE, "levels": []}
    with Localnet(run_dir or ROOT / "build" / "bench-sessions-net", base_port=port, er_port=port + 4) as net:
        base = RemoteBackend(net.base_url)
        er = RemoteBackend(net.er_url, ephemeral=True)
        try:
            auth = Keypair()
            for k in (base.payer, auth):
                base.airdrop(k.pubkey(), 100 * 10**9)
            base.upload_model(cart, MODEL_ID, auth)
            next_id = 1
            if profile:
                print("[sessions] the ER's profile: CPU per transaction, then unpaced cranks ...", flush=True)
                result["er_profile"] = prof = er_profile(net, base, er, tmp, next_id)
                next_id = prof.pop("next_session_id")
                print_profile(prof)
            for n in levels:
                print(f"[sessions] {n} session(s) for {seconds:g} s ...", flush=True)
                level = run_level(net, base, er, next_id, n, seconds, hz, tmp)
                next_id += n
                result["levels"].append(level)
                print_level(level)
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(json.dumps(result, indent=1))
                if stop_at_first_miss and not level["holds"]:
                    break
            # The sessions are left delegated: the stack and its ledger are thrown away with the run
            # (ending dozens at once would only measure the 0.8.3 ER's slow undelegation).
        finally:
            er.close()
            base.close()
    held = [lv["sessions"] for lv in result["levels"] if lv["holds"]]
    result["largest_holding"] = max(held) if held else 0
    out.write_text(json.dumps(result, indent=1))
    return result


COLUMNS = (("N", "sessions", "{}"), ("fps min", "fps_min", "{:.2f}"), ("fps mean", "fps_mean", "{:.2f}"),
           ("skipped", "ticks_skipped", "{}"), ("jit p50", "tick_jitter_ms_p50", "{:.2f}"),
           ("jit p99", "tick_jitter_ms_p99", "{:.2f}"), ("in→st p50", "input_to_state_ms_p50", "{:.1f}"),
           ("in→st p95", "input_to_state_ms_p95", "{:.1f}"), ("spec gap p99", "spectator_gap_ms_p99", "{:.1f}"),
           ("late in%", "inputs_late_pct", "{:.1f}"), ("errors", "errors", "{}"))


def _fmt(v, f):
    return "-" if v is None else f.format(v)


def print_profile(p: dict) -> None:
    print(f"  ER CPU: idle {p['idle_cpu_pct']} % of a core; per submit_input {p['er_cpu_ms_per_submit_input']} ms; "
          f"per run_inference (a whole frame, {p.get('cu_per_frame')} CU) {p['er_cpu_ms_per_run_inference']} ms", flush=True)
    for c in p["unpaced_cranks"]:
        print(f"  {c['cranks']} unpaced crank(s): {c['frames_per_s']} frames/s in all, ER {c['er_cpu_pct']} % of a core, "
              f"machine {c['machine_cpu_pct']} %", flush=True)


def print_level(lv: dict) -> None:
    cpu = lv["cpu_pct"]
    print("  " + "  ".join(f"{h}={_fmt(lv[k], f)}" for h, k, f in COLUMNS)
          + f"  cpu% er={cpu['er']} clients={cpu['clients']} base={cpu['base']} machine={cpu['machine']}"
          + f"  holds={lv['holds']}", flush=True)


def render(r: dict) -> None:
    print(f"Concurrent sessions in one ER ({r['er']}), {r['model']}, {r['seconds_per_level']:g} s per level, "
          f"{r['hz']:g} Hz, {r['cores']} cores; holds = every session >= {100 * r['fps_share']:.0f} % of the "
          f"ticks and every crank's tick jitter p99 < {r['jitter_limit_ms']:g} ms")
    head = [h for h, _, _ in COLUMNS] + ["ER cpu%", "clients cpu%", "machine cpu%", "ER ms/frame", "holds"]
    rows = [[_fmt(lv[k], f) for _, k, f in COLUMNS]
            + [str(lv["cpu_pct"]["er"]), str(lv["cpu_pct"]["clients"]), str(lv["cpu_pct"]["machine"]),
               _fmt(lv["er_cpu_ms_per_frame"], "{:.2f}"), "yes" if lv["holds"] else "no"] for lv in r["levels"]]
    widths = [max(len(h), *(len(row[c]) for row in rows)) for c, h in enumerate(head)]
    print("  " + "  ".join(h.rjust(w) for h, w in zip(head, widths)))
    for row in rows:
        print("  " + "  ".join(v.rjust(w) for v, w in zip(row, widths)))
    print(f"  largest N holding 60 frames/s and p99 jitter < {r['jitter_limit_ms']:g} ms: {r['largest_holding']}")
    if "er_profile" in r:
        print_profile(r["er_profile"])
        p = r["er_profile"]
        if p.get("cu_per_frame") and p.get("cu_per_submit_input"):
            per_h = (p["cu_per_frame"] + 2 * p["cu_per_submit_input"]) * r["hz"] * 3600
            print(f"  compute units per session-hour: ({p['cu_per_frame']:,} + 2 x {p['cu_per_submit_input']:,}) x "
                  f"{r['hz']:g} x 3600 = {per_h:,.0f}")


def plot(r: dict, png: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    lv = r["levels"]
    n = [x["sessions"] for x in lv]
    fig, ax = plt.subplots(1, 4, figsize=(17, 3.8))
    ax[0].plot(n, [x["fps_min"] for x in lv], "o-", label="slowest session")
    ax[0].plot(n, [x["fps_mean"] for x in lv], "s--", label="mean")
    ax[0].axhline(FPS_SHARE * r["hz"], color="grey", lw=0.8, ls=":", label=f"{100 * FPS_SHARE:.0f} % of {r['hz']:g} Hz")
    ax[0].set(title="frames per second per session", xlabel="concurrent sessions")
    ax[0].legend(fontsize=8)
    ax[1].plot(n, [x["tick_jitter_ms_p99"] for x in lv], "o-", label="tick jitter p99 (worst crank)")
    ax[1].plot(n, [x["input_to_state_ms_p95"] for x in lv], "s--", label="input→state p95")
    ax[1].axhline(JITTER_LIMIT_MS, color="grey", lw=0.8, ls=":", label=f"{JITTER_LIMIT_MS:g} ms")
    ax[1].set(title="latency (ms)", xlabel="concurrent sessions", yscale="log")
    ax[1].legend(fontsize=8)
    for key, label in (("er", "ER validator"), ("clients", "cranks + players + spectators"), ("base", "base node"),
                       ("machine", "whole machine")):
        ax[2].plot(n, [x["cpu_pct"][key] for x in lv], "o-", label=label)
    ax[2].axhline(100 * r["cores"], color="grey", lw=0.8, ls=":", label=f"{r['cores']} cores")
    ax[2].set(title="CPU (% of one core)", xlabel="concurrent sessions")
    ax[2].legend(fontsize=8)
    for a in ax[:3]:
        a.set_xscale("log", base=2)
        a.set_xticks(n, [str(x) for x in n])
    prof = r.get("er_profile")
    if prof:
        k = [c["cranks"] for c in prof["unpaced_cranks"]]
        ax[3].bar([str(x) for x in k], [c["frames_per_s"] for c in prof["unpaced_cranks"]], color="tab:blue")
        for i, c in enumerate(prof["unpaced_cranks"]):
            ax[3].annotate(f"ER {c['er_cpu_pct']:.0f} %", (i, c["frames_per_s"]), ha="center", va="bottom", fontsize=8)
        ax[3].axhline(r["hz"], color="grey", lw=0.8, ls=":", label=f"one session ({r['hz']:g} frames/s)")
        ax[3].set(title="ER ceiling: unpaced cranks, no players", xlabel="cranks", ylabel="frames/s in all")
        ax[3].legend(fontsize=8)
    else:
        ax[3].set_visible(False)
    fig.suptitle(f"Sessions in one local MagicBlock ER ({r['model']}, {r['seconds_per_level']:g} s per level)")
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=90)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--sessions", type=int, help="one level: N concurrent sessions")
    g.add_argument("--sweep", nargs="?", const=",".join(map(str, DEFAULT_LEVELS)),
                   help="levels to run, comma-separated (default 1,2,4,8,16), until the first that does not hold")
    ap.add_argument("--seconds", type=float, default=30.0, help="seconds per level (default 30)")
    ap.add_argument("--hz", type=float, default=60.0)
    ap.add_argument("--model", help="model directory; default: the first shipped model in assets/models/")
    ap.add_argument("--out", default=str(ROOT / "build" / "bench_er_sessions.json"))
    ap.add_argument("--png", help="write a PNG of the sweep here (default: next to --out)")
    ap.add_argument("--run-dir", help="the local stack's folder (default build/bench-sessions-net)")
    ap.add_argument("--no-profile", action="store_true", help="skip the ER's profile (CPU per transaction, unpaced cranks)")
    args = ap.parse_args(argv)
    if args.sessions is not None:
        if args.sessions < 1:
            ap.error("--sessions: at least 1")
        levels = [args.sessions]
    else:
        try:
            levels = [int(x) for x in args.sweep.split(",") if x]
        except ValueError:
            ap.error("--sweep: comma-separated session counts, e.g. 1,2,4,8")
        if not levels or min(levels) < 1:
            ap.error("--sweep: comma-separated session counts >= 1")
    out = Path(args.out)
    r = run(levels, args.seconds, args.hz, args.model, out, stop_at_first_miss=args.sweep is not None,
            profile=not args.no_profile, run_dir=Path(args.run_dir) if args.run_dir else None)
    render(r)
    png = Path(args.png) if args.png else out.with_suffix(".png")
    plot(r, png)
    print("wrote", out, "and", png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
