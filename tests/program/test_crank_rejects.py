"""schedule_crank / cancel_crank / run_inference(NEXT_FRAME) through the compiled program in LiteSVM:
every rejection with its error code and every named account unchanged. LiteSVM has no Magic program,
so a well-formed schedule_crank fails at its CPI there, and must leave the session as it was; the
scheduled path itself runs in the real ER (tests/localnet/test_er_crank.py)."""
from __future__ import annotations

import pytest
from solders.account import Account
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair

from onchain.sdk import accounts as A
from onchain.sdk import delegation as D
from onchain.sdk import errors as E
from onchain.sdk import instructions as I
from onchain.sdk import pda
from onchain.backends.embedded import EmbeddedBackend
from worldmodel import randmodel as R

MODEL, OTHER_MODEL = 1, 2
ACTIVE, WAITING, OTHER_ACTIVE = 5, 6, 7


class World:
    """Models 1 and 2 finalized; sessions 5 and 7 active (p1, p2), session 6 waiting (p1)."""

    def __init__(self, so_path):
        self.be = be = EmbeddedBackend(so_path)
        self.pid = be.program_id
        self.cart = R.random_cartridge("micro", 31)
        assert be.upload_model(self.cart, MODEL) == MODEL
        assert be.upload_model(R.random_cartridge("micro", 32), OTHER_MODEL) == OTHER_MODEL
        self.p1, self.p2, self.stranger = Keypair(), Keypair(), Keypair()
        # Stands in for the ER validator's identity, which signs the scheduler's transactions.
        self.validator = Keypair()
        for kp in (self.p1, self.p2, self.stranger, self.validator):
            be.fund(kp.pubkey())
        v = self.validator.pubkey()
        for sid in (ACTIVE, OTHER_ACTIVE):
            assert be.create_session(sid, MODEL, self.p1, validator=v).ok and be.join_session(sid, self.p2).ok
        assert be.create_session(WAITING, MODEL, self.p1, validator=v).ok

    def schedule(self, signer, session_id=ACTIVE, model_id=MODEL, shards=1, interval_ms=16, iterations=100):
        return D.schedule_crank(self.pid, signer.pubkey(), session_id, model_id, shards, self.validator.pubkey(),
                                interval_ms, iterations)

    def reject(self, ix, signers, code):
        keys = {m.pubkey for m in ix.accounts}
        keys.discard(self.be.payer.pubkey())
        before = {k: self.be.svm.get_account(k) for k in keys}
        out = self.be.send([ix], signers, cu_limit=1_400_000)
        assert not out.ok, "transaction unexpectedly succeeded"
        if isinstance(code, int):
            assert E.custom_code(out.error) == code, f"expected {E.CODES[code]}, got {out.error}"
        else:
            assert code in (out.error or ""), out.error
        for k in keys:
            assert self.be.svm.get_account(k) == before[k], f"{k} changed by a rejected transaction"
        return out

    def session_data(self, session_id=ACTIVE) -> bytes:
        return bytes(self.be.svm.get_account(pda.session(self.pid, session_id)).data)

    def set_crank_byte(self, session_id: int, value: int) -> None:
        """Stand-in for what schedule_crank does in the ER (LiteSVM has no Magic program to call)."""
        key = pda.session(self.pid, session_id)
        acc = self.be.svm.get_account(key)
        data = bytearray(acc.data)
        data[A.CRANK_OFFSET] = value
        self.be.svm.set_account(key, Account(acc.lamports, bytes(data), acc.owner, acc.executable, acc.rent_epoch))


@pytest.fixture(scope="module")
def world(so_path):
    return World(so_path)


def metas_with(ix: Instruction, index: int, key=None, signer=None, writable=None) -> Instruction:
    metas = list(ix.accounts)
    m = metas[index]
    metas[index] = AccountMeta(m.pubkey if key is None else key, m.is_signer if signer is None else signer,
                               m.is_writable if writable is None else writable)
    return Instruction(ix.program_id, bytes(ix.data), metas)


# -- schedule_crank ------------------------------------------------------------------------

def test_schedule_by_a_stranger(world):
    w = world
    w.reject(w.schedule(w.stranger), [w.stranger], E.Unauthorized)


def test_schedule_without_the_players_signature(world):
    w = world
    w.reject(metas_with(w.schedule(w.p1), 0, signer=False), [], E.MissingSigner)


def test_schedule_a_session_still_waiting_for_player_2(world):
    w = world
    w.reject(w.schedule(w.p1, session_id=WAITING), [w.p1], E.SessionNotActive)


def test_schedule_with_another_sessions_hidden_state(world):
    w = world
    ix = metas_with(w.schedule(w.p1), 2, key=pda.hidden(w.pid, OTHER_ACTIVE))
    w.reject(ix, [w.p1], E.InvalidPda)  # not at this session's HiddenState address


