"""run_inference rejects malformed cranks with the right error and changes nothing; a frame
split across transactions resumes where it stopped and advances the frame exactly once."""
import re
import struct

import numpy as np
import pytest
from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey

from onchain.sdk import accounts as A
from onchain.sdk import instructions as I
from onchain.sdk import pda
from onchain.sdk import steps as S
from onchain.backends.direct import DirectSession
from onchain.backends.svm import ProgramVM
from worldmodel import intref as IR
from worldmodel import randmodel as R

INVALID_INSTRUCTION, INVALID_ACCOUNT, INVALID_MANIFEST, INVALID_WEIGHTS = 1, 2, 3, 4
ACCOUNT_MISMATCH, STALE_FRAME = 5, 6
NOT_FINALIZED, SESSION_NOT_ACTIVE = 14, 20
FRAMES_BEFORE = 2
MID_STEPS = 7  # a partly computed frame: micro has 26 steps


class Env:
    """A micro session that has run FRAMES_BEFORE frames (and optionally part of the next),
    with the reference alongside."""

    def __init__(self, so_path, partial: int = 0, seed: int = 0):
        self.cart = R.random_cartridge("micro", 100 + seed)
        self.rng = np.random.default_rng(200 + seed)
        self.vm = ProgramVM(so_path)
        self.state = R.random_state(self.rng)
        self.ds = DirectSession(self.vm, self.cart, self.state)
        self.hidden = IR.new_hidden(self.cart)
        for _ in range(FRAMES_BEFORE):
            self.ctrl = R.random_controls(self.rng)
            self.ds.set_controls(self.ctrl)
            assert all(r.ok for r in self.ds.step([1] * self.ds.steps))
            self.state, _, self.hidden = IR.step(self.cart, self.state, self.ctrl, self.hidden)
        self.ctrl = R.random_controls(self.rng)
        self.ds.set_controls(self.ctrl)
        for _ in range(partial):  # one step per transaction
            res = self.vm.send(self.ds.run_ix(FRAMES_BEFORE, 1))
            assert res.ok, res.error
        assert self.ds.frame() == FRAMES_BEFORE and self.ds.next_step() == partial

    def snapshot(self):
        snap = {k: self.vm.data(getattr(self.ds, k)) for k in ("session", "hidden", "input", "manifest")}
        snap.update({f"weights[{i}]": self.vm.data(w) for i, w in enumerate(self.ds.weights)})
        return snap

    def assert_rejected(self, ix, code, before=None):
        before = before or self.snapshot()
        res = self.vm.send(ix)
        assert not res.ok, "instruction unexpectedly succeeded"
        if isinstance(code, int):
            m = re.search(r"Custom\((\d+)\)", res.error or "")
            assert m and int(m.group(1)) == code, f"expected Custom({code}), got {res.error}"
        else:
            assert res.error is not None and code in res.error, res.error
        after = self.snapshot()
        for k in before:
            assert after[k] == before[k], f"{k} account changed by a rejected crank ({res.error})"
        return res

    def finish_frame_and_check(self):
        """Complete the current frame with a correct crank and compare with the reference."""
        frame = self.ds.frame()
        # at most 6 micro steps per transaction (~0.76M CU); the last crank asks for ALL_STEPS
        while self.ds.steps - self.ds.next_step() > 6:
            res = self.vm.send(self.ds.run_ix(frame, 6))
            assert res.ok, res.error
            assert self.ds.frame() == frame
        res = self.vm.send(self.ds.run_ix(frame, I.ALL_STEPS))
        assert res.ok, res.error
        self.state, _, self.hidden = IR.step(self.cart, self.state, self.ctrl, self.hidden)
        assert self.ds.frame() == frame + 1 and self.ds.next_step() == 0
        assert np.array_equal(self.ds.fighters(), self.state)
        assert np.array_equal(self.ds.hidden_state(), self.hidden)

    def ix(self, data: bytes, n_accounts: int = 5) -> Instruction:
        base = self.ds.run_ix(self.ds.frame())
        return Instruction(self.vm.program_id, data, list(base.accounts)[:n_accounts])


