"""Instruction builders for the world-model program (discriminators in
onchain/program/src/instructions/*.rs)."""
from __future__ import annotations

import struct

from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey

RUN_INFERENCE = 6
BENCH_MATVEC = 32
ALL_STEPS = 0xFFFF

# Mat-vec kernels: "packed" is the seed's baseline (row-major i8), "lanes" the SWAR
# kernel over weight layout 2 (three 21-bit lanes per u64, offset-binary weights).
KERNELS = {"packed": 0, "lanes": 1}


def run_inference(program_id: Pubkey, session: Pubkey, hidden: Pubkey, input_buf: Pubkey,
                  manifest: Pubkey, weights: Pubkey | list[Pubkey], expected_frame: int,
                  step_count: int = ALL_STEPS) -> Instruction:
    data = struct.pack("<BQH", RUN_INFERENCE, expected_frame, step_count)
    metas = [
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
