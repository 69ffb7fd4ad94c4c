"""The whole life of a model and a session through the real instructions in LiteSVM
(EmbeddedBackend): upload, finalize, create, join, inputs, frames bit-exact with the
integer reference (including the neutral-input rule), subscriptions, close and rent."""
import numpy as np
import pytest
from solders.keypair import Keypair

from onchain.sdk import accounts as A
from onchain.sdk import errors as E
from onchain.sdk import pda
from onchain.sdk.wire import STATUS_ACTIVE, STATUS_WAITING, ControllerInput
from onchain.sdk import steps
from onchain.backends.embedded import EmbeddedBackend, default_start_state
from worldmodel import intref as IR
from worldmodel.sim import FrameRef
from worldmodel import randmodel as R


@pytest.fixture(scope="module")
def cart():
    return R.random_cartridge("micro", 5)


def ctrl_row(c: ControllerInput) -> list[int]:
    return c.as_row()


def test_full_lifecycle_bit_exact(so_path, cart):
    be = EmbeddedBackend(so_path)
    model_id = be.upload_model(cart)
    man = be.manifest(model_id)
    assert man.finalized and man.authority == be.authority.pubkey()
    p1, p2 = Keypair(), Keypair()
    out = be.create_session(42, model_id, p1)
    assert out.ok, out.error
    view = be.session(42)
    assert view.status == STATUS_WAITING and view.players[0] == p1.pubkey()
    hid = A.decode_hidden(be.account_data(pda.hidden(be.program_id, 42)))
    assert hid.ready and hid.full_len > 10_240  # grown over several instructions
    assert be.join_session(42, p2).ok
    assert be.session(42).status == STATUS_ACTIVE

    seen = []
    unsubscribe = be.subscribe_session(42, seen.append)
    rng = np.random.default_rng(3)
    state, hidden = default_start_state(), IR.new_hidden(cart)
    ref = FrameRef(cart, state)  # the model, then the rules of the session's stage (FD)
    held = [ControllerInput(), ControllerInput()]
    sent_at = [0, 0]
    for frame in range(40):
        for p, kp in enumerate((p1, p2)):
            # player 1 sends every frame; player 2 only at frame 0, so from frame 31 on
            # (INPUT_HOLD_FRAMES = 30) their controller must read as neutral
            if p == 0 or frame == 0:
                r = R.random_controls(rng)[p]
                held[p] = ControllerInput(*[int(v) for v in r[:7]])
                sent_at[p] = frame
                assert be.submit_input(42, kp, frame, held[p]).ok
        ctrl = np.array([ctrl_row(held[p]) if frame <= sent_at[p] + A.INPUT_HOLD_FRAMES else [0] * 8
                         for p in range(2)], dtype=np.int64)
        out = be.run_inference(42, frame)
        assert out.ok, out.error
        assert out.cu > 0
        state, _, hidden = ref.step(state, ctrl, hidden)
        view = be.session(42)
        assert view.frame == frame + 1
        assert np.array_equal(np.array(view.fighters), state), f"frame {frame}"
    assert [v.frame for v in seen] == list(range(1, 41))
    assert view.last_input_frame == (39, 0)
    unsubscribe()

    before = be.lamports(p1.pubkey())
    rent = sum(be.lamports(k) for k in pda.session_accounts(be.program_id, 42))
    out = be.close_session(42, p2)  # either player may close
    assert out.ok, out.error
    assert be.lamports(p1.pubkey()) == before + rent
    assert all(be.account_data(k) is None for k in pda.session_accounts(be.program_id, 42))
    assert be.session(42) is None


