"""Every rejection users rely on, through the real program in LiteSVM: each bad
transaction fails with its specific error code and leaves every account it names
exactly as it was (data, lamports, owner)."""
import struct

import pytest
from solders.account import Account
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from onchain.sdk import accounts as A
from onchain.sdk import errors as E
from onchain.sdk import instructions as I
from onchain.sdk import pda
from onchain.sdk import upload as U
from onchain.sdk.wire import ControllerInput
from onchain.backends.embedded import EmbeddedBackend, default_start_state
from worldmodel import randmodel as R

OPEN_MODEL, FINAL_MODEL, OTHER_MODEL = 2, 1, 3
ACTIVE, WAITING = 5, 6


class World:
    """Model 1 finalized; model 3 finalized (another cartridge); model 2 fully uploaded
    but not finalized; session 5 active (p1, p2) with one frame computed; session 6
    waiting (p1 only)."""

    def __init__(self, so_path):
        self.be = be = EmbeddedBackend(so_path)
        self.pid = be.program_id
        self.cart = R.random_cartridge("micro", 21)
        self.other = R.random_cartridge("micro", 22)
        assert be.upload_model(self.cart, FINAL_MODEL) == FINAL_MODEL
        assert be.upload_model(self.other, OTHER_MODEL) == OTHER_MODEL
        man, w = U.load_cartridge_bytes(self.cart)
        self.man, self.weights = man, w
        assert be.send([I.init_manifest(self.pid, be.authority.pubkey(), OPEN_MODEL, man)], [be.authority]).ok
        for shard, off, chunk in U.chunk_plan(w):
            assert be.send([I.upload_weights(self.pid, be.authority.pubkey(), OPEN_MODEL, shard, off, chunk)],
                           [be.authority]).ok
        self.p1, self.p2, self.stranger = Keypair(), Keypair(), Keypair()
        for kp in (self.p1, self.p2, self.stranger):
            be.fund(kp.pubkey())
        assert be.create_session(ACTIVE, FINAL_MODEL, self.p1).ok
        assert be.join_session(ACTIVE, self.p2).ok
        assert be.run_inference(ACTIVE, 0).ok
        assert be.create_session(WAITING, FINAL_MODEL, self.p1).ok

    def snapshot(self, keys):
        out = {}
        for k in keys:
            acc = self.be.svm.get_account(k)
            out[k] = None if acc is None else (acc.lamports, bytes(acc.data), acc.owner, acc.executable)
        return out

    def reject(self, ixs, signers, code, extra_keys=()):
        ixs = ixs if isinstance(ixs, list) else [ixs]
        keys = {m.pubkey for ix in ixs for m in ix.accounts} | set(extra_keys)
        keys.discard(self.be.payer.pubkey())  # the fee payer pays the fee even on failure
        before = self.snapshot(keys)
        out = self.be.send(ixs, signers, cu_limit=1_400_000)
        assert not out.ok, "transaction unexpectedly succeeded"
        if isinstance(code, int):
            assert E.custom_code(out.error) == code, f"expected {E.CODES[code]}, got {out.error}"
        else:
            assert code in (out.error or ""), out.error
        after = self.snapshot(keys)
        for k in keys:
            assert after[k] == before[k], f"account {k} changed by a rejected transaction ({out.error})"
        return out

    def put_copy(self, key, owner=None, data=None):
        acc = self.be.svm.get_account(key)
        self.be.svm.set_account(key, Account(acc.lamports, data if data is not None else bytes(acc.data),
                                             owner or acc.owner, False, 0))


@pytest.fixture(scope="module")
def world(so_path):
    return World(so_path)


def strip_signer(ix: Instruction, index: int) -> Instruction:
    metas = list(ix.accounts)
    m = metas[index]
    metas[index] = AccountMeta(m.pubkey, is_signer=False, is_writable=m.is_writable)
    return Instruction(ix.program_id, bytes(ix.data), metas)


def with_data(ix: Instruction, data: bytes) -> Instruction:
    return Instruction(ix.program_id, data, list(ix.accounts))


def replace_account(ix: Instruction, index: int, key: Pubkey) -> Instruction:
    metas = list(ix.accounts)
    m = metas[index]
    metas[index] = AccountMeta(key, is_signer=m.is_signer, is_writable=m.is_writable)
    return Instruction(ix.program_id, bytes(ix.data), metas)


# -- signers ---------------------------------------------------------------------------

