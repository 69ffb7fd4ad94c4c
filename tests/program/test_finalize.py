"""finalize_weights in both forms: the one-transaction syscall hash, and the
multi-transaction hash (the program's own SHA-256 with its state in the manifest
account) that blobs over FINALIZE_MAX_BYTES need; uploads are locked while it runs."""
import hashlib
import struct

import pytest

from onchain.sdk import errors as E
from onchain.sdk import instructions as I
from onchain.sdk import pda
from onchain.sdk import upload as U
from onchain.backends.embedded import EmbeddedBackend
from worldmodel import randmodel as R


@pytest.fixture
def staged(so_path):
    """A micro cartridge uploaded under model 1 but not finalized."""
    be = EmbeddedBackend(so_path)
    cart = R.random_cartridge("micro", 8)
    man, w = U.load_cartridge_bytes(cart)
    a = be.authority
    assert be.send([I.init_manifest(be.program_id, a.pubkey(), 1, man)], [a]).ok
    for shard, off, chunk in U.chunk_plan(w):
        assert be.send([I.upload_weights(be.program_id, a.pubkey(), 1, shard, off, chunk)], [a]).ok
    return be, man, w


def step(be, max_bytes):
    return be.send([I.finalize_weights(be.program_id, be.authority.pubkey(), 1, 1, max_bytes)], [be.authority],
                   cu_limit=1_400_000)


def state(be):
    return bytes(be.svm.get_account(pda.manifest(be.program_id, 1)).data)


def test_multi_transaction_finalize(staged):
    be, man, w = staged
    steps = 0
    while not be.manifest(1).finalized:
        out = step(be, 4096)
        assert out.ok, out.error
        steps += 1
        assert out.cu < 1_400_000
    assert steps == -(-(len(w) // 64 * 64) // 4096) or steps == -(-(len(w) // 64 * 64) // 4096) + 1
    assert be.manifest(1).manifest[32:64] == hashlib.sha256(w).digest()
    # a finalized model is immutable, in either form
    out = step(be, 4096)
    assert E.custom_code(out.error) == E.AlreadyFinalized


def test_upload_locked_while_hashing_and_reset(staged):
    be, man, w = staged
    a = be.authority
    assert step(be, 4096).ok and be.manifest(1).hashed == 4096
    before = state(be)
    ix = I.upload_weights(be.program_id, a.pubkey(), 1, 0, 0, b"\x01" * 8)
    out = be.send([ix], [a])
    assert E.custom_code(out.error) == E.HashingInProgress and state(be) == before
    assert step(be, 0).ok and be.manifest(1).hashed == 0  # reset
    assert be.send([ix], [a]).ok  # uploads allowed again (this one corrupts byte 0..8)
    while True:  # hash everything: the last step must fail with HashMismatch, atomically
        before = state(be)
        out = step(be, 8192)
        if not out.ok:
            break
    assert E.custom_code(out.error) == E.HashMismatch and state(be) == before
    assert not be.manifest(1).finalized
    # upload() resumes: resets the hash, re-sends the one bad chunk, hashes again
    rep = U.upload(be, a, 1, man, w)
    assert rep.chunks_sent == 1 and be.manifest(1).finalized


def test_one_transaction_finalize(staged):
    be, man, w = staged
    out = be.send([I.finalize_weights(be.program_id, be.authority.pubkey(), 1, 1)], [be.authority],
                  cu_limit=1_400_000)
    assert out.ok, out.error
    assert be.manifest(1).finalized


def test_blob_too_large_for_one_transaction(so_path):
    """A manifest announcing more than FINALIZE_MAX_BYTES of weights cannot take the
    one-transaction path (it could not hash them within 1.4M CU)."""
    be = EmbeddedBackend(so_path)
    man, _ = U.load_cartridge_bytes(R.random_cartridge("micro", 8))
    big = man[:28] + struct.pack("<I", I.FINALIZE_MAX_BYTES + 64) + man[32:]
    a = be.authority
    assert be.send([I.init_manifest(be.program_id, a.pubkey(), 2, big)], [a]).ok
    out = be.send([I.finalize_weights(be.program_id, a.pubkey(), 2, 1)], [a], cu_limit=1_400_000)
    assert E.custom_code(out.error) == E.WeightsTooLargeToHash
