"""The program's error codes (onchain/program/src/error.rs), and how to read one back
from a failed transaction's message."""
from __future__ import annotations

import re

CODES = {
    1: "InvalidInstruction", 2: "InvalidAccount", 3: "InvalidManifest", 4: "InvalidWeights",
    5: "AccountMismatch", 6: "StaleFrame", 7: "ModelTooLarge", 8: "UnknownKernel",
    9: "MissingSigner", 10: "Unauthorized", 11: "InvalidPda", 12: "AlreadyInitialized",
    13: "AlreadyFinalized", 14: "NotFinalized", 15: "HashMismatch", 16: "WeightsIncomplete",
    17: "UploadOutOfRange", 18: "WeightsTooLargeToHash", 19: "InvalidInput", 20: "SessionNotActive",
    21: "SessionNotJoinable", 22: "StaleInput", 23: "CloseTooEarly", 24: "HiddenNotReady", 25: "HashingInProgress",
    26: "SessionNotDelegatable", 27: "CrankNotScheduled", 28: "ModelInUse",
    29: "GameOver", 30: "UnsupportedContext",
}
globals().update({name: code for code, name in CODES.items()})


def custom_code(error: str | None) -> int | None:
    """The program's error code in a transaction error string, if it has one."""
    m = re.search(r"Custom\((\d+)\)", error or "")
    return int(m.group(1)) if m else None


def describe(error: str | None) -> str:
    code = custom_code(error)
    return f"{CODES.get(code, 'Unknown')} ({code})" if code is not None else str(error)