@pytest.fixture(params=[0, MID_STEPS], ids=["frame-start", "mid-frame"])
def env(so_path, request):
    return Env(so_path, partial=request.param)


# -- stale frames ----------------------------------------------------------------------

@pytest.mark.parametrize("delta", [1, -1, 2, -FRAMES_BEFORE, 1 << 40])
def test_stale_expected_frame(env, delta):
    frame = env.ds.frame()
    assert frame > 0
    env.assert_rejected(env.ds.run_ix(frame + delta, 1), STALE_FRAME)
    env.assert_rejected(env.ds.run_ix(frame + delta, I.ALL_STEPS), STALE_FRAME)
    env.finish_frame_and_check()


def test_completed_frame_cannot_be_cranked_again(so_path):
    env = Env(so_path, partial=MID_STEPS)
    frame = env.ds.frame()
    env.finish_frame_and_check()
    env.assert_rejected(env.ds.run_ix(frame, 1), STALE_FRAME)


def test_hidden_frame_behind_session(env):
    """A HiddenState whose frame differs from the session's is stale, whatever the crank says."""
    data = bytearray(env.vm.data(env.ds.hidden))
    struct.pack_into("<Q", data, 24, env.ds.frame() - 1)
    env.vm.put(bytes(data), key=env.ds.hidden)
    env.assert_rejected(env.ds.run_ix(env.ds.frame(), 1), STALE_FRAME)


# -- instruction data --------------------------------------------------------------------

def test_empty_instruction_data(env):
    env.assert_rejected(env.ix(b""), INVALID_INSTRUCTION)
    env.finish_frame_and_check()


@pytest.mark.parametrize("disc", [8, 15, 31, 33, 196, 255])
def test_unknown_discriminator(env, disc):
    data = struct.pack("<BQH", disc, env.ds.frame(), 1)
    env.assert_rejected(env.ix(data), INVALID_INSTRUCTION)


@pytest.mark.parametrize("length", [1, 2, 9, 10, 12])
def test_wrong_length_instruction_data(env, length):
    full = struct.pack("<BQH", I.RUN_INFERENCE, env.ds.frame(), 1) + b"\0\0"  # 13 bytes
    env.assert_rejected(env.ix(full[:length]), INVALID_INSTRUCTION)
    env.finish_frame_and_check()


def test_too_few_accounts(env):
    data = struct.pack("<BQH", I.RUN_INFERENCE, env.ds.frame(), 1)
    for n in (0, 3, 4):
        env.assert_rejected(env.ix(data, n_accounts=n), "NotEnoughAccountKeys")
    env.finish_frame_and_check()


# -- accounts ------------------------------------------------------------------------------

def test_session_owned_by_another_program(env):
    env.vm.put(env.vm.data(env.ds.session), key=env.ds.session, owner=Pubkey.new_unique())
    env.assert_rejected(env.ds.run_ix(env.ds.frame(), 1), INVALID_ACCOUNT)


@pytest.mark.parametrize("which", ["hidden", "input", "manifest", "weights"])
def test_other_account_owned_by_another_program(env, which):
    key = getattr(env.ds, which)
    key = key[0] if isinstance(key, list) else key
    env.vm.put(env.vm.data(key), key=key, owner=Pubkey.new_unique())
    env.assert_rejected(env.ds.run_ix(env.ds.frame(), 1), INVALID_ACCOUNT)


def test_accounts_in_wrong_order(env):
    ds = env.ds
    ix = I.run_inference(env.vm.program_id, env.vm.payer.pubkey(), ds.hidden, ds.session, ds.input, ds.manifest, ds.weights, ds.frame(), 1)
    env.assert_rejected(ix, INVALID_ACCOUNT)
    ix = I.run_inference(env.vm.program_id, env.vm.payer.pubkey(), ds.session, ds.hidden, ds.input, ds.weights[0], [ds.manifest], ds.frame(), 1)
    env.assert_rejected(ix, INVALID_ACCOUNT)


