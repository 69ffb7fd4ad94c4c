"""The ER instructions in LiteSVM with MagicBlock's real delegation program (from the validator
package's local-dumps): what delegate_session leaves behind, and every rejection with its error
code and unchanged accounts."""
from __future__ import annotations

import struct

import pytest
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.system_program import ID as SYSTEM_PROGRAM

from onchain.localnet import basenode
from onchain.sdk import errors
from onchain.sdk import pda
from onchain.sdk import delegation as D
from onchain.backends.embedded import EmbeddedBackend
from onchain.localnet.stack import DUMPS, ER_IDENTITY
from worldmodel.randmodel import random_cartridge

ER = Pubkey.from_string(ER_IDENTITY)


@pytest.fixture()
def chain(so_path):
    if not DUMPS.is_dir():
        pytest.fail("MagicBlock local-dumps missing: run `make setup`", pytrace=False)
    emb = EmbeddedBackend(so_path)
    for f in sorted(DUMPS.glob("*.so")):
        emb.svm.add_program_from_file(Pubkey.from_string(f.stem), str(f))
    for f in sorted(DUMPS.glob("*.json")):
        key, acc = basenode.load_account_json(f)
        emb.svm.set_account(key, acc)
    mid = emb.upload_model(random_cartridge("micro", seed=4))
    p1, p2 = Keypair(), Keypair()
    assert emb.create_session(5, mid, p1, validator=ER).ok and emb.join_session(5, p2).ok
    return emb, p1, p2


def snapshot(emb, keys):
    return [emb.svm.get_account(k) for k in keys]


def code(out):
    return errors.custom_code(out.error) if "Custom" in (out.error or "") else out.error


def rejected_unchanged(emb, keys, ix, signers, error: int) -> None:
    """`ix` fails with the program error `error` and leaves every account in `keys` as it was."""
    before = snapshot(emb, keys)
    out = emb.send([ix], signers)
    assert not out.ok and code(out) == error
    assert snapshot(emb, keys) == before


def test_delegate_session_hands_all_three_accounts_to_the_er(chain):
    emb, p1, _ = chain
    keys = pda.session_accounts(emb.program_id, 5)
    before = {k: bytes(emb.svm.get_account(k).data) for k in keys}
    out = emb.send([D.delegate_session(emb.program_id, p1.pubkey(), 5)], [p1])
    assert out.ok, out.error
    for k in keys:
        acc = emb.svm.get_account(k)
        assert acc.owner == D.DELEGATION_PROGRAM
        rec = bytes(emb.svm.get_account(D.delegation_record(k)).data)
        assert struct.unpack_from("<Q", rec, 0)[0] == 100  # DelegationRecord
        assert rec[8:40] == bytes(ER) and rec[40:72] == bytes(emb.program_id)
        assert emb.svm.get_account(D.buffer(emb.program_id, k)) is None or \
            emb.svm.get_account(D.buffer(emb.program_id, k)).lamports == 0  # buffers closed
    s, h, i = keys
    assert bytes(emb.svm.get_account(s).data) == before[s]  # copied through the buffer
    assert bytes(emb.svm.get_account(i).data) == before[i]
    assert set(bytes(emb.svm.get_account(h).data)) == {0}  # HiddenState: zero-filled, full size
    assert len(emb.svm.get_account(h).data) == len(before[h])


def test_only_a_player_may_delegate(chain):
    emb, _, _ = chain
    stranger = Keypair()
    rejected_unchanged(emb, pda.session_accounts(emb.program_id, 5),
                       D.delegate_session(emb.program_id, stranger.pubkey(), 5), [stranger], errors.Unauthorized)


def test_a_started_session_cannot_be_delegated(chain):
    emb, p1, _ = chain
    assert emb.run_inference(5, 0).ok
    rejected_unchanged(emb, pda.session_accounts(emb.program_id, 5),
                       D.delegate_session(emb.program_id, p1.pubkey(), 5), [p1], errors.SessionNotDelegatable)


def test_init_hidden_never_resets_a_live_hidden_state(chain):
    emb, _, _ = chain
    rejected_unchanged(emb, [pda.hidden(emb.program_id, 5)], D.init_hidden(emb.program_id, 5), [],
                       errors.AlreadyInitialized)


def test_undelegate_callback_only_from_the_delegation_program(chain):
    emb, p1, _ = chain
    s = pda.session(emb.program_id, 5)
    fake_buffer = Keypair()  # signs, but is not the delegation program's
    data = bytes(D.UNDELEGATE_CALLBACK) + struct.pack("<I", 2) + struct.pack("<I", 7) + b"session" + \
        struct.pack("<I", 8) + struct.pack("<Q", 5)
    ix = Instruction(emb.program_id, data, [AccountMeta(s, False, True), AccountMeta(fake_buffer.pubkey(), True, False),
                                            AccountMeta(p1.pubkey(), True, True), AccountMeta(SYSTEM_PROGRAM, False, False)])
    rejected_unchanged(emb, [s], ix, [p1, fake_buffer], errors.Unauthorized)


def test_er_instructions_reject_the_wrong_magic_accounts(chain):
    emb, p1, _ = chain
    ix = D.commit_session(emb.program_id, emb.payer.pubkey(), 5)
    metas = list(ix.accounts)
    metas[4] = AccountMeta(Pubkey.new_unique(), False, False)  # not the Magic program
    out = emb.send([Instruction(emb.program_id, bytes(ix.data), metas)], [])
    assert not out.ok and code(out) == errors.InvalidAccount
