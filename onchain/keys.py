"""Keypair files in the Solana CLI's format (a JSON list of the 64 secret-key bytes), shared by
every command and client that signs."""
from __future__ import annotations

import json
from pathlib import Path

from solders.keypair import Keypair


def read_keypair(path: str | Path) -> Keypair:
    """The key in `path`; ValueError naming the file when it is not a Solana keypair file."""
    p = Path(path).expanduser()
    try:
        return Keypair.from_bytes(bytes(json.loads(p.read_text())))
    except (ValueError, TypeError) as e:
        raise ValueError(f"{p}: not a Solana keypair file (a JSON list of 64 bytes): {e}") from None


def write_keypair(path: str | Path, kp: Keypair) -> Path:
    p = Path(path).expanduser()
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(list(bytes(kp))))
    return p


def read_or_create(path: str | Path) -> tuple[Keypair, bool]:
    """(the key in `path`, False), or a fresh key saved there, so the same signer can come back: (key, True)."""
    p = Path(path).expanduser()
    if p.exists():
        return read_keypair(p), False
    kp = Keypair()
    write_keypair(p, kp)
    return kp, True
