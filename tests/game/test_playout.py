"""game/playout.py, the adaptive playout buffer, on arrival traces shaped like the local ER's.

Deterministic: the traces and the display ticks carry explicit timestamps (no clock, no sleeps), so
these check the buffer's logic; what it achieves on the real ER is measured by `make bench-er`."""
from __future__ import annotations

import dataclasses

import numpy as np

from game.playout import PlayoutBuffer

T = 1 / 60


@dataclasses.dataclass
class View:
    frame: int
    status: int = 1


def bunched(n: int, block_s: float = 0.05, seed: int = 0, start: float = 1.0):
    """Frames made every 1/60 s, delivered at the end of each `block_s` block (the ER's 50 ms
    blocks) plus up to 2 ms of noise: several frames per notification burst."""
    rng = np.random.default_rng(seed)
    out = []
    for f in range(n):
        made = start + f * T
        out.append((np.ceil(made / block_s) * block_s + rng.uniform(0, 0.002), f))
    return sorted(out)


def play(buf: PlayoutBuffer, arrivals, until: float, tick0: float = 1.0037):
    """Merge arrivals and display ticks in time order, the ticks paced like the game loop
    (every buf.display_period(): 1/60 s, or the source's period when it is slower); the frames
    shown, one per tick."""
    shown, i, t = [], 0, tick0
    while t <= until:
        while i < len(arrivals) and arrivals[i][0] <= t:
            buf.arrive(View(arrivals[i][1]), arrivals[i][0])
            i += 1
        v = buf.present(t)
        shown.append(None if v is None else v.frame)
        t += buf.display_period()
    return shown


def steps(shown):
    s = [f for f in shown if f is not None]
    return [b - a for a, b in zip(s, s[1:])]


def test_bunched_arrivals_are_shown_one_frame_per_tick_after_a_short_delay():
    arr = bunched(1200)
    buf = PlayoutBuffer()
    shown = play(buf, arr, until=arr[-1][0])
    st = buf.stats()
    d = steps(shown)
    assert min(d) >= 0, "out of order"
    # After the first second (the delay settles) every tick shows the next frame, none twice.
    settled = d[60:]
    assert settled.count(1) == len(settled), {x: settled.count(x) for x in set(settled)}
    assert st["playout"]["out_of_order"] == 0
    assert st["playout"]["interval_ms_p99"] < 20
    # The newest-frame policy, on the very same ticks, repeats frames and then jumps.
    assert st["newest"]["shown_twice"] > 300 and st["newest"]["skipped"] > 300
    assert st["newest"]["interval_ms_p99"] > 30
    # The delay covers the 50 ms bunching, and not much more.
    assert 2.5 <= buf.delay_frames <= 5, buf.delay_frames
    assert st["playout"]["arrival_to_screen_ms_p50"] > st["newest"]["arrival_to_screen_ms_p50"]


def test_a_stall_is_caught_up_smoothly_not_jumped():
    arr = bunched(1800)
    # 400 ms with nothing delivered around frame 600, then everything held back arrives at once.
    t_stall, t_end = arr[600][0], arr[600][0] + 0.4
    arr = sorted((max(t, t_end) if t_stall <= t < t_end else t, f) for t, f in arr)
    buf = PlayoutBuffer()
    shown = play(buf, arr, until=arr[-1][0])
    d = steps(shown)
    assert min(d) >= 0
    assert max(d) <= 2, "caught up by a jump"  # at most one frame skipped per tick
    assert buf.stats()["playout"]["out_of_order"] == 0
    # It does catch up: at the end the buffer is back to a few frames behind the newest.
    assert arr[-1][1] - shown[-1] <= buf.delay_frames + 2
    # The stall itself shows as repeats, but a bounded number of them.
    assert d.count(0) <= 0.4 / T + 10