def test_upload_by_stranger(world):
    w = world
    ix = I.upload_weights(w.pid, w.stranger.pubkey(), OPEN_MODEL, 0, 0, w.weights[:64])
    w.reject(ix, [w.stranger], E.Unauthorized)


def test_upload_missing_signature(world):
    w = world
    ix = strip_signer(I.upload_weights(w.pid, w.be.authority.pubkey(), OPEN_MODEL, 0, 0, w.weights[:64]), 0)
    w.reject(ix, [], E.MissingSigner)


def test_finalize_by_stranger(world):
    w = world
    w.reject(I.finalize_weights(w.pid, w.stranger.pubkey(), OPEN_MODEL, 1), [w.stranger], E.Unauthorized)


def test_submit_input_missing_signature(world):
    w = world
    ix = strip_signer(I.submit_input(w.pid, w.p1.pubkey(), ACTIVE, 0, 1, ControllerInput()), 0)
    w.reject(ix, [], E.MissingSigner)


def test_close_missing_signature(world):
    w = world
    ix = strip_signer(I.close_session(w.pid, w.p1.pubkey(), w.p1.pubkey(), ACTIVE, FINAL_MODEL), 0)
    w.reject(ix, [], E.MissingSigner)


# -- addresses and owners ----------------------------------------------------------------

def test_init_manifest_wrong_pda(world):
    w = world
    ix = replace_account(I.init_manifest(w.pid, w.be.authority.pubkey(), 77, w.man), 1, Pubkey.new_unique())
    w.reject(ix, [w.be.authority], E.InvalidPda)


def test_init_manifest_pda_of_another_id(world):
    w = world
    ix = replace_account(I.init_manifest(w.pid, w.be.authority.pubkey(), 77, w.man), 1, pda.manifest(w.pid, 78))
    w.reject(ix, [w.be.authority], E.InvalidPda)


def test_create_session_wrong_pda(world):
    w = world
    ix = I.create_session(w.pid, w.p1.pubkey(), 90, FINAL_MODEL, default_start_state())
    for index in (2, 3, 4):
        w.reject(replace_account(ix, index, pda.session(w.pid, 91)), [w.p1], E.InvalidPda)


def test_upload_weights_wrong_pda(world):
    w = world
    be = w.be
    assert be.send([I.init_manifest(w.pid, be.authority.pubkey(), 80, w.man)], [be.authority]).ok
    ix = I.upload_weights(w.pid, be.authority.pubkey(), 80, 0, 0, w.weights[:64])
    w.reject(replace_account(ix, 2, pda.weights(w.pid, 80, 1)), [be.authority], E.InvalidPda)


def test_session_owned_by_another_program(world):
    w = world
    key = pda.session(w.pid, ACTIVE)
    acc = w.be.svm.get_account(key)
    w.put_copy(key, owner=Pubkey.new_unique())
    try:
        w.reject(I.submit_input(w.pid, w.p1.pubkey(), ACTIVE, 0, 1, ControllerInput()), [w.p1], E.InvalidAccount)
        w.reject(I.run_inference_for(w.pid, w.be.payer.pubkey(), ACTIVE, FINAL_MODEL, 1, 1), [], E.InvalidAccount)
        w.reject(I.close_session(w.pid, w.p1.pubkey(), w.p1.pubkey(), ACTIVE, FINAL_MODEL), [w.p1], E.InvalidAccount)
    finally:
        w.be.svm.set_account(key, acc)


def test_manifest_owned_by_another_program(world):
    w = world
    key = pda.manifest(w.pid, OPEN_MODEL)
    acc = w.be.svm.get_account(key)
    w.put_copy(key, owner=Pubkey.new_unique())
    try:
        w.reject(I.upload_weights(w.pid, w.be.authority.pubkey(), OPEN_MODEL, 0, 0, w.weights[:64]),
                 [w.be.authority], E.InvalidAccount)
    finally:
        w.be.svm.set_account(key, acc)


def test_system_program_substituted(world):
    w = world
    ix = I.create_session(w.pid, w.p1.pubkey(), 92, FINAL_MODEL, default_start_state())
    w.reject(replace_account(ix, 5, Pubkey.new_unique()), [w.p1], E.InvalidAccount)


# -- models -------------------------------------------------------------------------------

def test_run_inference_with_another_models_weights(world):
    w = world
    ix = I.run_inference(w.pid, w.be.payer.pubkey(), *pda.session_accounts(w.pid, ACTIVE), pda.manifest(w.pid, FINAL_MODEL),
                         [pda.weights(w.pid, OTHER_MODEL, 0)], 1)
    w.reject(ix, [], E.AccountMismatch)


