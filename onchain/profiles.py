"""Chain profiles (onchain/profiles.yaml): embedded, local-er, devnet."""
from __future__ import annotations

from pathlib import Path

import yaml

PROFILES = Path(__file__).with_name("profiles.yaml")


def load(name: str, path: Path = PROFILES) -> dict:
    profiles = yaml.safe_load(path.read_text())
    if name not in profiles:
        raise KeyError(f"unknown profile {name!r}; known: {', '.join(profiles)}")
    return dict(profiles[name])


def remote_backend(name: str, **kwargs):
    """A RemoteBackend for a remote profile (the ER endpoint), and one for its base chain."""
    from .remote import RemoteBackend
    from solders.pubkey import Pubkey

    p = load(name)
    if p.get("kind") != "remote":
        raise ValueError(f"profile {name!r} is not remote")
    if p.get("program_id"):
        kwargs["program_id"] = Pubkey.from_string(p["program_id"])
    er = RemoteBackend(p["url"], p.get("ws_url") or None, ephemeral=bool(p.get("ephemeral")), **kwargs)
    base = RemoteBackend(p["base_url"], **kwargs) if p.get("base_url") else None
    return er, base