def test_schedule_with_another_models_accounts(world):
    w = world
    ix = w.schedule(w.p1)
    ix = metas_with(ix, 4, key=pda.manifest(w.pid, OTHER_MODEL))
    w.reject(ix, [w.p1], E.AccountMismatch)
    ix = metas_with(w.schedule(w.p1), 7, key=pda.weights(w.pid, OTHER_MODEL, 0))
    w.reject(ix, [w.p1], E.AccountMismatch)


def test_schedule_without_the_weights(world):
    w = world
    w.reject(w.schedule(w.p1, shards=0), [w.p1], "NotEnoughAccountKeys")


def test_schedule_with_a_fake_magic_program(world):
    w = world
    w.reject(metas_with(w.schedule(w.p1), 5, key=Keypair().pubkey()), [w.p1], E.InvalidAccount)


def test_schedule_with_a_read_only_session(world):
    w = world
    w.reject(metas_with(w.schedule(w.p1), 1, writable=False), [w.p1], E.InvalidAccount)


@pytest.mark.parametrize("interval_ms,iterations", [(0, 10), (16, 0), (16, 2**63)])
def test_schedule_with_a_bad_interval_or_count(world, interval_ms, iterations):
    w = world
    w.reject(w.schedule(w.p1, interval_ms=interval_ms, iterations=iterations), [w.p1], E.InvalidInstruction)


def test_schedule_outside_an_er_changes_nothing(world):
    """Well formed, by a player: it gets as far as the Magic program, which only an ER has. The
    failed CPI undoes the crank byte with the rest of the transaction."""
    w = world
    out = w.reject(w.schedule(w.p2), [w.p2], "")
    assert E.custom_code(out.error) is None, out.error  # not one of the program's own checks
    assert not A.session_crank_scheduled(w.session_data())


# -- cancel_crank --------------------------------------------------------------------------

def test_cancel_by_a_stranger_before_the_timeout(world):
    w = world
    w.reject(D.cancel_crank(w.pid, w.stranger.pubkey(), ACTIVE), [w.stranger], E.CloseTooEarly)


def test_cancel_with_a_fake_magic_program(world):
    w = world
    ix = metas_with(D.cancel_crank(w.pid, w.p1.pubkey(), ACTIVE), 2, key=Keypair().pubkey())
    w.reject(ix, [w.p1], E.InvalidAccount)


def test_cancel_of_a_wrong_account(world):
    w = world
    ix = metas_with(D.cancel_crank(w.pid, w.p1.pubkey(), ACTIVE), 1, key=pda.input_buffer(w.pid, ACTIVE))
    w.reject(ix, [w.p1], E.InvalidAccount)


# -- run_inference's next-frame form ---------------------------------------------------------

def test_next_frame_without_a_scheduled_crank(world):
    w = world
    ix = I.run_inference_for(w.pid, w.validator.pubkey(), ACTIVE, MODEL, 1, D.NEXT_FRAME)
    w.reject(ix, [w.validator], E.CrankNotScheduled)


def test_next_frame_only_from_the_sessions_validator(world):
    """The scheduled form is the ER scheduler's, signed by the validator's identity: a player or
    the crank key replaying it is refused even while the crank is on."""
    w = world
    w.set_crank_byte(ACTIVE, A.CRANK_SCHEDULED)
    try:
        for kp in (w.p1, w.stranger):
            w.reject(I.run_inference_for(w.pid, kp.pubkey(), ACTIVE, MODEL, 1, D.NEXT_FRAME), [kp], E.Unauthorized)
        w.reject(I.run_inference_for(w.pid, w.be.payer.pubkey(), ACTIVE, MODEL, 1, D.NEXT_FRAME), [], E.Unauthorized)
    finally:
        w.set_crank_byte(ACTIVE, 0)


def test_next_frame_runs_the_frame_in_flight_once(world):
    """With the crank byte set, NEXT_FRAME computes exactly the frame the exact form would, frame
    after frame: the same fighters as a twin session cranked with exact frame numbers."""
    w = world
    twin = OTHER_ACTIVE
    w.set_crank_byte(ACTIVE, A.CRANK_SCHEDULED)
    start = A.decode_session(w.session_data()).frame
    assert A.decode_session(w.session_data(twin)).frame == start
    for f in range(start, start + 3):
        out = w.be.send([I.run_inference_for(w.pid, w.validator.pubkey(), ACTIVE, MODEL, 1, D.NEXT_FRAME)],
                        [w.validator], cu_limit=1_400_000)
        assert out.ok, out.error
        assert w.be.run_inference(twin, f).ok
        a, b = A.decode_session(w.session_data()), A.decode_session(w.session_data(twin))
        assert a.frame == b.frame == f + 1
        assert a.fighters == b.fighters
    # The exact form still guards a retried frame while the scheduled crank is on.
    w.reject(I.run_inference_for(w.pid, w.be.payer.pubkey(), ACTIVE, MODEL, 1, start), [], E.StaleFrame)
    w.set_crank_byte(ACTIVE, 0)
