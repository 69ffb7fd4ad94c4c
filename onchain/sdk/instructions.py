"""Instruction builders for the world-model program (discriminators in
onchain/program/src/instructions/*.rs)."""
from __future__ import annotations

import struct

import numpy as np
from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey
from solders.system_program import ID as SYSTEM_PROGRAM

from onchain.sdk import pda
from onchain.sdk.wire import ControllerInput

INIT_MANIFEST, UPLOAD_WEIGHTS, FINALIZE_WEIGHTS = 0, 1, 2
CREATE_SESSION, JOIN_SESSION, SUBMIT_INPUT = 3, 4, 5
RUN_INFERENCE = 6
CLOSE_SESSION = 7
CLOSE_MODEL = 16
# Only in the benchmark build (build/world_model_bench.so); the deployed program rejects it.
BENCH_MATVEC = 32
ALL_STEPS = 0xFFFF

# Bytes of weights per upload_weights instruction: a transaction is at most 1,232 bytes;
# signature, header, keys (payer, manifest, shard, programs, compute budget) and the
# instruction's own 7 bytes leave room for about 850 with two signers (fee payer + authority).
UPLOAD_CHUNK = 800
# finalize_weights: the one-transaction syscall hash takes blobs up to this size
# (finalize_weights.rs); larger ones are hashed FINALIZE_STEP_BYTES per transaction.
FINALIZE_MAX_BYTES = 2_400_000
FINALIZE_STEP_BYTES = 8 * 1024  # ~7,800 CU per 64-byte block: ~1.0M CU per step


def _w(key: Pubkey, signer: bool = False) -> AccountMeta:
    return AccountMeta(key, is_signer=signer, is_writable=True)


def _r(key: Pubkey, signer: bool = False) -> AccountMeta:
    return AccountMeta(key, is_signer=signer, is_writable=False)


def init_manifest(program_id: Pubkey, authority: Pubkey, model_id: int, manifest_bytes: bytes) -> Instruction:
    data = struct.pack("<BQ", INIT_MANIFEST, model_id) + manifest_bytes
    return Instruction(program_id, data, [_w(authority, True), _w(pda.manifest(program_id, model_id)),
                                          _r(SYSTEM_PROGRAM)])


def upload_weights(program_id: Pubkey, authority: Pubkey, model_id: int, shard: int, offset: int,
                   chunk: bytes) -> Instruction:
    data = struct.pack("<BHI", UPLOAD_WEIGHTS, shard, offset) + chunk
    return Instruction(program_id, data, [
        _w(authority, True), _r(pda.manifest(program_id, model_id)),
        _w(pda.weights(program_id, model_id, shard)), _r(SYSTEM_PROGRAM)])


def finalize_weights(program_id: Pubkey, authority: Pubkey, model_id: int, shard_count: int,
                     max_bytes: int | None = None) -> Instruction:
    """No max_bytes: hash everything in this transaction (blobs up to FINALIZE_MAX_BYTES).
    max_bytes: one step of the multi-transaction hash (0 resets its progress)."""
    metas = [_r(authority, True), _w(pda.manifest(program_id, model_id))]
    metas += [_r(pda.weights(program_id, model_id, k)) for k in range(shard_count)]
    data = bytes([FINALIZE_WEIGHTS]) + (b"" if max_bytes is None else struct.pack("<I", max_bytes))
    return Instruction(program_id, data, metas)


def create_session(program_id: Pubkey, creator: Pubkey, session_id: int, model_id: int, fighters,
                   validator: Pubkey | None = None, crank_key: Pubkey | None = None,
                   invite: Pubkey | None = None, stage: int = 32, characters: tuple[int, int] = (2, 2)) -> Instruction:
    """Also the instruction that grows HiddenState: repeat it (same data) until the
    hidden account has its full size (accounts.Hidden.ready).

    Fixed here for the session's life: `validator`, the ER identity it may be delegated to
    (None: never delegated); `crank_key`, who may crank besides the players (None: the players
    only); `invite`, the only key that may join as player 2 (None: anyone); the `stage` and both
    `characters` (Slippi ids; default Final Destination, Fox vs Fox), which the rules use."""
    state = np.asarray(fighters, dtype="<i2").reshape(2, 16)
    keys = b"".join(bytes(k) if k is not None else bytes(32) for k in (validator, crank_key, invite))
    data = struct.pack("<BQQ", CREATE_SESSION, session_id, model_id) + state.tobytes() + keys
    data += bytes([stage, *characters])
    s, h, i = pda.session_accounts(program_id, session_id)
    return Instruction(program_id, data, [
        _w(creator, True), _w(pda.manifest(program_id, model_id)), _w(s), _w(h), _w(i), _r(SYSTEM_PROGRAM)])


