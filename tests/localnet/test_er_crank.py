"""The scheduled crank in the real MagicBlock ER: schedule_crank makes the validator's own task
scheduler advance a delegated session, one frame per run, bit for bit what the embedded backend
computes over the same frames; cancel_crank and end_session stop it; a task a stranger schedules
straight with the Magic program cannot drive a session nobody enabled the crank for."""
from __future__ import annotations

import itertools
import struct
import subprocess
import sys
import time

import pytest
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair

import conftest
from conftest import BASES, REAL_ER, keyfile, local_stack, uploaded_chains
from onchain.sdk import delegation as D
from onchain.sdk import instructions as I
from onchain.sdk import pda
from onchain.sdk.wire import STATUS_ENDED, ControllerInput
from onchain.tools.crank import Crank
from onchain.backends.embedded import EmbeddedBackend
from onchain.backends.remote import RemoteBackend
from onchain.tools.sched_crank import FOREVER, ScheduledCrank, crank_flag
from worldmodel.randmodel import random_cartridge

pytestmark = REAL_ER

MODEL_ID = 1
SESSION_IDS = itertools.count(21)


# Function scope: each test (and each rerun, REAL_ER) gets a fresh stack, so no task that one test
# scheduled in the ER's task scheduler (it outlives a session's accounts) can run into the next.
@pytest.fixture(params=BASES)
def stack(request, tmp_path_factory, so_path):
    yield from local_stack(tmp_path_factory, so_path, "localnet-crank", start=37000, base=request.param)


@pytest.fixture(scope="module")
def cart():
    return random_cartridge("micro", seed=9)


@pytest.fixture
def chains(stack, cart):
    yield from uploaded_chains(stack, cart, MODEL_ID)


def live_session(base: RemoteBackend, er: RemoteBackend) -> tuple[int, Keypair, Keypair]:
    session_id = next(SESSION_IDS)
    return (session_id, *conftest.live_session(base, er, session_id, MODEL_ID))


def frame_stays(er: RemoteBackend, session_id: int, seconds: float = 1.0) -> int:
    f = er.session(session_id).frame
    time.sleep(seconds)
    assert er.session(session_id).frame == f, "the session still advances"
    return f


def magic_schedule_task(authority, task_id: int, interval_ms: int, iterations: int, ix: Instruction) -> Instruction:
    """The Magic program's ScheduleTask (bincode variant 6, layout in onchain/program/src/er.rs),
    sent directly by `authority`, as anyone may."""
    body = bytes(ix.program_id) + struct.pack("<Q", len(ix.accounts))
    body += b"".join(bytes(m.pubkey) + bytes([m.is_signer, m.is_writable]) for m in ix.accounts)
    body += struct.pack("<Q", len(ix.data)) + bytes(ix.data)
    data = struct.pack("<IqqqQ", 6, task_id, interval_ms, iterations, 1) + body
    return Instruction(D.MAGIC_PROGRAM, data, [AccountMeta(authority, True, True)] +
                       [AccountMeta(m.pubkey, False, False) for m in ix.accounts])


def test_scheduled_crank_computes_each_frame_once_bit_exact(chains, cart):
    """A task of 40 runs makes exactly 40 frames (a run never skips or repeats a frame), each seen
    by a subscriber in order, and the fighters equal the embedded backend's after the same inputs."""
    base, er = chains
    sid, p1, p2 = live_session(base, er)
    moves = {p1: ControllerInput(stick_x=90, buttons=1), p2: ControllerInput(stick_y=-70, cstick_x=40, buttons=2)}
    emb = EmbeddedBackend()
    emb.upload_model(cart, MODEL_ID)
    assert emb.create_session(sid, MODEL_ID, p1).ok and emb.join_session(sid, p2).ok
    for be in (er, emb):
        for kp, ctrl in moves.items():
            out = be.submit_input(sid, kp, 0, ctrl)
            assert out.ok, out.error
    start = er.session(sid).fighters
    crank = ScheduledCrank(er, sid, p1, hz=60)
    stats = crank.run(frames=40, start_timeout=10.0)
    assert stats.error is None, stats.error
    time.sleep(0.5)
    view = er.session(sid)
    assert view.frame == 40, f"40 runs made {view.frame} frames"
    assert stats.last_frame == 40 and stats.frames_unseen == 0, stats.summary()
    assert not crank_flag(er, sid)  # cancelled at the end
    for f in range(40):
        out = emb.run_inference(sid, f)
        assert out.ok, out.error
    assert view.fighters == emb.session(sid).fighters
    assert view.fighters != start


