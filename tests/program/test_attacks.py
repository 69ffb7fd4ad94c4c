"""The security review's attacks, each performed end to end with real transactions against the
compiled program in LiteSVM (MagicBlock's real delegation program loaded where it matters). Each
asserts that the attack now fails with a named error and that no lamports or bytes moved.

Every one of these succeeded against the program before the fix (the note of the security issue
says how that was checked)."""
from __future__ import annotations

import struct

import pytest
from solders.account import Account
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.system_program import ID as SYSTEM_PROGRAM
from solders.system_program import AllocateParams, AssignParams, allocate, assign

from onchain.sdk import accounts as A
from onchain.localnet import basenode
from onchain.sdk import pda
from onchain.sdk import delegation as D
from onchain.sdk import errors as E
from onchain.sdk import instructions as I
from onchain.sdk import upload as U
from onchain.backends.embedded import EmbeddedBackend
from onchain.localnet.stack import DUMPS, ER_IDENTITY
from worldmodel.randmodel import random_cartridge

ER = Pubkey.from_string(ER_IDENTITY)
VICTIM, OTHER = 1, 2  # session ids


class Chain:
    """A base chain with the delegation program: a finalized model of the victim's authority, and
    the victim's active session (p1 created it naming the local ER, p2 joined)."""

    def __init__(self, so_path):
        if not DUMPS.is_dir():
            pytest.fail("MagicBlock local-dumps missing: run `make setup`", pytrace=False)
        self.be = be = EmbeddedBackend(so_path)
        for f in sorted(DUMPS.glob("*.so")):
            be.svm.add_program_from_file(Pubkey.from_string(f.stem), str(f))
        for f in sorted(DUMPS.glob("*.json")):
            key, acc = basenode.load_account_json(f)
            be.svm.set_account(key, acc)
        self.pid = be.program_id
        self.owner, self.p1, self.p2, self.attacker = Keypair(), Keypair(), Keypair(), Keypair()
        for kp in (self.owner, self.p1, self.p2, self.attacker):
            be.fund(kp.pubkey())
        self.model = be.upload_model(random_cartridge("micro", seed=12), authority=self.owner)
        assert be.create_session(VICTIM, self.model, self.p1, validator=ER).ok
        assert be.join_session(VICTIM, self.p2).ok
        assert be.run_inference(VICTIM, 0).ok

    def accounts(self) -> list[Pubkey]:
        """Every account an attack here could touch."""
        keys = [*pda.session_accounts(self.pid, VICTIM), *pda.session_accounts(self.pid, OTHER),
                pda.manifest(self.pid, self.model), pda.weights(self.pid, self.model, 0)]
        return keys + [kp.pubkey() for kp in (self.owner, self.p1, self.p2, self.attacker)]

    def snapshot(self, keys=None) -> dict:
        out = {}
        for k in keys or self.accounts():
            acc = self.be.svm.get_account(k)
            out[k] = None if acc is None or acc.lamports == 0 else (acc.lamports, bytes(acc.data), acc.owner)
        return out

    def refused(self, ixs: list[Instruction], signers: list[Keypair], error: int | str, keys=None) -> None:
        """The transaction fails with `error` (a program error code or a runtime error name) and
        every account stays byte for byte and lamport for lamport as it was (the fee payer aside:
        it is the backend's own key, not among them)."""
        before = self.snapshot(keys)
        out = self.be.send(ixs, signers, cu_limit=1_400_000)
        assert not out.ok, "the attack went through"
        if isinstance(error, int):
            assert E.custom_code(out.error) == error, f"expected {E.CODES[error]}, got {out.error}"
        else:
            assert error in (out.error or ""), out.error
        assert self.snapshot(keys) == before, "a refused attack changed an account"


@pytest.fixture()
def chain(so_path):
    return Chain(so_path)


def operands_account(chain: Chain, rows: int, cols: int) -> Pubkey:
    """The attacker's own operand bytes for the packed kernel: W all zero, x all one (so W.x = 0)."""
    data = bytes(rows * cols) + bytes([1]) * cols
    key = Keypair().pubkey()
    chain.be.svm.set_account(key, Account(chain.be.svm.minimum_balance_for_rent_exemption(len(data)), data,
                                          SYSTEM_PROGRAM, False, 0))
    return key


# -- 1. the kernel benchmark instruction writes into any account the program owns ------------

@pytest.mark.parametrize("target", ["victim session", "finalized weights"])
def test_bench_matvec_cannot_write_into_program_accounts(chain, target):
    """Before: bench_matvec (discriminator 32) wrote W.x at a chosen row offset into any writable
    account, e.g. zeros over player 1 of a victim's SessionState (bytes 32..64) or over a finalized
    model's weights. The deployed program no longer has the instruction."""
    c = chain
    if target == "victim session":  # rows 8..16 of i32: bytes 32..64, player 1
        out, rows, row_start = pda.session(c.pid, VICTIM), 16, 8
    else:  # bytes 64..96: the first weights of the blob
        out, rows, row_start = pda.weights(c.pid, c.model, 0), 24, 16
    ops = operands_account(c, rows, 8)
    ix = I.bench_matvec(c.pid, ops, out, I.KERNELS["packed"], rows=rows, cols=8, row_start=row_start, row_count=8)
    c.refused([ix], [], E.InvalidInstruction)  # the backend's payer (a stranger) sends it


