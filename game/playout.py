"""An adaptive playout buffer: frames from the network shown at a steady 60 Hz (issue 15).

The ER delivers SessionState notifications in bunches (several frames per 50 ms block), so a client
that draws the newest frame it has shows a frame for 0 ms, the next for 50 ms: stutter. The buffer
instead shows frame f at a steady time after the frames' *earliest* arrival path:

    source clock  a_f ~ m + P * f       (arrival time a_f of frame f over the last `window_s`: the
                                        period P by least squares, m the earliest arrival's line)
    lateness l_f = a_f - m - P * f      (the arrival jitter: how late frame f came against that path)
    delay D      = the `quantile` of l (in frames) + `margin` frames
    target c*(t) = (t - m) / P - D      (the frame that is due on screen at time t)

The client presents every `display_period()` = max(T, P) (T = 1/hz: 60 Hz when the crank keeps
up, the crank's own rate when it runs slow, so that a crank's late tick is absorbed by the buffer
rather than shown as a repeated frame). Each display tick the playout position c advances by
max(T, P) / P source frames (one when P >= T; `ticks` times that when the loop ran late), times a
rate that steers c towards c*: 1 inside a dead band of `deadband` frames, up to
1 + `max_speedup` when c lags (after a stall: one frame in 1/max_speedup is skipped, never a jump),
down to 1 - `max_slowdown` when it leads (the delay grew: now and then a frame is shown twice). The
frame shown is floor(c), or the newest frame received when floor(c) has not arrived (an underrun:
c then waits there). c never goes back, so frames are never shown out of order.

What the player does stays immediate: the session sends this desktop's input for the newest frame
received (OnlineSession.tick reads the follower, not this buffer); only the picture is delayed.

`stats()` measures what was presented, for this buffer ("playout") and, from the same ticks, for
the policy the client had before ("newest": the newest frame received at each tick), from the
stream's second new frame to its last: presented-frame interval (time between a frame first shown and the next new frame first shown),
ticks that repeated a frame, frames skipped, frames shown out of order, and arrival-to-screen delay.
"""
from __future__ import annotations

import collections
import dataclasses
import math
import threading

import numpy as np

from onchain.tools.measure import pct


@dataclasses.dataclass
class PlayoutConfig:
    hz: float = 60.0
    quantile: float = 99.0        # percentile of the lateness that the delay covers
    margin: float = 0.5           # frames added on top of it
    window_s: float = 3.0         # arrivals the source clock and the jitter are estimated from
    deadband: float = 1.0         # frames of |c* - c| left alone
    gain: float = 0.05            # rate change per frame of error
    max_speedup: float = 0.25     # at most one frame skipped per 4 ticks
    max_slowdown: float = 0.1     # at most one frame repeated per 10 ticks
    max_delay: float = 30.0       # frames; a longer stall is caught up from, not buffered
    decay: float = 0.5            # frames per second the delay may shrink by (it grows at once)
    restart_s: float = 1.0        # no frame for this long: the source clock is estimated afresh


class _Policy:
    """Presentation log of one policy: what was on screen at each tick."""

    def __init__(self):
        self.shown: int | None = None
        self.shown_at: float | None = None
        self.intervals_ms: list[float] = []
        self.repeats = 0
        self.skipped = 0
        self.out_of_order = 0
        self.delays_ms: list[float] = []
        self.ticks = 0
        self.live = False      # the stream has moved at least once (before that: a session not cranked yet)
        self._pending = 0      # repeats since the last new frame: counted once a new frame follows

    def record(self, frame: int | None, t: float, arrivals: dict[int, float]) -> None:
        """Only the stream while it is live counts: repeats before its first new frame (nobody is
        cranking yet) and after its last one (the crank stopped) are not stutter."""
        if frame is None:
            return
        self.ticks += 1
        if self.shown is None:
            self.shown, self.shown_at = frame, t
        elif frame == self.shown:
            self._pending += 1
            return
        elif frame < self.shown:
            self.out_of_order += 1
            self.shown, self.shown_at = frame, t
            return
        else:
            if self.live:
                self.repeats += self._pending
                self.skipped += frame - self.shown - 1
                self.intervals_ms.append((t - self.shown_at) * 1000)
            self.live = True
            self._pending = 0
            self.shown, self.shown_at = frame, t
        a = arrivals.get(frame)
        if a is not None:
            self.delays_ms.append((t - a) * 1000)

    def summary(self) -> dict:
        iv, d = self.intervals_ms, self.delays_ms
        return {"ticks": self.ticks, "frames_shown": len(iv) + (self.shown is not None),
                "interval_ms_p50": pct(iv, 50), "interval_ms_p99": pct(iv, 99),
                "interval_ms_max": round(max(iv), 3) if iv else None,
                "shown_twice": self.repeats, "skipped": self.skipped, "out_of_order": self.out_of_order,
                "arrival_to_screen_ms_p50": pct(d, 50), "arrival_to_screen_ms_p99": pct(d, 99)}


