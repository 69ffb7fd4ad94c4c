"""The program inside an in-process LiteSVM (solders), with helpers to place accounts
directly and to send instructions at the full 1.4M compute-unit budget."""
from __future__ import annotations

import dataclasses
import hashlib
import time
from pathlib import Path

from solders.account import Account
from solders.compute_budget import set_compute_unit_limit
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.pubkey import Pubkey
from solders.transaction import Transaction

from onchain.sdk.steps import TX_CU_LIMIT

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SO = ROOT / "build" / "world_model.so"
# The benchmark build (cargo feature `bench`): the deployed program plus the kernel benchmark
# instruction, which writes wherever its caller says and so never ships.
BENCH_SO = ROOT / "build" / "world_model_bench.so"
MAX_CU = TX_CU_LIMIT  # one transaction's compute-unit cap (onchain/sdk/steps.py)
# A fixed address for tests and local runs (no keypair behind it: programs are
# placed directly into the VM).
PROGRAM_ID = Pubkey(hashlib.sha256(b"melee-onchain world model program").digest())


@dataclasses.dataclass
class TxResult:
    ok: bool
    cu: int
    logs: list[str]
    error: str | None
    seconds: float


class ProgramVM:
    def __init__(self, so_path: str | Path = DEFAULT_SO, program_id: Pubkey | None = None):
        so_path = Path(so_path)
        if not so_path.exists():
            raise FileNotFoundError(f"{so_path} not found: run `make build` first")
        self.svm = LiteSVM()
        self.program_id = program_id or PROGRAM_ID
        self.svm.add_program_from_file(self.program_id, str(so_path))
        self.payer = Keypair()
        self.svm.airdrop(self.payer.pubkey(), 1_000_000_000_000)

    def put(self, data: bytes, key: Pubkey | None = None, owner: Pubkey | None = None) -> Pubkey:
        """Place an account holding `data` (owned by the program unless told otherwise)."""
        key = key or Pubkey.new_unique()
        lamports = self.svm.minimum_balance_for_rent_exemption(len(data))
        self.svm.set_account(key, Account(lamports, bytes(data), owner or self.program_id, False, 0))
        return key

    def data(self, key: Pubkey) -> bytes:
        acc = self.svm.get_account(key)
        return bytes(acc.data) if acc is not None else b""

    def send(self, *ixs, cu_limit: int = MAX_CU) -> TxResult:
        tx = Transaction.new_signed_with_payer(
            [set_compute_unit_limit(cu_limit), *ixs], self.payer.pubkey(), [self.payer], self.svm.latest_blockhash())
        t0 = time.perf_counter()
        res = self.svm.send_transaction(tx)
        dt = time.perf_counter() - t0
        self.svm.expire_blockhash()
        if hasattr(res, "err"):
            meta = res.meta()
            return TxResult(False, meta.compute_units_consumed(), list(meta.logs()), str(res.err()), dt)
        return TxResult(True, res.compute_units_consumed(), list(res.logs()), None, dt)