def test_the_benchmark_build_still_has_the_kernel_instruction(bench_so_path):
    """The kernel benchmark lives on in build/world_model_bench.so, which never ships."""
    be = EmbeddedBackend(bench_so_path)
    key = Keypair().pubkey()
    be.svm.set_account(key, Account(10**9, bytes(64), be.program_id, False, 0))
    ops = Keypair().pubkey()
    be.svm.set_account(ops, Account(10**9, bytes(8 * 8) + bytes([1]) * 8, SYSTEM_PROGRAM, False, 0))
    assert be.send([I.bench_matvec(be.program_id, ops, key, I.KERNELS["packed"], 8, 8)], []).ok


# -- 2. the undelegation callback called directly with a forged buffer -----------------------

def dlp_owned_keypair_account(c: Chain, space: int) -> Keypair:
    """A plain keypair account owned by the delegation program: the delegation program signs for
    every account it owns, so an attacker's own account passes "owned by it and signed"."""
    k = Keypair()
    ixs = [allocate(AllocateParams(pubkey=k.pubkey(), space=space)),
           assign(AssignParams(pubkey=k.pubkey(), owner=D.DELEGATION_PROGRAM))]
    out = c.be.send(ixs, [k])  # (the backend funds a signer first)
    assert out.ok, out.error
    return k


def callback_ix(pid: Pubkey, account: Pubkey, buffer: Pubkey, payer: Pubkey, seed: bytes, sid: int) -> Instruction:
    data = bytes(D.UNDELEGATE_CALLBACK) + struct.pack("<I", 2)
    data += struct.pack("<I", len(seed)) + seed + struct.pack("<I", 8) + struct.pack("<Q", sid)
    return Instruction(pid, data, [AccountMeta(account, False, True), AccountMeta(buffer, True, False),
                                   AccountMeta(payer, True, True), AccountMeta(SYSTEM_PROGRAM, False, False)])


@pytest.mark.parametrize("seed", [b"session", b"hidden", b"input"])
def test_undelegate_callback_refuses_a_forged_buffer(chain, seed):
    """Before: a zero-filled (or any) DLP-owned keypair account as `buffer` created this
    program's PDA for any unused session id with the buffer's bytes, squatting the id forever (and,
    with forged bytes, a SessionState naming the attacker as a player of a victim's session)."""
    c = chain
    forged = dlp_owned_keypair_account(c, A.SESSION_LEN)
    target = Pubkey.find_program_address([seed, struct.pack("<Q", OTHER)], c.pid)[0]
    ix = callback_ix(c.pid, target, forged.pubkey(), c.attacker.pubkey(), seed, OTHER)
    c.refused([ix], [c.attacker, forged], E.Unauthorized, keys=c.accounts() + [forged.pubkey()])
    # the id is still free: its owner can create the session
    assert c.be.create_session(OTHER, c.model, c.p2).ok


def test_a_look_alike_session_is_refused_everywhere(chain):
    """What the forged callback used to leave behind: a SessionState look-alike (owner, discriminator
    and the victim's id all right) naming the attacker as player 2, at an address that is not the
    victim's PDA. Every handler checks addresses against seeds, so it opens nothing of the victim's."""
    c = chain
    real = c.be.account_data(pda.session(c.pid, VICTIM))
    fake = bytearray(real)
    fake[64:96] = bytes(c.attacker.pubkey())  # player 2
    look_alike = Keypair().pubkey()
    c.be.svm.set_account(look_alike, Account(10**9, bytes(fake), c.pid, False, 0))
    _, hidden, inp = pda.session_accounts(c.pid, VICTIM)
    submit = I.submit_input(c.pid, c.attacker.pubkey(), VICTIM, 1, 1, bytes(8))
    submit = Instruction(c.pid, bytes(submit.data), [AccountMeta(c.attacker.pubkey(), True, False),
                                                     AccountMeta(look_alike, False, False), AccountMeta(inp, False, True)])
    c.refused([submit], [c.attacker], E.InvalidPda)
    close = I.close_session(c.pid, c.attacker.pubkey(), c.p1.pubkey(), VICTIM, c.model)
    metas = list(close.accounts)
    metas[2] = AccountMeta(look_alike, False, True)
    c.refused([Instruction(c.pid, bytes(close.data), metas)], [c.attacker], E.InvalidPda)


# -- 3. player 2 alone chooses the ER validator ---------------------------------------------

def test_player_2_cannot_send_the_session_to_another_validator(chain):
    """Before: delegate_session took the validator from its data, so player 2 could delegate a
    fresh session to a key nobody runs and the creator's rent was locked for good. Now the data is
    empty and the validator is the one the creator named at create."""
    c = chain
    assert c.be.create_session(OTHER, c.model, c.p1, validator=ER).ok
    assert c.be.join_session(OTHER, c.p2).ok
    nobody = Keypair().pubkey()
    ix = D.delegate_session(c.pid, c.p2.pubkey(), OTHER)
    forged = Instruction(c.pid, bytes(ix.data) + bytes(nobody), list(ix.accounts))
    c.refused([forged], [c.p2], E.InvalidInstruction)
    # Player 2 may still delegate, but only to the creator's validator ...
    out = c.be.send([ix], [c.p2])
    assert out.ok, out.error
    record = c.be.account_data(D.delegation_record(pda.session(c.pid, OTHER)))
    assert record[8:40] == bytes(ER)


