"""The built program is an sBPF v0 ELF and runs in LiteSVM."""
import struct

from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.pubkey import Pubkey
from solders.transaction import Transaction
from solders.transaction_metadata import FailedTransactionMetadata

ET_DYN = 3
EM_SBF = 247


def test_elf_header_is_sbpf_v0(so_path):
    data = so_path.read_bytes()
    assert data[:4] == b"\x7fELF", "not an ELF file"
    assert data[4] == 2, "not ELF64"
    assert data[5] == 1, "not little-endian"
    e_type, e_machine = struct.unpack_from("<HH", data, 16)
    (e_flags,) = struct.unpack_from("<I", data, 48)
    assert e_type == ET_DYN
    assert e_machine == EM_SBF
    assert e_flags == 0, f"e_flags={e_flags:#x}: expected sBPF v0"


def test_litesvm_invokes_program(so_path):
    svm = LiteSVM()
    program_id = Pubkey.new_unique()
    svm.add_program_from_file(program_id, str(so_path))
    payer = Keypair()
    svm.airdrop(payer.pubkey(), 10_000_000_000)
    tx = Transaction.new_signed_with_payer(
        [Instruction(program_id, b"", [])], payer.pubkey(), [payer], svm.latest_blockhash()
    )
    res = svm.send_transaction(tx)
    # Success or a program error are both fine: the program must have been entered.
    # solders 0.29: these are methods; FailedTransactionMetadata wraps a TransactionMetadata.
    if isinstance(res, FailedTransactionMetadata):
        res = res.meta()
    logs = list(res.logs())
    assert any(f"Program {program_id} invoke [1]" in line for line in logs), logs
    assert res.compute_units_consumed() > 0
