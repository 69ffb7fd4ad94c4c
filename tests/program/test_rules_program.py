"""Melee's rules in the program, frame by frame against the reference (worldmodel.sim: the integer
forward pass plus worldmodel.rules): the fighters and the rules' state bytes agree on every frame
of random and scripted play on every stage, with KOs past each blast zone, a double KO on one
frame and a last-stock KO that ends the game; then the rejections that go with the session's
context (unsupported stage or character, stepping an ended game, the context after create)."""
from __future__ import annotations

import numpy as np
import pytest
from solders.keypair import Keypair

from onchain.sdk import accounts as A
from onchain.sdk import errors as E
from onchain.sdk import instructions as I
from onchain.sdk import pda
from onchain.sdk.wire import ControllerInput
from onchain.backends.embedded import EmbeddedBackend
from worldmodel import rules as R
from worldmodel import stages as WS
from worldmodel.randmodel import random_cartridge
from worldmodel.sim import GameEnded, Simulator, default_start_state

FRAMES_PER_STAGE = 1_700  # 10,200 frames over the six stages
STAGES = [s.slippi_id for s in WS.STAGES]


@pytest.fixture(scope="module")
def cart():
    return random_cartridge("micro", seed=21)


def beyond(stage: R.Stage, where: str) -> tuple[int, int]:
    """(x, y) ten units past one blast zone (field units: 1/16 game unit)."""
    return {"left": (stage.blast_left - 160, 0), "right": (stage.blast_right + 160, 0),
            "top": (0, stage.blast_top + 160), "bottom": (0, stage.blast_bottom - 160)}[where]


def scenarios(stage: R.Stage) -> list[tuple[str, np.ndarray]]:
    """Start states: a double KO past the side zones, one past top and bottom, a last-stock KO."""
    out = []
    for name, (w1, w2), stocks in (("sides", ("left", "right"), 4), ("top-bottom", ("top", "bottom"), 4),
                                   ("last stock", ("left", None), 1)):
        s = default_start_state(stocks).astype(np.int16)
        for p, where in enumerate((w1, w2)):
            if where is not None:
                s[p, R.X], s[p, R.Y] = beyond(stage, where)
                s[p, R.AIRBORNE] = 1
        out.append((name, s))
    return out


def controls(rng, frame: int) -> tuple[ControllerInput, ControllerInput]:
    """Random sticks and buttons, held for a few frames at a time (scripted by frame)."""
    def one():
        return ControllerInput(int(rng.integers(-127, 128)), int(rng.integers(-127, 128)), 0, 0,
                               int(rng.integers(0, 256)) if rng.random() < 0.1 else 0, 0,
                               int(rng.integers(0, 1 << 12)) & 0x0FFF if rng.random() < 0.3 else 0)
    return one(), one()


@pytest.mark.parametrize("stage_id", STAGES, ids=[s.key for s in WS.STAGES])
def test_program_rules_match_the_reference(so_path, cart, stage_id):
    be = EmbeddedBackend(so_path)
    model = be.upload_model(cart)
    stage = R.Stage.of(stage_id)
    rng = np.random.default_rng(stage_id)
    frames, kos, ended_games, double = 0, [0, 0], 0, 0
    plays = scenarios(stage)
    sid = 0
    while frames < FRAMES_PER_STAGE:
        # the scripted starts first, then games from the usual start until enough frames are compared
        name, start = plays[sid] if sid < len(plays) else ("random play", default_start_state(4).astype(np.int16))
        sid += 1
        p1, p2 = Keypair(), Keypair()
        assert be.create_session(sid, model, p1, fighters=start, stage=stage_id, characters=(2, 9)).ok
        assert be.join_session(sid, p2).ok
        sim = Simulator(cart, stage=stage_id, characters=(2, 9), start_state=start)
        assert be.session(sid).rules == bytes(sim.rules_state)  # started from the same fighters
        for f in range(FRAMES_PER_STAGE - frames):
            c1, c2 = controls(rng, f)
            assert be.submit_input(sid, p1, f, c1).ok and be.submit_input(sid, p2, f, c2).ok
            try:
                ref = sim.step(c1, c2)
            except GameEnded:
                out = be.run_inference(sid, f)
                assert not out.ok and E.custom_code(out.error) == E.GameOver, out.error
                ended_games += 1
                break
            out = be.run_inference(sid, f)
            assert out.ok, (name, f, out.error)
            view = be.session(sid)
            assert view.fighters == tuple(tuple(int(v) for v in row) for row in sim.state), (name, f)
            assert view.rules == bytes(sim.rules_state), (name, f)
            frames += 1
            double += all(ref.kos)
            for p in range(2):
                kos[p] += int(ref.kos[p])
        if name == "last stock":
            assert sim.last.ended and sim.last.winner == 1, "player 1's last stock ended the game"
    assert frames == FRAMES_PER_STAGE
    assert kos[0] >= 3 and kos[1] >= 2, kos  # left, top and last-stock for p1; right and bottom for p2
    assert double >= 1 and ended_games >= 1


