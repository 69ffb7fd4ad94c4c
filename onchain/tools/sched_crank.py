"""The scheduled crank: the ER's own task scheduler advances the session (`python -m onchain.tools.crank
--scheduled`).

A player sends `schedule_crank` once (onchain/program/src/instructions/schedule_crank.rs); from then on
MagicBlock's validator runs `run_inference(NEXT_FRAME)` by itself every `interval_ms`, signed and paid
by the validator, with no client in the loop. This module schedules it, watches the session through a
WebSocket subscription (the frame rate and its jitter *as a subscriber sees them*), and cancels it.

How the 0.8.3 scheduler paces a task (read from its source and checked against the binary, README
"The crank"): the next run is queued `interval_ms` after the previous run's transaction was *sent*
(after the ER's preflight simulation), so the period is the interval plus that send time, and the ER
raises intervals below its `min-interval` (10 ms by default; the local stack sets 1 ms) to it. So
`--hz` is a target: the crank schedules at 1000/hz ms, and every half second estimates that send
time from the period it saw and reschedules with 1000/hz minus it, corrected by how far the frame
count is behind or ahead of hz x elapsed (`calibrate`; a reschedule replaces the task, the frame goes
on). A run whose transaction fails the
preflight removes the task (e.g. once the session ended); the session's frame then simply stops.
"""
from __future__ import annotations

import dataclasses
import math
import threading
import time

import numpy as np
from solders.keypair import Keypair

from onchain.sdk import accounts as A
from onchain.sdk import instructions as I
from onchain.sdk.backend import BackendError
from onchain.tools.measure import pct
from onchain.backends.remote import RemoteBackend

# At most this many runs per schedule_crank when no bound is given (about 100 days at 60 Hz).
FOREVER = 2**29
CALIBRATE_EVERY_S = 0.5
# The send time is estimated over the last 3 s: it drifts with the machine's load, and one half-second
# window is noisy (a subscriber sees frames in bursts of one ER slot, 50 ms).
RECENT_WINDOWS = 6
# Frames behind the target that shorten the interval by 1 ms (the integral part of the control).
DEFICIT_FRAMES_PER_MS = 5


@dataclasses.dataclass
class ScheduledStats:
    hz: float
    interval_ms: int = 0
    seconds: float = 0.0
    frames: int = 0
    first_frame: int = 0
    last_frame: int = 0
    notes: int = 0  # SessionState notifications that carried a new frame
    frames_unseen: int = 0  # frames the subscriber never saw (two or more frames in one notification)
    reschedules: int = 0
    error: str | None = None
    gaps_ms: list[float] = dataclasses.field(default_factory=list)

    def summary(self) -> dict:
        period = 1000.0 / self.hz
        jitter = [abs(g - period) for g in self.gaps_ms]
        return {"crank": "scheduled (ER task scheduler)", "hz": self.hz, "interval_ms": self.interval_ms,
                "seconds": round(self.seconds, 3), "frames": self.frames,
                "ticks_per_s": round(self.frames / self.seconds, 2) if self.seconds else 0.0,
                "first_frame": self.first_frame, "last_frame": self.last_frame,
                "frames_unseen": self.frames_unseen, "reschedules": self.reschedules, "error": self.error,
                "frame_gap_ms_p50": pct(self.gaps_ms, 50), "frame_gap_ms_p99": pct(self.gaps_ms, 99),
                "tick_jitter_ms_p50": pct(jitter, 50), "tick_jitter_ms_p99": pct(jitter, 99)}


class FrameWatch:
    """A subscriber's view of a session's frames: the arrival time of every new frame number."""

    def __init__(self, backend: RemoteBackend, session_id: int, start_frame: int):
        self.b, self.session_id, self.start_frame = backend, session_id, start_frame
        self._lock = threading.Lock()
        self.seen: list[tuple[float, int]] = []  # (perf_counter at arrival, frame)
        self._frame = start_frame
        self.advanced = threading.Event()
        self._unsubscribe = None

    def __enter__(self) -> "FrameWatch":
        self._unsubscribe = self.b.subscribe_session(self.session_id, self._on_session)
        time.sleep(0.3)  # the subscription is live before anything runs
        return self

    def __exit__(self, *exc):
        time.sleep(0.1)
        self._unsubscribe()

    def _on_session(self, view) -> None:
        now = time.perf_counter()
        with self._lock:
            if view.frame > self._frame:
                self.seen.append((now, view.frame))
                self._frame = view.frame
                self.advanced.set()

    def frame(self) -> int:
        with self._lock:
            return self._frame

    def points(self, since: float = 0.0) -> list[tuple[float, int]]:
        with self._lock:
            return [(t, f) for t, f in self.seen if t >= since]

    def summary(self, hz: float) -> dict:
        """Frame gaps as the subscriber saw them; jitter = |gap - 1000/hz|; frames never seen on
        their own (two or more frames in one notification)."""
        pts = self.points()
        gaps = [(b[0] - a[0]) * 1000 for a, b in zip(pts, pts[1:])]
        unseen, prev = 0, self.start_frame
        for _, f in pts:
            unseen += f - prev - 1
            prev = f
        period = 1000.0 / hz
        jitter = [abs(g - period) for g in gaps]
        return {"last_frame": pts[-1][1] if pts else self.start_frame, "notes": len(pts), "frames_unseen": unseen,
                "frame_gap_ms_p50": pct(gaps, 50), "frame_gap_ms_p99": pct(gaps, 99),
                "jitter_ms_p50": pct(jitter, 50), "jitter_ms_p99": pct(jitter, 99)}


