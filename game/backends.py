"""Build the Backend a mode needs, and the keys that sign for the players.

The implementations live in the SDK (onchain.backends.embedded, onchain.backends.remote); this only picks one
and turns "not in this checkout" into a clear message instead of a traceback.
"""
from __future__ import annotations

from pathlib import Path

from solders.keypair import Keypair

from onchain.sdk.backend import Backend
from onchain.sdk.keys import read_keypair


class GameSetupError(RuntimeError):
    """Something the player can fix (a missing backend, key file, model); printed without a traceback."""


def embedded_backend() -> Backend:
    try:
        from onchain.backends.embedded import EmbeddedBackend
    except ImportError as e:
        raise GameSetupError(f"the embedded backend (onchain.backends.embedded) is not available: {e}") from None
    try:
        return EmbeddedBackend()
    except FileNotFoundError as e:  # build/world_model.so missing
        raise GameSetupError(f"{e} (run `make build`)") from None


def remote_backend(url: str, ws_url: str = "", program_id: str = "", ephemeral: bool = False) -> Backend:
    """A RemoteBackend; `ephemeral` for an ER endpoint (a profile with ephemeral: true), so that
    closing a session there means end_session (commit + undelegate to the base chain)."""
    try:
        from onchain.backends.remote import RemoteBackend
    except ImportError as e:
        raise GameSetupError(
            "online and spectate modes need the remote backend (onchain.backends.remote), which this checkout "
            f"does not have yet ({e})") from None
    kwargs: dict = {"ws_url": ws_url} if ws_url else {}
    kwargs["ephemeral"] = ephemeral
    if program_id:
        from solders.pubkey import Pubkey
        try:
            kwargs["program_id"] = Pubkey.from_string(program_id)
        except ValueError as e:
            raise GameSetupError(f"backend.program_id {program_id!r} is not a base58 address: {e}") from None
    return RemoteBackend(url, **kwargs)


def load_keypair(setting: str) -> tuple[Keypair, str]:
    """(key, where it came from). 'ephemeral' or a missing file gives a fresh key; a file that
    exists but is not a Solana CLI keypair is an error (never silently replaced)."""
    if setting == "ephemeral":
        return Keypair(), "ephemeral"
    path = Path(setting).expanduser()
    if not path.exists():
        return Keypair(), f"ephemeral ({path} not found)"
    try:
        return read_keypair(path), str(path)
    except ValueError as e:
        raise GameSetupError(str(e)) from None
