"""A scripted network player or spectator, one process each (tests, the benchmark, a demo).

    python -m onchain.tools.bot play --url ER --session ID --keypair P.json --seconds 10 [--seed 1] [--json out] [--ready F]
    python -m onchain.tools.bot spectate --url ER --session ID --seconds 10 [--json out] [--ready F]

`play` subscribes to the session and, for every new SessionState it sees (next frame F), sends its
own controller for frame F + 1 (F may already be in flight) without waiting for the reply, a
deterministic pattern from --seed; it records the input-to-state latency: from sending
submit_input for frame G to the notification of the SessionState that has computed G (frame > G).
`spectate` records every SessionState frame number it receives, in arrival order, and the gaps
between new frames (p50/p99, and |gap - 1000/--hz|). Both report `cpu_s`, the process's CPU time
while it ran (the benchmark's share of the machine taken by clients).
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
import time

import numpy as np
from solders.keypair import Keypair

from onchain.sdk import errors
from onchain.backends import profiles
from onchain.sdk.wire import ControllerInput, SessionView
from onchain.sdk.keys import read_keypair
from onchain.tools.measure import pct
from onchain.backends.remote import RemoteBackend
from onchain.tools.sched_crank import FrameWatch


def pattern(seed: int, frame: int) -> ControllerInput:
    """A deterministic controller: the stick sweeps, A is tapped every 8 frames."""
    rng = np.random.default_rng(seed * 1_000_003 + frame // 30)
    x, y = (int(v) for v in rng.integers(-127, 128, 2))
    return ControllerInput(stick_x=x, stick_y=y, buttons=1 if frame % 8 == 0 else 0)


class Player:
    def __init__(self, backend: RemoteBackend, session_id: int, key: Keypair, seed: int):
        self.b, self.session_id, self.key, self.seed = backend, session_id, key, seed
        self.sent: dict[int, float] = {}  # frame -> perf_counter at send
        self.latency_ms: list[float] = []
        self.outcomes: list = []
        self.last_frame = -1
        self.lock = threading.Lock()

    def on_state(self, view: SessionView):
        now = time.perf_counter()
        with self.lock:
            for f in [f for f in self.sent if f < view.frame]:
                self.latency_ms.append((now - self.sent.pop(f)) * 1000)
            if view.frame <= self.last_frame or view.status != 1:
                return
            self.last_frame = view.frame
            # Frame view.frame may already be in flight (its first step transactions ran), so
            # the earliest frame an input can still reach is the one after it.
            target = view.frame + 1
            self.sent[target] = time.perf_counter()
        self.outcomes.append(self.b.submit_input_async(self.session_id, self.key, target,
                                                       pattern(self.seed, target)))

    def summary(self) -> dict:
        outs = [f.result(10) for f in self.outcomes]
        ok = [o for o in outs if o.ok]
        # StaleInput: the frame was computed before the input arrived (the player saw the state
        # late); the input is refused and changes nothing. Every other refusal is an error.
        stale = [o for o in outs if not o.ok and errors.custom_code(o.error) == errors.StaleInput]
        bad = [o.error for o in outs if not o.ok and errors.custom_code(o.error) != errors.StaleInput]
        lat = self.latency_ms
        return {"inputs": len(outs), "inputs_ok": len(ok), "inputs_stale": len(stale), "errors": bad[:3],
                "error_count": len(bad),
                "input_to_state_ms": lat,
                "input_to_state_ms_p50": pct(lat, 50), "input_to_state_ms_p95": pct(lat, 95)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["play", "spectate"])
    ap.add_argument("--url", help="the ER's RPC URL; default: the profile's url")
    ap.add_argument("--profile", default="local-er", help="chain profile in settings.yaml (default local-er)")
    ap.add_argument("--session", type=int, required=True)
    ap.add_argument("--keypair")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--hz", type=float, default=60.0, help="spectate: the frame rate its jitter is measured against")
    ap.add_argument("--json")
    ap.add_argument("--ready", help="a file written once subscribed (what a harness waits for before cranking)")
    args = ap.parse_args(argv)

    def ready() -> None:
        if args.ready:
            with open(args.ready, "w") as f:
                f.write("subscribed\n")

    if not args.url:
        args.url = profiles.load(args.profile)["url"] or ap.error(f"profile {args.profile} has no url")
    with RemoteBackend(args.url, ephemeral=True) as b:
        if args.mode == "play":
            if not args.keypair:
                ap.error("play needs --keypair")
            key = read_keypair(args.keypair)
            player = Player(b, args.session, key, args.seed)
            cpu0 = time.process_time()
            unsub = b.subscribe_session(args.session, player.on_state)
            ready()
            time.sleep(args.seconds)
            unsub()
            out = player.summary()
        else:
            frames: list[int] = []
            view = b.session(args.session)
            watch = FrameWatch(b, args.session, view.frame if view is not None else -1)
            cpu0 = time.process_time()
            unsub = b.subscribe_session(args.session, lambda v: frames.append(v.frame))
            with watch:
                ready()
                time.sleep(args.seconds)
            unsub()
            out = {"frames": frames, "reconnects": b.reconnects, **watch.summary(args.hz)}
        out["cpu_s"] = round(time.process_time() - cpu0, 3)
    text = json.dumps(out)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text)
    print(json.dumps({k: v for k, v in out.items() if k not in ("frames", "input_to_state_ms")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
