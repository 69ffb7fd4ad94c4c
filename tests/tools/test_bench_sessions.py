"""Concurrent sessions in one ER (issue 20): the CPU accounting of onchain/tools/bench_sessions.py, the
client's dropping of repeated notifications, and one short level of the benchmark in the real ER."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from solders.keypair import Keypair

from conftest import REAL_ER
from onchain.tools import bench_sessions as B
from onchain.backends.remote import RemoteBackend


def test_cpu_of_a_process_grows_while_it_works():
    before = B.proc_cpu_s(os.getpid())
    t = time.process_time()
    while time.process_time() - t < 0.2:
        pass
    assert B.proc_cpu_s(os.getpid()) - before >= 0.15
    assert B.proc_cpu_s(2**22 + 12345) == 0.0  # no such process


def test_cpu_is_grouped_by_the_module_a_process_runs():
    proc = subprocess.Popen([sys.executable, "-m", "onchain.tools.bot", "spectate", "--help"], stdout=subprocess.DEVNULL)
    try:
        # a label is the command the process runs once it has exec'd it: between fork and exec
        # (a loaded machine stretches that) its cmdline is empty or the parent's, and the label "python"
        deadline = time.monotonic() + 10
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                if b"onchain.tools.bot" in Path(f"/proc/{proc.pid}/cmdline").read_bytes():
                    break
            except OSError:
                break
            time.sleep(0.005)
        label = B.process_label(proc.pid)
    finally:
        proc.wait(30)
    assert label in ("onchain.tools.bot spectate", "?")  # "?" only if it already exited
    before = {1: ("a", 1.0), 2: ("b", 5.0)}
    after = {1: ("a", 1.5), 2: ("b", 5.1), 3: ("a", 0.5)}  # pid 3 started during the window
    assert B.cpu_delta_by_label(before, after, wall=2.0) == {"a": 50.0, "b": 5.0}


def test_bad_levels_are_refused():
    for argv in (["--sweep", "0,2"], ["--sweep", "x"], ["--sessions", "0"], ["--sessions", "2", "--sweep"]):
        r = subprocess.run([sys.executable, "-m", "onchain.tools.bench_er", *argv], capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": "."}, timeout=60)
        assert r.returncode == 2, (argv, r.stderr)


def test_a_repeated_notification_reaches_no_callback():
    """The 0.8.3 ER re-sends an unchanged SessionState for every transaction that reads it; the
    backend hands only changes to its subscribers (and always the fetch after subscribing)."""
    b = RemoteBackend("http://127.0.0.1:9")  # nothing is sent
    try:
        got = []
        key = Keypair().pubkey()
        b._subs[key] = [lambda data, slot: got.append((data, slot))]
        for data, slot in ((b"a", 1), (b"a", 2), (b"b", 3), (b"b", 4), (b"b", -1), (b"a", 5)):
            b._dispatch(key, data, slot)
        deadline = time.monotonic() + 5
        while len(got) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert got == [(b"a", 1), (b"b", 3), (b"b", -1), (b"a", 5)]
    finally:
        b.close()


@REAL_ER
def test_one_level_in_the_real_er(tmp_path):
    out = tmp_path / "sessions.json"
    r = subprocess.run([sys.executable, "-m", "onchain.tools.bench_er", "--sessions", "1", "--seconds", "4", "--no-profile",
                        "--out", str(out), "--run-dir", str(tmp_path / "net")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    lv = json.loads(out.read_text())["levels"][0]
    assert lv["sessions"] == 1 and lv["errors"] == 0, lv
    assert lv["frames"] >= 0.8 * 4 * 60, lv  # the crank ran about 60 frames a second
    assert lv["input_to_state_ms_p50"] is not None and lv["inputs"] > 100, lv
    assert lv["cpu_pct"]["er"] > 5 and lv["cpu_pct_by_process"].get("ER validator", 0) > 5, lv
    # one callback per new SessionState, not one per transaction that read it (about 3 a frame)
    assert lv["spectator_notes_per_frame"] < 1.3, lv
    assert (tmp_path / "sessions.png").stat().st_size > 10_000
