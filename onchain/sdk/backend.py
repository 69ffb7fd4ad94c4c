"""The one small interface between a client (game, crank, CLI) and the chain.

Two implementations share it: the embedded backend (the compiled program inside an
in-process LiteSVM, `onchain.backends.embedded`) and the remote backend (RPC + WebSocket to
a validator or a MagicBlock ER, `onchain.backends.remote`). A client never needs to know
which one it holds. Everything here is plain data; keys are solders `Keypair` / `Pubkey`;
what travels in the accounts (ControllerInput, SessionView) is onchain.sdk.wire.
"""
from __future__ import annotations

import abc
import dataclasses
from typing import Callable

from solders.keypair import Keypair
from solders.pubkey import Pubkey

from onchain.sdk.wire import ControllerInput, SessionView


@dataclasses.dataclass(frozen=True)
class TxOutcome:
    """What a client learns about one transaction it sent."""
    ok: bool
    signature: str
    cu: int = 0  # compute units consumed (0 when unknown, e.g. remote and not yet confirmed)
    seconds: float = 0.0  # wall time from send to result
    error: str | None = None  # the program's / validator's real message on failure
    logs: tuple[str, ...] = ()


class BackendError(RuntimeError):
    """A transaction or RPC failed; the message is the chain's own."""


class Backend(abc.ABC):
    """The chain as a game client sees it. Methods that send a transaction return a
    TxOutcome (ok False with the real error, never raise for a program rejection);
    transport failures (dead endpoint) raise BackendError."""

    name: str = "backend"
    program_id: Pubkey

    @abc.abstractmethod
    def create_session(self, session_id: int, model_id: int, creator: Keypair) -> TxOutcome:
        """Create SessionState, HiddenState and InputBuffer; the creator is player 1."""

    @abc.abstractmethod
    def join_session(self, session_id: int, player: Keypair) -> TxOutcome:
        """Take the player 2 slot; the session becomes active."""

    @abc.abstractmethod
    def submit_input(self, session_id: int, player: Keypair, frame: int, ctrl: ControllerInput) -> TxOutcome:
        """Set the signer's own controller for `frame` (the next frame to be computed)."""

    @abc.abstractmethod
    def run_inference(self, session_id: int, expected_frame: int) -> TxOutcome:
        """Advance the session exactly one frame (anyone may crank)."""

    @abc.abstractmethod
    def close_session(self, session_id: int, signer: Keypair) -> TxOutcome:
        """End the session and return its rent to the creator."""

    @abc.abstractmethod
    def session(self, session_id: int) -> SessionView | None:
        """The current SessionState, or None if the account does not exist or is malformed."""

    def subscribe_session(self, session_id: int, callback: Callable[[SessionView], None]) -> Callable[[], None]:
        """Call `callback` with every new SessionState; returns an unsubscribe function.
        The embedded backend calls it synchronously after each frame; the remote backend
        from its WebSocket thread."""
        raise NotImplementedError(f"{self.name} has no subscriptions")

    def close(self) -> None:
        """Release sockets, threads and processes."""