def test_cancel_stops_it_and_strangers_tasks_do_nothing(chains):
    base, er = chains
    sid, p1, p2 = live_session(base, er)
    stranger = er.payer  # the ER backend's own key (the session's crank key): no player of this session
    # A stranger's own task (straight to the Magic program, naming the validator as the cranker as
    # the program's own task does) on a session with no crank enabled: run_inference(NEXT_FRAME)
    # fails with CrankNotScheduled, the ER drops the task, nothing moves.
    ix = I.run_inference_for(er.program_id, er.identity(), sid, MODEL_ID, 1, D.NEXT_FRAME)
    out = er.send([magic_schedule_task(stranger.pubkey(), 7_000 + sid, 10, 100, ix)])
    assert out.ok, out.error  # the Magic program accepts the request ...
    assert frame_stays(er, sid) == 0  # ... but it computes nothing
    # A stranger may not schedule through the program either.
    assert "Custom(10)" in (er.schedule_crank(sid, stranger, 16, 1000).error or "")

    out = er.schedule_crank(sid, p2, 16, FOREVER)
    assert out.ok, out.error
    end = time.monotonic() + 10
    while er.session(sid).frame < 20 and time.monotonic() < end:
        time.sleep(0.05)
    assert er.session(sid).frame >= 20 and crank_flag(er, sid)
    out = er.cancel_crank(sid, p1)  # either player may stop it
    assert out.ok, out.error
    f = frame_stays(er, sid)
    assert not crank_flag(er, sid)
    # The Python crank takes over from the same frame (the exact-frame form is unaffected).
    py = Crank(er, sid, hz=60)
    assert py.frame == f
    py.run(frames=5)
    assert py.stats.errors == 0 and er.session(sid).frame == f + 5


def test_end_session_stops_a_running_crank(chains):
    base, er = chains
    sid, p1, _ = live_session(base, er)
    out = er.schedule_crank(sid, p1, 16, FOREVER)
    assert out.ok, out.error
    end = time.monotonic() + 10
    while er.session(sid).frame < 10 and time.monotonic() < end:
        time.sleep(0.05)
    assert er.session(sid).frame >= 10
    out = er.end_session(sid, p1)
    assert out.ok, out.error
    keys = pda.session_accounts(base.program_id, sid)
    assert all(base.wait_owner(k, base.program_id, 30.0) for k in keys), "not undelegated"
    settled = base.session(sid)
    assert settled.status == STATUS_ENDED
    assert not crank_flag(base, sid)
    time.sleep(0.5)
    assert base.session(sid).frame == settled.frame


def test_crank_command_schedules_and_falls_back(chains, tmp_path):
    """`python -m onchain.tools.crank --scheduled`: with a player's key the ER cranks exactly --frames
    frames; with the session's crank key (not a player) the ER refuses to schedule (Unauthorized)
    and the Python crank runs instead; a stranger's key may do neither."""
    base, er = chains
    sid, p1, _ = live_session(base, er)
    keys = {name: keyfile(tmp_path / f"{name}.json", kp)
            for name, kp in (("player", p1), ("crank_key", er.payer), ("stranger", Keypair()))}

    def crank(key, frames):
        return subprocess.run([sys.executable, "-m", "onchain.tools.crank", "--url", er.url, "--session", str(sid),
                               "--scheduled", "--keypair", str(key), "--frames", str(frames)],
                              capture_output=True, text=True, timeout=120)
    r = crank(keys["player"], 20)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "falling back" not in r.stdout and '"crank": "scheduled' in r.stdout
    assert er.session(sid).frame == 20
    r = crank(keys["crank_key"], 10)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Unauthorized" in r.stdout and "falling back to the Python crank" in r.stdout
    assert er.session(sid).frame == 30
    r = crank(keys["stranger"], 10)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "may not crank session" in r.stdout
    assert er.session(sid).frame == 30