def test_finalize_with_another_models_weights(world):
    w = world
    ix = replace_account(I.finalize_weights(w.pid, w.be.authority.pubkey(), OPEN_MODEL, 1), 2,
                         pda.weights(w.pid, OTHER_MODEL, 0))
    w.reject(ix, [w.be.authority], E.AccountMismatch)


def test_upload_after_finalize(world):
    w = world
    ix = I.upload_weights(w.pid, w.be.authority.pubkey(), FINAL_MODEL, 0, 0, bytes(64))
    w.reject(ix, [w.be.authority], E.AlreadyFinalized)
    w.reject(I.finalize_weights(w.pid, w.be.authority.pubkey(), FINAL_MODEL, 1), [w.be.authority],
             E.AlreadyFinalized)


def test_finalize_with_wrong_hash(world):
    w = world
    be = w.be
    bad = bytearray(w.weights)
    bad[12345] ^= 1
    assert be.send([I.init_manifest(w.pid, be.authority.pubkey(), 81, w.man)], [be.authority]).ok
    for shard, off, chunk in U.chunk_plan(bytes(bad)):
        assert be.send([I.upload_weights(w.pid, be.authority.pubkey(), 81, shard, off, chunk)], [be.authority]).ok
    w.reject(I.finalize_weights(w.pid, be.authority.pubkey(), 81, 1), [be.authority], E.HashMismatch)


def test_finalize_incomplete_upload(world):
    w = world
    be = w.be
    assert be.send([I.init_manifest(w.pid, be.authority.pubkey(), 82, w.man)], [be.authority]).ok
    assert be.send([I.upload_weights(w.pid, be.authority.pubkey(), 82, 0, 0, w.weights[:500])], [be.authority]).ok
    w.reject(I.finalize_weights(w.pid, be.authority.pubkey(), 82, 1), [be.authority], E.WeightsIncomplete)


def test_upload_out_of_range(world):
    w = world
    a = w.be.authority
    w.reject(I.upload_weights(w.pid, a.pubkey(), OPEN_MODEL, 0, len(w.weights) - 10, bytes(20)), [a],
             E.UploadOutOfRange)
    w.reject(I.upload_weights(w.pid, a.pubkey(), OPEN_MODEL, 1, 0, bytes(20)), [a], E.UploadOutOfRange)


def test_upload_growing_too_far_at_once(world):
    w = world
    a = w.be.authority
    assert w.be.send([I.init_manifest(w.pid, a.pubkey(), 83, w.man)], [a]).ok
    w.reject(I.upload_weights(w.pid, a.pubkey(), 83, 0, 20_000, bytes(16)), [a], E.UploadOutOfRange)


def test_create_session_before_finalize(world):
    w = world
    ix = I.create_session(w.pid, w.p1.pubkey(), 93, OPEN_MODEL, default_start_state())
    w.reject(ix, [w.p1], E.NotFinalized)


def test_inference_before_finalize(world):
    """A session's manifest reverted to unfinalized (as if inference ran before finalize)."""
    w = world
    key = pda.manifest(w.pid, FINAL_MODEL)
    acc = w.be.svm.get_account(key)
    data = bytearray(acc.data)
    data[2] = 0
    w.put_copy(key, data=bytes(data))
    try:
        w.reject(I.run_inference_for(w.pid, w.be.payer.pubkey(), ACTIVE, FINAL_MODEL, 1, 1), [], E.NotFinalized)
    finally:
        w.be.svm.set_account(key, acc)


def test_init_manifest_twice(world):
    w = world
    w.reject(I.init_manifest(w.pid, w.be.authority.pubkey(), FINAL_MODEL, w.man), [w.be.authority],
             E.AlreadyInitialized)


def test_init_manifest_malformed(world):
    w = world
    a = w.be.authority
    w.reject(I.init_manifest(w.pid, a.pubkey(), 84, b"NOTMELEE" + w.man[8:]), [a], E.InvalidManifest)
    w.reject(I.init_manifest(w.pid, a.pubkey(), 84, w.man[:-1]), [a], E.InvalidManifest)


# -- instruction data ----------------------------------------------------------------------

@pytest.mark.parametrize("disc", [8, 9, 15, 16, 31, 33, 196, 255])
def test_unknown_discriminator(world, disc):
    w = world
    ix = I.submit_input(w.pid, w.p1.pubkey(), ACTIVE, 0, 1, ControllerInput())
    w.reject(with_data(ix, bytes([disc]) + bytes(ix.data[1:])), [w.p1], E.InvalidInstruction)