def test_a_session_without_a_validator_is_never_delegated(chain):
    c = chain
    assert c.be.create_session(OTHER, c.model, c.p1).ok and c.be.join_session(OTHER, c.p2).ok
    c.refused([D.delegate_session(c.pid, c.p1.pubkey(), OTHER)], [c.p1], E.SessionNotDelegatable)
    before = c.be.lamports(c.p1.pubkey())
    rent = sum(c.be.lamports(k) for k in pda.session_accounts(c.pid, OTHER))
    assert c.be.close_session(OTHER, c.p1).ok  # the creator always gets the rent back
    assert c.be.lamports(c.p1.pubkey()) == before + rent


# -- 4. anyone may crank, at any speed ---------------------------------------------------------

def test_a_stranger_cannot_crank(chain):
    """Before: run_inference took no signer; in an ER (no fees) a stranger could fast-forward a
    live match. Now only the players, the session's crank key and (for the scheduled form) the
    session's ER validator may."""
    c = chain
    f = c.be.session(VICTIM).frame
    ix = I.run_inference_for(c.pid, c.attacker.pubkey(), VICTIM, c.model, 1, f)
    c.refused([ix], [c.attacker], E.Unauthorized)
    ix = I.run_inference_for(c.pid, c.attacker.pubkey(), VICTIM, c.model, 1, D.NEXT_FRAME)
    c.refused([ix], [c.attacker], E.Unauthorized)
    # a player may
    out = c.be.send([I.run_inference_for(c.pid, c.p2.pubkey(), VICTIM, c.model, 1, f)], [c.p2], cu_limit=1_400_000)
    assert out.ok, out.error
    assert c.be.session(VICTIM).frame == f + 1


# -- 5. the low findings ----------------------------------------------------------------------

def test_idle_timeout_is_wall_clock_time(chain):
    """Before: 1,500 slots, about 75 s with an ER's 50 ms slots. Now 600 s of Clock time."""
    c = chain
    c.be.warp(1_500 * 100)
    ix = I.close_session(c.pid, c.attacker.pubkey(), c.p1.pubkey(), VICTIM, c.model)
    c.refused([ix], [c.attacker], E.CloseTooEarly)
    c.be.warp_seconds(A.CLOSE_TIMEOUT_SECS + 1)
    assert c.be.send([ix], [c.attacker]).ok  # an abandoned session: anyone may return the rent


def test_only_the_invited_player_may_join(chain):
    c = chain
    assert c.be.create_session(OTHER, c.model, c.p1, invite=c.p2.pubkey()).ok
    c.refused([I.join_session(c.pid, c.attacker.pubkey(), OTHER)], [c.attacker], E.Unauthorized)
    assert c.be.join_session(OTHER, c.p2).ok
    assert c.be.session(OTHER).players == (c.p1.pubkey(), c.p2.pubkey())


def test_model_authority_closes_an_unused_model_and_gets_the_rent(chain):
    c = chain
    man = c.be.manifest(c.model)
    assert man.open_sessions == 1
    close = I.close_model(c.pid, c.owner.pubkey(), c.model, man.shard_count)
    c.refused([close], [c.owner], E.ModelInUse)  # a running game never loses its model
    c.refused([I.close_model(c.pid, c.attacker.pubkey(), c.model, man.shard_count)], [c.attacker], E.Unauthorized)
    assert c.be.close_session(VICTIM, c.p1).ok
    assert c.be.manifest(c.model).open_sessions == 0
    keys = [pda.manifest(c.pid, c.model), pda.weights(c.pid, c.model, 0)]
    held = sum(c.be.lamports(k) for k in keys)
    before = c.be.lamports(c.owner.pubkey())
    out = c.be.send([close], [c.owner])
    assert out.ok, out.error
    assert c.be.lamports(c.owner.pubkey()) == before + held and held > 0
    assert all(c.be.account_data(k) is None for k in keys)


def test_an_abandoned_upload_can_be_closed(chain):
    c = chain
    cart = random_cartridge("micro", seed=13)
    manifest, weights = U.load_cartridge_bytes(cart)
    a = c.owner
    assert c.be.send([I.init_manifest(c.pid, a.pubkey(), 77, manifest)], [a]).ok
    shard, off, chunk = U.chunk_plan(weights)[0]
    assert c.be.send([I.upload_weights(c.pid, a.pubkey(), 77, shard, off, chunk)], [a]).ok
    out = c.be.send([I.close_model(c.pid, a.pubkey(), 77, 1)], [a])
    assert out.ok, out.error
    assert c.be.account_data(pda.manifest(c.pid, 77)) is None
    assert c.be.account_data(pda.weights(c.pid, 77, 0)) is None
