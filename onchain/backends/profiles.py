"""Chain profiles: where a client finds the chain (embedded, local-er, devnet).

The profiles live in one place, the `backend.profiles` section of the repository's settings.yaml,
which the game (`python -m game --profile NAME`) and the chain tools (`python -m onchain ...
--profile NAME`, `onchain.tools.er_session`, `onchain.tools.crank`, `onchain.tools.bot`) all read through `load()`.
DEFAULTS below is what settings.yaml ships with: the game's settings schema is built from it and
settings.yaml is that schema written out (tests/game/test_game_settings.py checks they agree), so an
edit to a profile goes in settings.yaml (this run) or here (the shipped default), never in two files.

Keys of a profile:
  kind       embedded = the program in an in-process LiteSVM; remote = a validator over RPC + WebSocket
  url        JSON-RPC endpoint clients play against (for ER profiles: the ER)
  ws_url     PubSub endpoint; empty = url with the port + 1
  base_url   the base chain, where models are uploaded and sessions created, delegated and closed
  ephemeral  true when url is an ER (close_session = end_session: commit + undelegate)
  program_id the world-model program's address there; empty = the SDK's default
  local_base the base chain of a stack this machine starts for the profile (`python -m onchain.localnet
             up --profile NAME`, `python -m game --host`): own (onchain.localnet.basenode) or agave
             (solana-test-validator, `make setup-validator`); empty for chains elsewhere
"""
from __future__ import annotations

from pathlib import Path

import yaml

SETTINGS = Path(__file__).resolve().parents[2] / "settings.yaml"

KEYS = ("kind", "url", "ws_url", "base_url", "ephemeral", "program_id", "local_base")

DEFAULTS: dict[str, dict] = {
    # The compiled program in this process (LiteSVM); no validator.
    "embedded": {"kind": "embedded", "url": "", "ws_url": "", "base_url": "", "ephemeral": False,
                 "program_id": "", "local_base": ""},
    # `python -m onchain.localnet up` (or `make localnet`) on this machine: the base node on 8899/8900 and
    # MagicBlock's ephemeral validator 0.8.3 on 7799/7800 (tests run the same stack on free ports).
    "local-er": {"kind": "remote", "url": "http://127.0.0.1:7799", "ws_url": "ws://127.0.0.1:7800",
                 "base_url": "http://127.0.0.1:8899", "ephemeral": True, "program_id": "", "local_base": "own"},
    # The same stack and ports with Anza's solana-test-validator as the base chain (issue 17).
    "local-er-agave": {"kind": "remote", "url": "http://127.0.0.1:7799", "ws_url": "ws://127.0.0.1:7800",
                       "base_url": "http://127.0.0.1:8899", "ephemeral": True, "program_id": "",
                       "local_base": "agave"},
    # MagicBlock's public devnet ER in front of Solana devnet. Documented, not tested here: the program
    # must be deployed on devnet and its id set in program_id.
    "devnet": {"kind": "remote", "url": "https://devnet.magicblock.app", "ws_url": "wss://devnet.magicblock.app",
               "base_url": "https://api.devnet.solana.com", "ephemeral": True, "program_id": "", "local_base": ""},
}


def load(name: str, path: Path | None = SETTINGS) -> dict:
    """Profile `name` as settings.yaml defines it (DEFAULTS for keys or a file it leaves out)."""
    if name not in DEFAULTS:
        raise KeyError(f"unknown profile {name!r}; known: {', '.join(DEFAULTS)}")
    profile = dict(DEFAULTS[name])
    if path is not None and Path(path).exists():
        tree = yaml.safe_load(Path(path).read_text()) or {}
        mine = (((tree.get("backend") or {}).get("profiles") or {}).get(name)) or {}
        profile.update({k: v for k, v in mine.items() if k in KEYS})
    return profile


def names() -> tuple[str, ...]:
    return tuple(DEFAULTS)


def remote_backend(name: str, **kwargs):
    """A RemoteBackend for a remote profile (the ER endpoint), and one for its base chain (or None)."""
    from solders.pubkey import Pubkey

    from onchain.backends.remote import RemoteBackend

    p = load(name)
    if p["kind"] != "remote":
        raise ValueError(f"profile {name!r} is not remote")
    if p["program_id"]:
        kwargs["program_id"] = Pubkey.from_string(p["program_id"])
    er = RemoteBackend(p["url"], p["ws_url"] or None, ephemeral=bool(p["ephemeral"]), **kwargs)
    base = RemoteBackend(p["base_url"], **kwargs) if p["base_url"] else None
    return er, base