def test_session_not_writable(env):
    ix = env.ds.run_ix(env.ds.frame(), 1)
    metas = list(ix.accounts)
    metas[1] = AccountMeta(metas[1].pubkey, is_signer=False, is_writable=False)  # 0 is the cranker
    env.assert_rejected(Instruction(ix.program_id, ix.data, metas), INVALID_ACCOUNT)


def test_weights_of_another_model(env):
    env.vm.put(A.weights_account(2, env.cart.weights_bytes()), key=env.ds.weights[0])
    env.assert_rejected(env.ds.run_ix(env.ds.frame(), 1), ACCOUNT_MISMATCH)


def test_hidden_of_another_session(env):
    data = bytearray(env.vm.data(env.ds.hidden))
    struct.pack_into("<Q", data, 8, 2)
    env.vm.put(bytes(data), key=env.ds.hidden)
    env.assert_rejected(env.ds.run_ix(env.ds.frame(), 1), ACCOUNT_MISMATCH)


def test_input_of_another_session(env):
    env.vm.put(A.input_account(2, env.ctrl), key=env.ds.input)
    env.assert_rejected(env.ds.run_ix(env.ds.frame(), 1), ACCOUNT_MISMATCH)


def test_manifest_not_finalized(env):
    w = env.cart.weights_bytes()
    env.vm.put(A.manifest_account(1, bytes(32), env.cart.manifest_bytes(w), finalized=False,
                                  bump=pda.manifest_bump(env.vm.program_id, 1)), key=env.ds.manifest)
    env.assert_rejected(env.ds.run_ix(env.ds.frame(), 1), NOT_FINALIZED)


@pytest.mark.parametrize("status", [0, 2], ids=["waiting", "ended"])
def test_session_not_active(env, status):
    data = bytearray(env.vm.data(env.ds.session))
    data[2] = status
    env.vm.put(bytes(data), key=env.ds.session)
    env.assert_rejected(env.ds.run_ix(env.ds.frame(), 1), SESSION_NOT_ACTIVE)


@pytest.mark.parametrize("cut", ["below-header", "one-word-short", "one-layer-short"])
def test_hidden_account_too_short(env, cut):
    data = env.vm.data(env.ds.hidden)
    assert len(data) == S.hidden_len(env.cart.preset)
    p = env.cart.preset
    n = {"below-header": S.HIDDEN_HEADER - 1, "one-word-short": len(data) - 4,
         "one-layer-short": len(data) - 4 * p.d_inner * p.d_state}[cut]
    env.vm.put(data[:n], key=env.ds.hidden)
    env.assert_rejected(env.ds.run_ix(env.ds.frame(), 1), INVALID_ACCOUNT)
    env.assert_rejected(env.ds.run_ix(env.ds.frame(), I.ALL_STEPS), INVALID_ACCOUNT)


@pytest.mark.parametrize("offset,value", [(0, b"X"), (7, b"2"), (8, b"\x02")], ids=["magic0", "magic7", "version"])
def test_corrupted_manifest(env, offset, value):
    data = bytearray(env.vm.data(env.ds.manifest))
    data[A.ACCOUNT_HEADER + offset:A.ACCOUNT_HEADER + offset + 1] = value
    env.vm.put(bytes(data), key=env.ds.manifest)
    env.assert_rejected(env.ds.run_ix(env.ds.frame(), 1), INVALID_MANIFEST)


def test_manifest_length_past_account_end(env):
    data = bytearray(env.vm.data(env.ds.manifest))
    struct.pack_into("<I", data, 52, len(data))  # claims more manifest bytes than the account holds
    env.vm.put(bytes(data), key=env.ds.manifest)
    env.assert_rejected(env.ds.run_ix(env.ds.frame(), 1), INVALID_MANIFEST)


def test_weights_account_too_short(env):
    env.vm.put(A.weights_account(1, env.cart.weights_bytes()[:-8], bump=pda.weights_bump(env.vm.program_id, 1, 0)),
               key=env.ds.weights[0])
    env.assert_rejected(env.ds.run_ix(env.ds.frame(), 1), INVALID_WEIGHTS)