def test_empty_data(world):
    w = world
    ix = I.submit_input(w.pid, w.p1.pubkey(), ACTIVE, 0, 1, ControllerInput())
    w.reject(with_data(ix, b""), [w.p1], E.InvalidInstruction)


def _valid_ixs(w):
    a = w.be.authority
    return {
        "init_manifest": (I.init_manifest(w.pid, a.pubkey(), 85, w.man), [a], None),
        "upload_weights": (I.upload_weights(w.pid, a.pubkey(), OPEN_MODEL, 0, 0, w.weights[:8]), [a], 7),
        "finalize_weights": (I.finalize_weights(w.pid, a.pubkey(), OPEN_MODEL, 1), [a], 1),
        "create_session": (I.create_session(w.pid, w.p1.pubkey(), 94, FINAL_MODEL, default_start_state()), [w.p1], 81),
        "join_session": (I.join_session(w.pid, w.p2.pubkey(), WAITING), [w.p2], 1),
        "submit_input": (I.submit_input(w.pid, w.p1.pubkey(), ACTIVE, 0, 1, ControllerInput()), [w.p1], 18),
        "run_inference": (I.run_inference_for(w.pid, w.be.payer.pubkey(), ACTIVE, FINAL_MODEL, 1, 1), [], 11),
        "close_session": (I.close_session(w.pid, w.p1.pubkey(), w.p1.pubkey(), ACTIVE, FINAL_MODEL), [w.p1], 1),
    }


@pytest.mark.parametrize("name", ["upload_weights", "finalize_weights", "create_session", "join_session",
                                  "submit_input", "run_inference", "close_session"])
def test_truncated_and_oversized_data(world, name):
    w = world
    ix, signers, exact = _valid_ixs(w)[name]
    data = bytes(ix.data)
    assert len(data) >= exact
    cuts = [data[:exact - 1]] if exact > 1 else []
    if name not in ("upload_weights",):  # a longer upload chunk is a different valid chunk
        cuts.append(data + b"\0")
    for bad in cuts:
        w.reject(with_data(ix, bad), signers, E.InvalidInstruction)


def test_init_manifest_truncated(world):
    w = world
    ix, signers, _ = _valid_ixs(w)["init_manifest"]
    w.reject(with_data(ix, bytes(ix.data)[:5]), signers, E.InvalidInstruction)


@pytest.mark.parametrize("name", ["init_manifest", "upload_weights", "finalize_weights", "create_session",
                                  "join_session", "submit_input", "run_inference", "close_session"])
def test_too_few_accounts(world, name):
    w = world
    ix, signers, _ = _valid_ixs(w)[name]
    short = Instruction(ix.program_id, bytes(ix.data), list(ix.accounts)[:1])
    w.reject(short, signers, "NotEnoughAccountKeys")


# -- sessions --------------------------------------------------------------------------------

@pytest.mark.parametrize("field,value", [("stick_x", -128), ("stick_y", -128), ("cstick_x", -128),
                                         ("cstick_y", -128), ("buttons", 1 << 12), ("buttons", 0x8000)])
def test_out_of_range_input(world, field, value):
    w = world
    raw = bytearray(ControllerInput().encode())
    off = {"stick_x": 0, "stick_y": 1, "cstick_x": 2, "cstick_y": 3, "buttons": 6}[field]
    if field == "buttons":
        struct.pack_into("<H", raw, off, value)
    else:
        struct.pack_into("<b", raw, off, value)
    view = w.be.session(ACTIVE)
    w.reject(I.submit_input(w.pid, w.p1.pubkey(), ACTIVE, 0, view.frame, bytes(raw)), [w.p1], E.InvalidInput)


def test_input_for_the_other_players_slot(world):
    w = world
    f = w.be.session(ACTIVE).frame
    w.reject(I.submit_input(w.pid, w.p1.pubkey(), ACTIVE, 1, f, ControllerInput(buttons=1)), [w.p1], E.Unauthorized)
    w.reject(I.submit_input(w.pid, w.p2.pubkey(), ACTIVE, 0, f, ControllerInput(buttons=1)), [w.p2], E.Unauthorized)
    w.reject(I.submit_input(w.pid, w.stranger.pubkey(), ACTIVE, 0, f, ControllerInput()), [w.stranger],
             E.Unauthorized)