class ScheduledCrank:
    """Drive one delegated session with the ER's task scheduler. `player` signs schedule_crank and
    cancel_crank (only a player of the session may)."""

    def __init__(self, backend: RemoteBackend, session_id: int, player: Keypair, hz: float = 60.0,
                 step_count: int = I.ALL_STEPS):
        self.b, self.session_id, self.player, self.hz, self.step_count = backend, session_id, player, hz, step_count
        view = backend.session(session_id)
        if view is None:
            raise BackendError(f"session {session_id} not found at {backend.url}")
        self.start_frame = view.frame
        self.stats = ScheduledStats(hz)
        self.watch = FrameWatch(backend, session_id, view.frame)

    def schedule(self, interval_ms: int, iterations: int = FOREVER) -> bool:
        out = self.b.schedule_crank(self.session_id, self.player, interval_ms, iterations, self.step_count)
        if not out.ok:
            self.stats.error = out.error
            return False
        self.stats.interval_ms = interval_ms
        return True

    def cancel(self) -> bool:
        out = self.b.cancel_crank(self.session_id, self.player)
        if not out.ok:
            self.stats.error = out.error
        return out.ok

    def _measured_period_ms(self, since: float) -> float | None:
        pts = self.watch.points(since)
        if len(pts) < 5:
            return None
        (t0, f0), (t1, f1) = pts[0], pts[-1]
        return (t1 - t0) * 1000 / (f1 - f0) if f1 > f0 else None

    def run(self, seconds: float | None = None, frames: int | None = None, calibrate: bool = True,
            interval_ms: int | None = None, start_timeout: float = 5.0, stop: threading.Event | None = None,
            report_every: float = 0.0) -> ScheduledStats:
        """Schedule, watch until `seconds` have passed or `frames` frames were made, cancel.
        `frames` makes the task itself bounded (iterations = frames x runs per frame; no
        calibration), so the session stops at exactly start + frames. Raises BackendError when the
        ER refuses the schedule or no frame comes within `start_timeout` (the caller falls back
        to the Python crank)."""
        runs_per_frame = 1 if self.step_count in (0, I.ALL_STEPS) else \
            math.ceil(self.b._model(self.b.session(self.session_id).model_id)[1] / self.step_count)
        target_ms = 1000.0 / (self.hz * runs_per_frame)
        interval = interval_ms or max(1, round(target_ms))
        iterations = frames * runs_per_frame if frames is not None else FOREVER
        t0 = time.perf_counter()
        try:
            with self.watch:
                if not self.schedule(interval, iterations):
                    raise BackendError(f"schedule_crank refused: {self.stats.error}")
                t0 = time.perf_counter()
                if not self.watch.advanced.wait(start_timeout):
                    self.cancel()
                    raise BackendError(f"no frame within {start_timeout:g} s of schedule_crank (the ER's "
                                       "scheduler did not run the task)")
                calibrate = calibrate and frames is None and interval_ms is None
                last_report = last_fit = t0
                overheads: list[float] = []  # per window: measured period - interval (the ER's send time)
                while True:
                    now = time.perf_counter()
                    if stop is not None and stop.is_set():
                        break
                    if seconds is not None and now - t0 >= seconds:
                        break
                    if frames is not None and self.watch.frame() >= self.start_frame + frames:
                        break
                    if calibrate and now - last_fit >= CALIBRATE_EVERY_S:
                        period = self._measured_period_ms(last_fit + 0.1)
                        last_fit = now
                        if period is not None:
                            overheads.append(period / runs_per_frame - interval)
                            deficit = self.hz * (now - t0) - (self.watch.frame() - self.start_frame)
                            better = self._next_interval(target_ms, float(np.median(overheads[-RECENT_WINDOWS:])),
                                                         deficit)
                            if better != interval and self.schedule(better, iterations):
                                interval = better
                                self.stats.reschedules += 1
                    if report_every and now - last_report >= report_every:
                        last_report = now
                        print(f"[crank] scheduled: frame {self.watch.frame()} interval {interval} ms "
                              f"{(self.watch.frame() - self.start_frame) / (now - t0):.1f} frames/s", flush=True)
                    time.sleep(0.01)
                self.cancel()  # also after a bounded task ran out: clears the session's crank byte
        finally:
            self.stats.seconds = time.perf_counter() - t0
            self.fill_stats()
        return self.stats

    @staticmethod
    def _next_interval(target_ms: float, overhead_ms: float, deficit: float) -> int:
        """The period is the interval plus the ER's send time (`overhead_ms`, its recent median):
        aim at 1000/hz minus it, and 1 ms lower for every DEFICIT_FRAMES_PER_MS frames the session
        is behind hz x elapsed (`deficit`; higher when ahead), so that the frame count tracks the
        target instead of drifting with the estimate's error. Whole milliseconds."""
        return max(1, round(target_ms - overhead_ms - deficit / DEFICIT_FRAMES_PER_MS))

    def fill_stats(self) -> None:
        s, w = self.stats, self.watch.summary(self.hz)
        s.first_frame = self.start_frame
        s.last_frame = w["last_frame"]
        s.frames = s.last_frame - self.start_frame
        s.notes = w["notes"]
        s.frames_unseen = w["frames_unseen"]
        pts = self.watch.points()
        s.gaps_ms = [(b[0] - a[0]) * 1000 for a, b in zip(pts, pts[1:])]


def crank_flag(backend: RemoteBackend, session_id: int) -> bool:
    """Whether the session's crank byte says a scheduled crank is on."""
    return A.session_crank_scheduled(backend.account_data(backend.session_accounts(session_id)["session"]) or b"")
