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


# Where a player's key comes from when nobody names one: the Solana CLI's standard key, which a
# Solana user already has (and funds), else a key of this project's own, made on first use, so
# nobody has to create a key file by hand. Per role, so that a host and a guest on one machine
# (two terminals) are two different players.
SOLANA_DEFAULT = Path("~/.config/solana/id.json")
PROJECT_KEYS = Path(__file__).resolve().parents[2] / ".keys"


def default_key(role: str, avoid=None, standard: Path | None = SOLANA_DEFAULT,
                project_dir: Path = PROJECT_KEYS) -> tuple[Keypair, str]:
    """(key, where it came from) for `role` (host, guest): the standard Solana key if that file
    exists and is not `avoid` (a pubkey already playing, e.g. the host's when both run on one
    machine), else `project_dir/<role>.json`, created on first use."""
    if standard is not None and Path(standard).expanduser().exists():
        kp = read_keypair(standard)
        if avoid is None or kp.pubkey() != avoid:
            return kp, str(Path(standard).expanduser())
    path = Path(project_dir) / f"{role}.json"
    kp, made = read_or_create(path)
    if avoid is not None and kp.pubkey() == avoid:  # a copy of the other player's key: use another one
        path = Path(project_dir) / f"{role}-2.json"
        kp, made = read_or_create(path)
    return kp, f"{path} ({'created' if made else 'project key'})"