def test_frames_spanning_several_transactions(so_path):
    """A model whose frame does not fit one transaction (tiny): run_inference still
    advances exactly one frame per call, bit-exact, summing the CU of its transactions."""
    cart = R.random_cartridge("tiny", 6)
    be = EmbeddedBackend(so_path)
    model_id = be.upload_model(cart)
    p1, p2 = Keypair(), Keypair()
    assert be.create_session(1, model_id, p1).ok and be.join_session(1, p2).ok
    state, hidden = default_start_state(), IR.new_hidden(cart)
    ref = FrameRef(cart, state)
    for frame in range(2):
        out = be.run_inference(1, frame)
        assert out.ok, out.error
        assert out.cu > 1_400_000  # more than one transaction's worth
        state, _, hidden = ref.step(state, np.zeros((2, 8), np.int64), hidden)
        assert be.session(1).frame == frame + 1
        assert np.array_equal(np.array(be.session(1).fighters), state)
    assert E.custom_code(be.run_inference(1, 1).error) == E.StaleFrame  # a duplicate crank


def test_tiny_wide_frame_in_one_transaction(so_path):
    """The game's own path for tiny-wide (issue 16): frame 1 measures the steps one per
    transaction, frame 2 packs them not knowing the fixed cost of a transaction and learns it,
    and from frame 3 on the whole frame is one transaction within the packing budget; every
    frame bit-exact with the integer reference."""
    cart = R.random_cartridge("tiny-wide", 6)
    be = EmbeddedBackend(so_path)
    model_id = be.upload_model(cart)
    p1, p2 = Keypair(), Keypair()
    assert be.create_session(1, model_id, p1).ok and be.join_session(1, p2).ok
    sent: list[int] = []  # transactions per frame, counted at the backend's one send()
    send = be.send
    be.send = lambda *a, **k: (sent.append(1), send(*a, **k))[1]
    state, hidden = default_start_state(), IR.new_hidden(cart)
    ref = FrameRef(cart, state)
    per_frame = []
    for frame in range(4):
        sent.clear()
        out = be.run_inference(1, frame)
        assert out.ok, out.error
        per_frame.append((len(sent), out.cu))
        state, _, hidden = ref.step(state, np.zeros((2, 8), np.int64), hidden)
        assert np.array_equal(np.array(be.session(1).fighters), state)
    assert per_frame[0][0] == steps.steps_per_frame(cart.preset)  # measured one step per transaction
    assert per_frame[1][0] == 2  # conservative: the fixed cost counted once per step
    assert [n for n, _ in per_frame[2:]] == [1, 1], per_frame
    assert all(cu <= steps.PACK_BUDGET for _, cu in per_frame[2:]), per_frame


def test_upload_is_resumable(so_path, cart):
    """An upload interrupted half-way resumes, sending only the missing chunks."""
    from onchain.sdk import upload as U
    be = EmbeddedBackend(so_path)
    manifest, weights = U.load_cartridge_bytes(cart)
    plan = U.chunk_plan(weights)
    half = len(plan) // 2
    from onchain.sdk import instructions as I
    assert be.send([I.init_manifest(be.program_id, be.authority.pubkey(), 9, manifest)], [be.authority]).ok
    for shard, off, chunk in plan[:half]:
        assert be.send([I.upload_weights(be.program_id, be.authority.pubkey(), 9, shard, off, chunk)],
                       [be.authority]).ok
    rep = U.upload(be, be.authority, 9, manifest, weights)
    assert rep.chunks_total == len(plan) and rep.chunks_sent == len(plan) - half and rep.finalized_now
    assert be.manifest(9).finalized
    again = U.upload(be, be.authority, 9, manifest, weights)
    assert again.chunks_sent == 0 and again.txs == 0


def test_upload_transactions_fit_the_size_limit(so_path, cart):
    from solders.transaction import Transaction
    from onchain.sdk import instructions as I
    be = EmbeddedBackend(so_path)
    ix = I.upload_weights(be.program_id, be.authority.pubkey(), 1, 0, 0, bytes(I.UPLOAD_CHUNK))
    tx = Transaction.new_signed_with_payer([ix], be.payer.pubkey(), [be.payer, be.authority],
                                           be.svm.latest_blockhash())
    assert len(bytes(tx)) <= 1232