# -- the session's context -----------------------------------------------------------------

@pytest.fixture()
def chain(so_path, cart):
    be = EmbeddedBackend(so_path)
    model = be.upload_model(cart)
    p1, p2 = Keypair(), Keypair()
    for kp in (p1, p2):
        be.fund(kp.pubkey())
    return be, model, p1, p2


def session_keys(be, sid):
    return list(pda.session_accounts(be.program_id, sid))


@pytest.mark.parametrize("stage,characters", [(99, (2, 9)), (0, (2, 9)), (32, (26, 9)), (32, (2, 255))])
def test_unsupported_stage_or_character_creates_nothing(chain, stage, characters):
    be, model, p1, _ = chain
    out = be.create_session(1, model, p1, stage=stage, characters=characters)
    assert E.custom_code(out.error) == E.UnsupportedContext, out.error
    assert all(be.account_data(k) is None for k in session_keys(be, 1))
    assert be.manifest(model).open_sessions == 0


def test_a_manifest_limits_the_stages_and_characters(so_path, cart):
    """A model that declares what it supports (only FD and Battlefield, only Fox and Marth) gets
    only those; a cartridge without the declaration (every shipped one) supports all."""
    from onchain.sdk import upload as U
    be = EmbeddedBackend(so_path)
    manifest, weights = U.load_cartridge_bytes(cart)
    limited = A.with_supported(manifest, stages=[32, 31], characters=[2, 9])
    a = Keypair()
    U.upload(be, a, 5, limited, weights)
    p1 = Keypair()
    for stage, chars, ok in ((31, (9, 2), True), (28, (2, 9), False), (32, (2, 20), False)):
        sid = stage * 100 + chars[1]
        out = be.create_session(sid, 5, p1, stage=stage, characters=chars)
        assert out.ok == ok, (stage, chars, out.error)
        if not ok:
            assert E.custom_code(out.error) == E.UnsupportedContext


def test_stepping_an_ended_game_is_refused(chain):
    be, model, p1, p2 = chain
    stage = R.Stage.of(32)
    start = default_start_state(1).astype(np.int16)
    start[0, R.X], start[0, R.Y] = beyond(stage, "right")
    assert be.create_session(1, model, p1, fighters=start, stage=32).ok and be.join_session(1, p2).ok
    assert be.run_inference(1, 0).ok  # player 1's last stock: the game is over
    view = be.session(1)
    assert view.rules[1] == 1 and view.rules[2] == 1  # ended, player 2 won
    before = [be.account_data(k) for k in session_keys(be, 1)]
    out = be.run_inference(1, 1)
    assert E.custom_code(out.error) == E.GameOver, out.error
    assert [be.account_data(k) for k in session_keys(be, 1)] == before


def test_context_cannot_change_after_create(chain):
    """The stage and characters are written once; the create instruction repeated with another
    context (the only instruction that carries one) changes nothing."""
    be, model, p1, p2 = chain
    assert be.create_session(1, model, p1, stage=31, characters=(20, 9)).ok
    again = I.create_session(be.program_id, p1.pubkey(), 1, model, default_start_state(), stage=28,
                             characters=(2, 2))
    out = be.send([again], [p1])
    assert E.custom_code(out.error) == E.AlreadyInitialized, out.error
    assert be.join_session(1, p2).ok
    view = be.session(1)
    assert (view.stage_id, view.characters) == (31, (20, 9))


def test_the_timer_ends_the_game_in_the_program(so_path, cart):
    """8:00 (frame 28,799): a session placed 5 frames before it (the program's own run_inference
    from there on) ends on that frame like the reference, the winner by stocks, and refuses the
    next frame."""
    from onchain.backends.direct import DirectSession
    from onchain.backends.svm import ProgramVM
    from worldmodel import intref as IR
    start = default_start_state(4).astype(np.int16)
    start[1, R.STOCKS] = 3  # player 1 is a stock ahead
    first = R.TIME_LIMIT_FRAMES - 5
    ds = DirectSession(ProgramVM(so_path), cart, start, stage=31, frame=first)
    st = R.new_state()
    R.init_state(start, st)
    state, hidden = start.copy(), IR.new_hidden(cart)
    ctrl = np.zeros((2, 8), np.int64)
    ds.set_controls(ctrl)
    for f in range(first, R.TIME_LIMIT_FRAMES):
        assert all(r.ok for r in ds.step([ds.steps])), f
        nxt, _, hidden = IR.step(cart, state, ctrl, hidden)
        state = np.asarray(nxt, dtype=np.int16).copy()
        out = R.step_rules(R.Stage.of(31), f, state, st)
        assert np.array_equal(ds.fighters(), state), f
        assert A.decode_session(ds.vm.data(ds.session)).rules == bytes(st), f
    assert out.ended and out.winner == 0 and R.end_frame(st) == R.TIME_LIMIT_FRAMES - 1
    res = ds.vm.send(ds.run_ix(R.TIME_LIMIT_FRAMES))
    assert not res.ok and E.custom_code(res.error) == E.GameOver, res.error