def test_stale_or_far_input(world):
    w = world
    f = w.be.session(ACTIVE).frame
    assert f >= 1
    w.reject(I.submit_input(w.pid, w.p1.pubkey(), ACTIVE, 0, f - 1, ControllerInput()), [w.p1], E.StaleInput)
    w.reject(I.submit_input(w.pid, w.p1.pubkey(), ACTIVE, 0, f + A.MAX_INPUT_LEAD + 1, ControllerInput()),
             [w.p1], E.StaleInput)


def test_input_to_waiting_session(world):
    w = world
    w.reject(I.submit_input(w.pid, w.p1.pubkey(), WAITING, 0, 0, ControllerInput()), [w.p1], E.SessionNotActive)


def test_inference_on_waiting_session(world):
    w = world
    w.reject(I.run_inference_for(w.pid, w.be.payer.pubkey(), WAITING, FINAL_MODEL, 1, 0), [], E.SessionNotActive)


def test_duplicate_crank(world):
    w = world
    f = w.be.session(ACTIVE).frame
    w.reject(I.run_inference_for(w.pid, w.be.payer.pubkey(), ACTIVE, FINAL_MODEL, 1, f - 1), [], E.StaleFrame)
    w.reject(I.run_inference_for(w.pid, w.be.payer.pubkey(), ACTIVE, FINAL_MODEL, 1, f + 1), [], E.StaleFrame)


def test_join_own_or_active_session(world):
    w = world
    w.reject(I.join_session(w.pid, w.p1.pubkey(), WAITING), [w.p1], E.SessionNotJoinable)
    w.reject(I.join_session(w.pid, w.stranger.pubkey(), ACTIVE), [w.stranger], E.SessionNotJoinable)


def test_create_existing_session(world):
    w = world
    ix = I.create_session(w.pid, w.p1.pubkey(), ACTIVE, FINAL_MODEL, default_start_state())
    w.reject(ix, [w.p1], E.AlreadyInitialized)
    ix = I.create_session(w.pid, w.stranger.pubkey(), WAITING, FINAL_MODEL, default_start_state())
    w.reject(ix, [w.stranger], E.Unauthorized)


def test_join_before_hidden_is_grown(world):
    w = world
    ix = I.create_session(w.pid, w.p1.pubkey(), 95, FINAL_MODEL, default_start_state())
    assert w.be.send([ix], [w.p1]).ok  # first call only: HiddenState at 10,240 bytes
    w.reject(I.join_session(w.pid, w.p2.pubkey(), 95), [w.p2], E.HiddenNotReady)


def test_close_by_stranger_before_timeout(world):
    w = world
    w.reject(I.close_session(w.pid, w.stranger.pubkey(), w.p1.pubkey(), ACTIVE, FINAL_MODEL), [w.stranger], E.CloseTooEarly)


def test_close_rent_to_someone_else(world):
    w = world
    w.reject(I.close_session(w.pid, w.p1.pubkey(), w.stranger.pubkey(), ACTIVE, FINAL_MODEL), [w.p1], E.AccountMismatch)


def test_close_with_another_sessions_accounts(world):
    w = world
    ix = I.close_session(w.pid, w.p1.pubkey(), w.p1.pubkey(), ACTIVE, FINAL_MODEL)
    # another session's HiddenState is not at this session's HiddenState address
    w.reject(replace_account(ix, 3, pda.hidden(w.pid, WAITING)), [w.p1], E.InvalidPda)


def test_close_by_stranger_after_timeout(so_path):
    be = EmbeddedBackend(so_path)
    model = be.upload_model(R.random_cartridge("micro", 23))
    p1, stranger = Keypair(), Keypair()
    assert be.create_session(1, model, p1).ok
    # The timeout is wall-clock (Clock unix_timestamp), not slots: an ER's slots are 10-50 ms, the
    # base chain's 400 ms. A million slots later it is still too early ...
    be.warp(1_000_000)
    assert E.custom_code(be.close_session(1, stranger).error) == E.CloseTooEarly
    be.warp_seconds(A.CLOSE_TIMEOUT_SECS - 30)
    assert E.custom_code(be.close_session(1, stranger).error) == E.CloseTooEarly
    be.warp_seconds(60)  # ... and ten minutes later it is not
    before = be.lamports(p1.pubkey())
    rent = sum(be.lamports(k) for k in pda.session_accounts(be.program_id, 1))
    out = be.close_session(1, stranger)
    assert out.ok, out.error
    assert be.lamports(p1.pubkey()) == before + rent