class PlayoutBuffer:
    """Feed `arrive(view, t)` from the receiving thread; call `present(t)` once per display tick.
    `enabled=False` shows the newest frame (the old behaviour) while still measuring both."""

    def __init__(self, config: PlayoutConfig | None = None, enabled: bool = True):
        self.cfg = config or PlayoutConfig()
        self.T = 1.0 / self.cfg.hz
        self.enabled = enabled
        self.lock = threading.Lock()
        self.views: dict[int, object] = {}     # frame -> view, not yet presented (and the one on screen)
        self.arrivals: dict[int, float] = {}   # frame -> arrival time (kept for the delay statistics)
        self._points: collections.deque = collections.deque()   # (arrival time, frame) in the window
        self.period = self.T                   # the source's frame period, as estimated
        self._t_estimate = 0.0
        self.late_ticks = 0                    # display ticks that came a whole tick late (a busy machine)
        self.newest: int | None = None
        self.c: float | None = None            # playout position (frames)
        self.delay_frames: float | None = None
        self.jitter_ms_p99: float | None = None
        self.base: float | None = None
        self._last_t: float | None = None
        self.playout = _Policy()
        self.newest_policy = _Policy()
        self.delay_log: list[float] = []       # target delay (ms) at each tick

    # -- input ------------------------------------------------------------------------------
    def arrive(self, view, t: float) -> None:
        f = view.frame
        with self.lock:
            if f in self.views:  # the same frame again (e.g. a status change): keep the latest content
                self.views[f] = view
                return
            if f in self.arrivals or (self.playout.shown is not None and f < self.playout.shown):
                return
            self.arrivals[f] = t
            self.views[f] = view
            if self.newest is None or f > self.newest:
                self.newest = f
            if self._points and t - self._points[-1][0] > self.cfg.restart_s:
                self._points.clear()  # the stream (re)starts after an idle spell: a new clock
            self._points.append((t, f))
            while self._points and self._points[0][0] < t - self.cfg.window_s:
                self._points.popleft()
            self._estimate()

    def _estimate(self) -> None:
        """The source's clock from the last window of arrivals: a line t = m + period * f fitted by
        least squares, then moved down to the earliest arrival (the fastest path); the lateness of
        each arrival above that line is the jitter. Fitting the period (not assuming 1/hz) keeps a
        crank that runs a little slow, or skips ticks, from reading as jitter."""
        pts = np.array(self._points)
        t, f = pts[:, 0], pts[:, 1]
        period = self.T
        if len(pts) >= 20 and f[-1] - f[0] >= 20:
            period = float(np.clip(np.polyfit(f, t, 1)[0], 0.8 * self.T, 1.25 * self.T))
        resid = t - period * f
        self.period = period
        self.base = float(resid.min())
        late = resid - self.base
        self.jitter_ms_p99 = float(np.percentile(late, 99)) * 1000
        d = min(float(np.percentile(late, self.cfg.quantile)) / period + self.cfg.margin, self.cfg.max_delay)
        if self.delay_frames is not None and d < self.delay_frames:  # up at once, down slowly
            d = max(d, self.delay_frames - self.cfg.decay * (t[-1] - self._t_estimate))
        self._t_estimate = float(t[-1])
        self.delay_frames = d

    # -- output -----------------------------------------------------------------------------
    def present(self, t: float):
        """The view to draw at display tick time t (None before the first frame)."""
        with self.lock:
            if self.newest is None:
                return None
            newest = self.newest
            self.newest_policy.record(newest, t, self.arrivals)
            if not self.enabled:
                shown = newest
            else:
                shown = self._advance(t, newest)
            self.playout.record(shown, t, self.arrivals)
            if self.delay_frames is not None:
                self.delay_log.append(self.delay_frames * self.T * 1000)
            view = self.views.get(shown)
            # Drop what can never be shown again (older than the frame on screen).
            for f in [f for f in self.views if f < shown]:
                del self.views[f]
            for f in [f for f in self.arrivals if f < shown - 600]:
                del self.arrivals[f]
            return view

    def _advance(self, t: float, newest: int) -> int:
        cfg = self.cfg
        target = (t - self.base) / self.period - self.delay_frames
        step = float(np.clip(self.period, self.T, 1.25 * self.T)) / self.period  # source frames per tick
        if self.c is None:  # start where the target is, within what has arrived
            self.c = float(min(newest, max(target, min(self.views))))
            self._last_t = t
        else:
            tick = float(np.clip(self.period, self.T, 1.25 * self.T))  # display_period()
            ticks = max(1, round((t - self._last_t) / tick))  # a late loop iteration counts its ticks
            self.late_ticks += ticks > 1
            self._last_t = t
            err = target - self.c
            rate = 1.0
            if err > cfg.deadband:
                rate = 1.0 + min(cfg.max_speedup, cfg.gain * err)
            elif err < -cfg.deadband:
                rate = 1.0 - min(cfg.max_slowdown, cfg.gain * -err)
            if target - self.c > cfg.max_delay:  # far behind (a long stall): no use showing it all
                self.c = target - cfg.max_delay
            self.c += ticks * step * rate
        want = math.floor(self.c + 1e-9)
        if want > newest:  # underrun: show the newest and wait there
            self.c = float(newest)
            want = newest
        shown = self.playout.shown
        if shown is not None and want < shown:  # never back
            want = shown
            self.c = max(self.c, float(shown))
        # A frame missing from the stream (two frames in one notification): the next one that arrived.
        if want not in self.views:
            later = [f for f in self.views if f >= want]
            want = min(later) if later else newest
        return want

    def display_period(self) -> float:
        """How often the client should present: the source's frame period (1/60 s when the crank
        keeps 60 Hz, a little longer when it runs slow), so each tick shows the next frame and a
        crank's late tick is absorbed by the buffer instead of showing as a repeated frame. The
        newest-frame policy (disabled) keeps 1/hz."""
        with self.lock:
            return float(np.clip(self.period, self.T, 1.25 * self.T)) if self.enabled else self.T

    # -- reporting --------------------------------------------------------------------------
    def hud_line(self) -> str:
        with self.lock:
            if self.delay_frames is None:
                return "playout: waiting for frames"
            mode = "playout" if self.enabled else "newest frame (playout off)"
            behind = (self.newest - self.playout.shown) if self.playout.shown is not None else 0
            return (f"{mode}: delay {self.delay_frames * self.T * 1000:.0f} ms ({self.delay_frames:.1f} fr), "
                    f"jitter p99 {self.jitter_ms_p99:.0f} ms, {behind} fr behind newest")

    def stats(self) -> dict:
        with self.lock:
            return {"enabled": self.enabled, "hz": self.cfg.hz, "display_ticks_late": self.late_ticks,
                    "source_fps": round(1 / self.period, 2),
                    "target_delay_ms_p50": pct(self.delay_log, 50), "target_delay_ms_max":
                        round(max(self.delay_log), 3) if self.delay_log else None,
                    "arrival_jitter_ms_p99_last": round(self.jitter_ms_p99, 3) if self.jitter_ms_p99 is not None else None,
                    "playout": self.playout.summary(), "newest": self.newest_policy.summary()}
