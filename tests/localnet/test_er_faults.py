"""Faults around a delegated session in the real ER: two cranks at once (never a frame twice), a
stalled crank, a player who stops sending (the input rule, bit for bit against the embedded
backend), and the base chain going away while the ER keeps playing."""
from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from solders.keypair import Keypair

import conftest
from conftest import BASES, REAL_ER, local_stack, uploaded_chains
from onchain.sdk.wire import ControllerInput
from onchain.tools.crank import Crank
from onchain.backends.embedded import EmbeddedBackend
from onchain.localnet.stack import wait_gone
from onchain.backends.remote import RemoteBackend
from worldmodel.randmodel import random_cartridge

pytestmark = REAL_ER

MODEL_ID = 1


@pytest.fixture(params=BASES, scope="module")
def stack(request, tmp_path_factory, so_path):
    yield from local_stack(tmp_path_factory, so_path, "localnet-faults", start=35000, base=request.param)


@pytest.fixture(scope="module")
def cart():
    return random_cartridge("micro", seed=9)


@pytest.fixture(scope="module")
def chains(stack, cart):
    yield from uploaded_chains(stack, cart, MODEL_ID)


def live_session(base: RemoteBackend, er: RemoteBackend, session_id: int) -> tuple[Keypair, Keypair]:
    return conftest.live_session(base, er, session_id, MODEL_ID)


def test_two_cranks_never_apply_a_frame_twice(chains, cart):
    """Two cranks race on one session. Every transaction names its frame and runs the next steps
    of it, so whatever the interleaving, each frame is computed once: the state after the race is
    the embedded backend's after the same number of frames."""
    base, er = chains
    p1, p2 = live_session(base, er, 11)
    # a second crank on its own connection, with the key the session allows to crank
    other = RemoteBackend(er.url, payer=er.payer)
    try:
        cranks = [Crank(er, 11, hz=60), Crank(other, 11, hz=60)]
        threads = [threading.Thread(target=c.run, kwargs={"seconds": 3.0}) for c in cranks]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        other.close()
    assert sum(c.stats.errors for c in cranks) == 0, [c.stats.last_error for c in cranks]
    assert sum(c.stats.stale for c in cranks) > 0  # they collided; StaleFrame stopped the late ones
    final = er.session(11)
    assert final.frame > 10
    emb = EmbeddedBackend()
    emb.upload_model(cart, MODEL_ID)
    assert emb.create_session(11, MODEL_ID, p1).ok and emb.join_session(11, p2).ok
    for f in range(final.frame):
        assert emb.run_inference(11, f).ok
    assert final.fighters == emb.session(11).fighters


def test_stalled_crank_resumes_where_it_stopped(chains):
    base, er = chains
    live_session(base, er, 12)
    crank = Crank(er, 12, hz=60)
    crank.run(frames=30)
    time.sleep(1.0)  # the crank stalls: the session just waits
    assert er.session(12).frame == 30
    again = Crank(er, 12, hz=60)
    assert again.frame == 30
    again.run(frames=30)
    assert er.session(12).frame == 60 and again.stats.errors == 0


def test_player_who_stops_sending_goes_neutral_same_as_embedded(chains, cart):
    base, er = chains
    p1, p2 = live_session(base, er, 13)
    emb = EmbeddedBackend()
    emb.upload_model(cart, MODEL_ID)
    assert emb.create_session(13, MODEL_ID, p1).ok and emb.join_session(13, p2).ok
    press = ControllerInput(stick_x=100, stick_y=-60, buttons=1 | 2)
    for be in (er, emb):
        assert be.submit_input(13, p1, 1, press).ok  # then player 1 goes silent
        assert be.submit_input(13, p2, 1, ControllerInput(stick_x=-40)).ok
        for f in range(45):  # past the 30-frame hold: both controllers read neutral again
            out = be.run_inference(13, f)
            assert out.ok, out.error
    assert er.session(13).fighters == emb.session(13).fighters
    assert er.session(13).frame == 45


def test_er_keeps_playing_while_the_base_is_down(stack, chains):
    base, er = chains
    live_session(base, er, 14)
    Crank(er, 14, hz=60).run(frames=10)
    pid = stack.state["base_pid"]
    os.kill(pid, signal.SIGTERM)
    assert wait_gone(pid, 15.0)
    crank = Crank(er, 14, hz=60)
    crank.run(frames=30)
    assert crank.stats.errors == 0, crank.stats.last_error
    assert er.session(14).frame == 40