def test_next_step_out_of_range(env):
    data = bytearray(env.vm.data(env.ds.hidden))
    struct.pack_into("<H", data, 2, env.ds.steps)
    env.vm.put(bytes(data), key=env.ds.hidden)
    env.assert_rejected(env.ds.run_ix(env.ds.frame(), 1), INVALID_ACCOUNT)


# -- a frame split across transactions -------------------------------------------------------

@pytest.mark.parametrize("k", [1, 2, 3, 7, 13, 25])
def test_split_frame_resumes_and_advances_once(so_path, k):
    env = Env(so_path, seed=k)
    ds, frame = env.ds, env.ds.frame()
    fighters0 = ds.fighters()
    for i in range(k):  # one step per transaction
        res = env.vm.send(ds.run_ix(frame, 1))
        assert res.ok, res.error
        assert ds.next_step() == i + 1
        assert ds.frame() == frame, f"frame advanced after {i + 1} of {ds.steps} steps"
        assert np.array_equal(ds.fighters(), fighters0)
    # a crank for the wrong frame mid-way changes nothing
    env.assert_rejected(ds.run_ix(frame + 1, 1), STALE_FRAME)
    assert ds.next_step() == k
    # the right frame continues: all remaining steps in one go if they fit, else in two
    # (at most 6 micro steps per transaction, ~0.76M CU; the last crank asks for ALL_STEPS)
    while ds.steps - ds.next_step() > 6:
        res = env.vm.send(ds.run_ix(frame, 6))
        assert res.ok, res.error
        assert ds.frame() == frame
    res = env.vm.send(ds.run_ix(frame, I.ALL_STEPS))
    assert res.ok, res.error
    env.state, _, env.hidden = IR.step(env.cart, env.state, env.ctrl, env.hidden)
    assert ds.frame() == frame + 1 and ds.next_step() == 0
    assert np.array_equal(ds.fighters(), env.state)
    assert np.array_equal(ds.hidden_state(), env.hidden)
    # the old frame number is now stale; the next frame starts from step 0
    env.assert_rejected(ds.run_ix(frame, 1), STALE_FRAME)
    res = env.vm.send(ds.run_ix(frame + 1, 1))
    assert res.ok, res.error
    assert ds.frame() == frame + 1 and ds.next_step() == 1


def test_step_count_past_end_finishes_frame_only(so_path):
    """A step_count larger than the steps left runs to the end of this frame, no further."""
    env = Env(so_path, partial=22)
    frame = env.ds.frame()
    res = env.vm.send(env.ds.run_ix(frame, 1000))
    assert res.ok, res.error
    env.state, _, env.hidden = IR.step(env.cart, env.state, env.ctrl, env.hidden)
    assert env.ds.frame() == frame + 1 and env.ds.next_step() == 0
    assert np.array_equal(env.ds.fighters(), env.state)
    assert np.array_equal(env.ds.hidden_state(), env.hidden)


def test_controls_read_at_frame_start(so_path):
    """Controls are read by the encoder step only: changing the input buffer mid-frame
    does not change the frame being computed."""
    env = Env(so_path, partial=MID_STEPS)
    env.ds.set_controls(R.random_controls(np.random.default_rng(999)))
    env.finish_frame_and_check()  # compares against the reference with the original controls


def test_over_budget_crank_changes_nothing(so_path):
    """A crank that runs out of compute (all 26 micro steps under a 200K CU limit) fails
    atomically: nothing it computed is kept, and the frame can still be finished."""
    env = Env(so_path)
    before = env.snapshot()
    res = env.vm.send(env.ds.run_ix(env.ds.frame(), I.ALL_STEPS), cu_limit=200_000)
    assert not res.ok
    assert env.snapshot() == before
    assert all(r.ok for r in env.ds.step([1] * env.ds.steps))
    env.state, _, env.hidden = IR.step(env.cart, env.state, env.ctrl, env.hidden)
    assert np.array_equal(env.ds.fighters(), env.state)
    assert np.array_equal(env.ds.hidden_state(), env.hidden)