def join_session(program_id: Pubkey, player: Pubkey, session_id: int) -> Instruction:
    s, h, _ = pda.session_accounts(program_id, session_id)
    return Instruction(program_id, bytes([JOIN_SESSION]), [_r(player, True), _w(s), _r(h)])


def submit_input(program_id: Pubkey, player: Pubkey, session_id: int, slot: int, frame: int,
                 ctrl: ControllerInput | bytes) -> Instruction:
    raw = ctrl if isinstance(ctrl, (bytes, bytearray)) else ctrl.encode()
    data = struct.pack("<BBQ", SUBMIT_INPUT, slot, frame) + bytes(raw)
    s, _, i = pda.session_accounts(program_id, session_id)
    return Instruction(program_id, data, [_r(player, True), _r(s), _w(i)])


def run_inference_for(program_id: Pubkey, cranker: Pubkey, session_id: int, model_id: int, shard_count: int,
                      expected_frame: int, step_count: int = 0xFFFF) -> Instruction:
    """run_inference with every account derived from the ids; `cranker` signs (a player or the
    session's crank key)."""
    s, h, i = pda.session_accounts(program_id, session_id)
    shards = [pda.weights(program_id, model_id, k) for k in range(shard_count)]
    return run_inference(program_id, cranker, s, h, i, pda.manifest(program_id, model_id), shards,
                         expected_frame, step_count)


def close_session(program_id: Pubkey, signer: Pubkey, creator: Pubkey, session_id: int,
                  model_id: int) -> Instruction:
    s, h, i = pda.session_accounts(program_id, session_id)
    return Instruction(program_id, bytes([CLOSE_SESSION]), [
        _r(signer, True), _w(creator), _w(s), _w(h), _w(i), _w(pda.manifest(program_id, model_id))])


def close_model(program_id: Pubkey, authority: Pubkey, model_id: int, shard_count: int) -> Instruction:
    """The model's authority takes back the rent of a model no open session uses."""
    metas = [_w(authority, True), _w(pda.manifest(program_id, model_id))]
    metas += [_w(pda.weights(program_id, model_id, k)) for k in range(shard_count)]
    return Instruction(program_id, bytes([CLOSE_MODEL]), metas)


# Mat-vec kernels: "packed" is the seed's baseline (row-major i8), "lanes" the SWAR
# kernel over weight layout 2 (three 21-bit lanes per u64, offset-binary weights).
KERNELS = {"packed": 0, "lanes": 1}


def run_inference(program_id: Pubkey, cranker: Pubkey, session: Pubkey, hidden: Pubkey, input_buf: Pubkey,
                  manifest: Pubkey, weights: Pubkey | list[Pubkey], expected_frame: int,
                  step_count: int = ALL_STEPS) -> Instruction:
    data = struct.pack("<BQH", RUN_INFERENCE, expected_frame, step_count)
    metas = [
        AccountMeta(cranker, is_signer=True, is_writable=False),
        AccountMeta(session, is_signer=False, is_writable=True),
        AccountMeta(hidden, is_signer=False, is_writable=True),
        AccountMeta(input_buf, is_signer=False, is_writable=False),
        AccountMeta(manifest, is_signer=False, is_writable=False),
    ]
    shards = weights if isinstance(weights, list) else [weights]
    metas += [AccountMeta(w, is_signer=False, is_writable=False) for w in shards]
    return Instruction(program_id, data, metas)


def bench_matvec(program_id: Pubkey, operands: Pubkey, output: Pubkey, kernel: int, rows: int, cols: int,
                 row_start: int = 0, row_count: int | None = None) -> Instruction:
    row_count = rows - row_start if row_count is None else row_count
    data = struct.pack("<BBHHHH", BENCH_MATVEC, kernel, rows, cols, row_start, row_count)
    metas = [AccountMeta(operands, False, False), AccountMeta(output, False, True)]
    return Instruction(program_id, data, metas)
