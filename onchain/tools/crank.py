"""The crank: advance one session by one frame per tick.

    python -m onchain.tools.crank --url http://127.0.0.1:7799 --session 1 --hz 60 [--seconds 10]

Each tick sends the frame's `run_inference` transactions (a frame of a larger model is several
transactions of `step_count` steps each, all carrying the same expected frame) in order and waits for
them. Ticks are scheduled at t0 + k / hz; the tick jitter is how late a tick starts.

Missed ticks (a frame took longer than 1/hz): **skipped**, never bunched. The crank counts them as
`frames_missed` and goes on at the next tick boundary, so the game slows down instead of bursting.
`--catch-up N` instead runs up to N overdue frames back to back before skipping the rest.
A frame can never be applied twice: every transaction names the frame it computes (`expected_frame`)
and the program rejects it once that frame is done (StaleFrame); on that error the crank re-reads
the session's frame and continues from there (someone else cranked, or a reply was lost).

The transactions of a frame follow RemoteBackend.run_inference's plan: one transaction for all steps
at first; one that runs out of compute units (which changes nothing on chain) has its share split in
two and the frame continues from the same step. For `micro` it settles within the first frame.

`--wait-inputs S` makes it a lockstep crank: frame f runs only once both players' inputs for frame f
are in the InputBuffer (or after S seconds without them, counted as `input_timeouts`), so every frame
consumes exactly the controllers the players meant for it. The game is then as fast as the slower
player's round trip, and a replay of the inputs reproduces it bit for bit (tests/game/test_game_er.py).

`--scheduled` hands the cranking to the ER itself: a player (`--keypair`) sends `schedule_crank` and
MagicBlock's task scheduler runs `run_inference` of the frame in flight every interval, with no client
in the loop (onchain/tools/sched_crank.py); this command then watches the frames as a subscriber, prints
their rate and jitter, and cancels the task at the end. Should the ER refuse the schedule or run no
frame within 5 s, it falls back to this Python crank (unless `--no-fallback`). Without `--scheduled`
the Python crank runs: it is the default. `make bench-er` measures both.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import threading
import time

import numpy as np
from solders.keypair import Keypair

from onchain.sdk import accounts as A
from onchain.sdk import errors
from onchain.backends import profiles
from onchain.sdk import pda as P
from onchain.sdk.backend import BackendError
from onchain.sdk.keys import read_keypair
from onchain.tools.measure import pct
from onchain.backends.remote import RemoteBackend


@dataclasses.dataclass
class CrankStats:
    hz: float
    seconds: float = 0.0
    ticks: int = 0
    frames: int = 0
    frames_missed: int = 0
    stale: int = 0
    errors: int = 0
    input_timeouts: int = 0
    game_over: bool = False  # the rules ended the game (run_inference answers GameOver): the crank stops
    last_error: str | None = None
    plan: list[int] = dataclasses.field(default_factory=list)
    jitter_ms: list[float] = dataclasses.field(default_factory=list)
    frame_ms: list[float] = dataclasses.field(default_factory=list)
    tx_ms: list[float] = dataclasses.field(default_factory=list)
    cu_per_frame: list[int] = dataclasses.field(default_factory=list)
    cpu_s: float = 0.0  # this process's CPU time while it cranked (time.process_time)

    def summary(self) -> dict:
        return {"hz": self.hz, "seconds": round(self.seconds, 3), "ticks": self.ticks, "frames": self.frames,
                "ticks_per_s": round(self.frames / self.seconds, 2) if self.seconds else 0.0,
                "frames_missed": self.frames_missed, "stale": self.stale, "errors": self.errors,
                "input_timeouts": self.input_timeouts, "game_over": self.game_over,
                "last_error": self.last_error, "plan": self.plan,
                "tick_jitter_ms_p50": pct(self.jitter_ms, 50), "tick_jitter_ms_p99": pct(self.jitter_ms, 99),
                "frame_ms_p50": pct(self.frame_ms, 50), "frame_ms_p99": pct(self.frame_ms, 99),
                "tx_ms_p50": pct(self.tx_ms, 50), "cpu_s": round(self.cpu_s, 3),
                "cu_per_frame_p50": int(np.percentile(self.cu_per_frame, 50)) if self.cu_per_frame else None}


class Crank:
    def __init__(self, backend: RemoteBackend, session_id: int, hz: float = 60.0, catch_up: int = 0,
                 cu_every: int = 0, wait_inputs: float = 0.0):
        self.b, self.session_id, self.hz, self.catch_up = backend, session_id, hz, catch_up
        self.wait_inputs = wait_inputs  # lockstep: seconds to wait for both players' inputs of a frame
        self.cu_every = cu_every  # fetch the frame's compute units every N frames (0: never)
        view = backend.session(session_id)
        if view is None:
            raise BackendError(f"session {session_id} not found at {backend.url}")
        self.frame = view.frame
        self.model_id = view.model_id
        try:
            self.total_steps = backend._model(view.model_id)[1]
        except BackendError:  # an ER clones the model on first read; give it a second chance
            time.sleep(1.0)
            self.total_steps = backend._model(view.model_id)[1]
        self.stats = CrankStats(hz)
        # The program lets only the players and the session's crank key crank (run_inference.rs).
        self.refused = not (view.players[0] == backend.payer.pubkey() or view.players[1] == backend.payer.pubkey()
                            or view.crank_key == backend.payer.pubkey())
        self.game_over = len(view.rules) > 1 and view.rules[1] != 0  # the rules ended it (GameOver)

    def _resync(self):
        view = self.b.session(self.session_id)
        if view is not None:
            self.frame = view.frame

    def _await_inputs(self) -> None:
        """Lockstep: poll the InputBuffer until both players have sent an input for this frame."""
        key = P.input_buffer(self.b.program_id, self.session_id)
        deadline = time.perf_counter() + self.wait_inputs
        while True:
            inputs = A.decode_inputs(self.b.account_data(key) or b"")
            if inputs is not None and min(inputs.frames) >= self.frame:
                return
            if time.perf_counter() >= deadline:
                self.stats.input_timeouts += 1
                return
            time.sleep(0.002)

    def step_frame(self) -> bool:
        """Send one frame's transactions; True when the frame advanced."""
        if self.wait_inputs > 0:
            self._await_inputs()
        fetch_cu = self.cu_every > 0 and self.stats.frames % self.cu_every == 0
        t0 = time.perf_counter()
        out = self.b.run_inference(self.session_id, self.frame, self.model_id, fetch_cu=fetch_cu)
        dt = time.perf_counter() - t0
        if not out.ok:
            code = errors.custom_code(out.error)
            if code == errors.StaleFrame:
                self.stats.stale += 1
                self._resync()
            elif code == errors.GameOver:  # the rules ended the game: nothing left to crank
                self.game_over = self.stats.game_over = True
            elif code == errors.Unauthorized:  # this key may not crank the session: it never will
                self.refused = True
                self.stats.errors += 1
                self.stats.last_error = out.error
            else:
                self.stats.errors += 1
                self.stats.last_error = out.error
            return False
        self.frame += 1
        self.stats.frames += 1
        self.stats.frame_ms.append(dt * 1000)
        self.stats.tx_ms += [o.seconds * 1000 for o in self.b.last_frame_txs]
        self.stats.plan = list(self.b._plans.get(self.model_id, []))
        if fetch_cu:
            self.stats.cu_per_frame.append(out.cu)
        return True

    def run(self, seconds: float | None = None, frames: int | None = None,
            stop: threading.Event | None = None, report_every: float = 0.0) -> CrankStats:
        period = 1.0 / self.hz
        t0 = time.perf_counter()
        cpu0 = time.process_time()
        k = 0
        last_report = t0
        while True:
            if stop is not None and stop.is_set():
                break
            if self.game_over:
                print(f"[crank] session {self.session_id}: the game is over at frame {self.frame}", flush=True)
                break
            if self.refused:
                if not self.stats.last_error:
                    self.stats.last_error = (f"{self.b.payer.pubkey()} may not crank session {self.session_id}: "
                                             "only its players and its crank key may (Unauthorized)")
                    self.stats.errors += 1
                break
            if frames is not None and self.stats.frames >= frames:
                break
            target = t0 + k * period
            if seconds is not None and target - t0 >= seconds:
                break
            delay = target - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            self.stats.jitter_ms.append((time.perf_counter() - target) * 1000)
            self.stats.ticks += 1
            self.step_frame()
            k += 1
            due = int((time.perf_counter() - t0) / period)  # the tick that should start now
            if due > k:
                extra = min(self.catch_up, due - k)
                for _ in range(extra):
                    self.stats.ticks += 1
                    self.step_frame()
                self.stats.frames_missed += due - k - extra
                k = due
            if report_every and time.perf_counter() - last_report >= report_every:
                last_report = time.perf_counter()
                s = self.stats.summary()
                print(f"[crank] frame {self.frame} ticks {s['ticks']} missed {s['frames_missed']} "
                      f"jitter p50 {s['tick_jitter_ms_p50']} ms p99 {s['tick_jitter_ms_p99']} ms "
                      f"frame p50 {s['frame_ms_p50']} ms plan {s['plan']}", flush=True)
        self.stats.seconds = time.perf_counter() - t0
        self.stats.cpu_s = time.process_time() - cpu0
        return self.stats


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="RPC URL of the ER (or a base chain); default: the profile's url")
    ap.add_argument("--profile", default="local-er", help="chain profile in settings.yaml (default local-er)")
    ap.add_argument("--ws", help="WebSocket URL (default: RPC port + 1)")
    ap.add_argument("--session", type=int, required=True)
    ap.add_argument("--hz", type=float, default=60.0)
    ap.add_argument("--seconds", type=float, help="stop after this long (default: run until Ctrl-C)")
    ap.add_argument("--frames", type=int, help="stop after this many frames")
    ap.add_argument("--catch-up", type=int, default=0, help="overdue frames to run back to back (default 0: skip)")
    ap.add_argument("--keypair", help="keypair JSON of a player or of the session's crank key: only they may "
                    "crank (default: a fresh key, which works only if the session was created with it)")
    ap.add_argument("--airdrop", type=int, default=0, help="lamports to request for the payer first (base chains)")
    ap.add_argument("--wait-inputs", type=float, default=0.0, metavar="S",
                    help="lockstep: run a frame only once both players sent their input for it (at most S s)")
    ap.add_argument("--cu-every", type=int, default=0, help="read the compute units of every Nth frame")
    ap.add_argument("--json", help="write the summary here")
    ap.add_argument("--start-at", type=float, metavar="UNIX_TIME",
                    help="start ticking at this wall-clock time (several cranks started together, as in bench_er --sessions)")
    ap.add_argument("--scheduled", action="store_true",
                    help="let the ER's task scheduler crank (needs --keypair of a player); falls back to this crank")
    ap.add_argument("--interval-ms", type=int, help="--scheduled: the task's interval (default: from --hz, calibrated)")
    ap.add_argument("--no-fallback", action="store_true", help="--scheduled: fail instead of running the Python crank")
    args = ap.parse_args(argv)
    if args.scheduled and not args.keypair:
        ap.error("--scheduled needs --keypair: a player of the session signs schedule_crank")
    if not args.url:
        args.url = profiles.load(args.profile)["url"] or ap.error(f"profile {args.profile} has no url")
    payer = None
    if args.keypair:
        payer = read_keypair(args.keypair)
    with RemoteBackend(args.url, args.ws, payer=payer) as b:
        if args.airdrop:
            b.airdrop(b.payer.pubkey(), args.airdrop)
        if args.scheduled:
            rc = run_scheduled(b, args, payer)
            if rc is not None:
                return rc
        crank = Crank(b, args.session, args.hz, args.catch_up, args.cu_every, args.wait_inputs)
        if crank.refused:
            print(f"[crank] error: {b.payer.pubkey()} may not crank session {args.session}: only its players and "
                  "its crank key may; pass --keypair with one of them", flush=True)
            return 1
        print(f"[crank] session {args.session} at frame {crank.frame}, {crank.total_steps} steps per frame, "
              f"{args.hz:g} Hz on {args.url}", flush=True)
        if args.start_at:
            # The first frame measures the model's transaction plan (a transaction per step, each
            # read back): run it before the common start, so the ticks measured are all alike.
            crank.step_frame()
            crank.stats = CrankStats(crank.hz)
            time.sleep(max(0.0, args.start_at - time.time()))
        try:
            stats = crank.run(args.seconds, args.frames, report_every=1.0)
        except KeyboardInterrupt:
            stats = crank.stats
            stats.seconds = sum(stats.frame_ms) / 1000 if not stats.seconds else stats.seconds
        s = stats.summary()
        print(json.dumps(s, indent=1))
        if args.json:
            with open(args.json, "w") as f:
                json.dump(s, f, indent=1)
    return 0 if stats.errors == 0 or stats.frames > 0 else 1


def run_scheduled(b: RemoteBackend, args, player: Keypair) -> int | None:
    """--scheduled: the ER's task scheduler cranks; None when it could not and the Python crank
    should run instead."""
    from onchain.tools.sched_crank import ScheduledCrank
    crank = ScheduledCrank(b, args.session, player, args.hz)
    print(f"[crank] session {args.session} at frame {crank.start_frame}: scheduling the ER's crank at "
          f"{args.hz:g} Hz on {args.url}", flush=True)
    try:
        stats = crank.run(args.seconds, args.frames, interval_ms=args.interval_ms, report_every=1.0)
    except BackendError as e:
        print(f"[crank] the ER did not crank: {e}", flush=True)
        if args.no_fallback:
            return 1
        print("[crank] falling back to the Python crank", flush=True)
        return None
    except KeyboardInterrupt:
        crank.cancel()
        stats = crank.stats
    s = stats.summary()
    print(json.dumps(s, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(s, f, indent=1)
    return 0 if stats.frames > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