def test_out_of_order_and_missing_frames_never_go_back():
    arr = bunched(600)
    # Frame 300 comes after 301 and 302; frame 400 never comes (two frames in one notification).
    arr = [(t + (0.03 if f == 300 else 0), f) for t, f in arr if f != 400]
    arr.sort()
    buf = PlayoutBuffer()
    shown = [f for f in play(buf, arr, until=arr[-1][0]) if f is not None]
    assert all(b >= a for a, b in zip(shown, shown[1:]))
    assert 400 not in shown and 401 in shown
    assert buf.stats()["playout"]["out_of_order"] == 0


def test_disabled_shows_the_newest_frame():
    arr = bunched(300)
    buf = PlayoutBuffer(enabled=False)
    shown = play(buf, arr, until=arr[-1][0] + T)
    st = buf.stats()
    assert st["playout"] == st["newest"]
    assert shown[-1] == arr[-1][1]


def test_a_slower_source_is_not_taken_for_jitter():
    # A crank that skips every 20th tick (57 frames/s), delivered in 50 ms bunches: the buffer fits
    # the source's period instead of growing its delay, the client presents at that rate, and the
    # skipped ticks are absorbed by the buffer: once settled, every tick shows the next frame.
    rng = np.random.default_rng(1)
    made, arr, tick = [], [], 0
    for f in range(1500):
        tick += 2 if f % 20 == 19 else 1
        m = 1.0 + tick * T
        arr.append((np.ceil(m / 0.05) * 0.05 + rng.uniform(0, 0.002), f))
    arr.sort()
    buf = PlayoutBuffer()
    shown = play(buf, arr, until=arr[-1][0])
    d = steps(shown)
    assert min(d) >= 0 and buf.stats()["playout"]["out_of_order"] == 0
    assert buf.delay_frames <= 5, buf.delay_frames
    assert 0.9 * T < buf.period * 20 / 21 < 1.1 * T
    settled = d[120:]
    assert settled.count(1) == len(settled), {x: settled.count(x) for x in set(settled)}
    assert 1 / buf.display_period() < 58
def test_display_thread_outranks_the_clients_background_threads():
    """The display loop lowers the CPU priority of the process's other threads (backend loop,
    notifier, input sender), so a tick's wake-up does not wait for their slice (issue 15)."""
    import os
    import threading

    from game.app import BACKGROUND_NICE, yield_to_display

    ready, stop, tid = threading.Event(), threading.Event(), []

    def background():
        tid.append(threading.get_native_id())
        ready.set()
        stop.wait(10)
    th = threading.Thread(target=background, daemon=True)
    th.start()
    ready.wait(5)
    try:
        mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        assert yield_to_display() >= 1
        assert os.getpriority(os.PRIO_PROCESS, tid[0]) == max(BACKGROUND_NICE, mine)
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine  # the display thread keeps its own
    finally:
        stop.set()
        th.join(5)


def test_realtime_display_thread_where_the_os_allows_it():
    """realtime_display puts the calling thread, and only it, at SCHED_RR where permitted: a thread
    it starts afterwards is back at the normal policy (SCHED_RESET_ON_FORK), and a thread that was
    refused keeps the normal policy (issue 15)."""
    import os
    import threading

    from game.app import realtime_display

    seen = {}

    def display():
        seen["result"] = realtime_display()
        seen["policy"] = os.sched_getscheduler(0) & ~getattr(os, "SCHED_RESET_ON_FORK", 0)

        def child():
            seen["child"] = os.sched_getscheduler(0)
        t = threading.Thread(target=child)
        t.start()
        t.join(5)
    th = threading.Thread(target=display)
    th.start()
    th.join(5)
    if seen["result"] == "realtime":
        assert seen["policy"] == os.SCHED_RR
        assert seen["child"] == os.SCHED_OTHER
    else:
        assert seen["result"] == "normal" and seen["policy"] == os.SCHED_OTHER
    assert os.sched_getscheduler(0) == os.SCHED_OTHER  # the test's own thread never changed
