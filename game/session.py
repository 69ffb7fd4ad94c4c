"""The session a mode plays, behind one small interface the game loop drives at 60 Hz.

- LocalSession: both players on this machine; each tick submits both inputs and advances the
  frame itself (`run_inference`; in-process with the embedded backend).
- OnlineSession: one player on this machine; inputs go out on a sender thread and frames come
  in by account subscription, so the loop never waits on the network.
- SpectateSession: frames by subscription only.
"""
from __future__ import annotations

import dataclasses
import queue
import sys
import threading
import time

from solders.keypair import Keypair

from onchain.sdk.backend import Backend, BackendError
from onchain.sdk.wire import STATUS_ACTIVE, STATUS_ENDED, STATUS_WAITING, ControllerInput, SessionView

from .backends import GameSetupError


@dataclasses.dataclass
class TickResult:
    advanced: bool
    cu: int | None = None
    ms: float | None = None
    error: str | None = None


class Session:
    backend: Backend
    session_id: int
    local_players: tuple[int, ...] = ()

    def start(self) -> None:
        pass

    def tick(self, ctrls: dict[int, ControllerInput]) -> TickResult | None:
        return None

    def view(self) -> SessionView | None:
        raise NotImplementedError

    def restart(self) -> None:
        raise GameSetupError("this mode cannot start a new game")

    def close(self) -> None:
        pass

    # The match and the rules' state, when the session knows them (game/match.py): the chain's
    # SessionView carries them once SessionState stores them; None draws the configured stage
    # and characters without rules.
    def match(self):
        from .match import from_view
        view = self.view()
        return from_view(view) if view is not None else None

    def rules(self) -> bytes | None:
        view = self.view()
        return getattr(view, "rules", None) if view is not None else None


def _check(outcome, what: str) -> None:
    if not outcome.ok:
        raise GameSetupError(f"{what} failed: {outcome.error}")


class LocalSession(Session):
    local_players = (0, 1)

    def __init__(self, backend: Backend, cartridge, session_id: int, keys: tuple[Keypair, Keypair],
                 start_state=None, match=None):
        self.backend, self.cartridge, self.session_id, self.keys = backend, cartridge, session_id, keys
        self.start_state = start_state  # (2, 16) fighters to start from; None = the program's default
        self.match_ = match  # game.match.Match: the session's stage and characters (None: the program's default)
        self.model_id: int | None = None
        self._view: SessionView | None = None

    def start(self) -> None:
        if self.model_id is None:
            upload = getattr(self.backend, "upload_model", None)
            if upload is None:
                raise GameSetupError(f"backend {self.backend.name} cannot upload a model")
            self.model_id = upload(self.cartridge)
        context = {}
        if self.match_ is not None:
            from worldmodel import stages as WS
            context = {"stage": WS.stage(self.match_.stage).slippi_id,
                       "characters": tuple(WS.character_id(c) for c in self.match_.characters)}
        if self.start_state is None:
            created = self.backend.create_session(self.session_id, self.model_id, self.keys[0], **context)
        else:
            try:  # the embedded backend can start a session from any state (replays)
                created = self.backend.create_session(self.session_id, self.model_id, self.keys[0],
                                                      fighters=self.start_state, **context)
            except TypeError:
                raise GameSetupError(f"backend {self.backend.name} cannot start a session from a given state") from None
        _check(created, "create_session")
        _check(self.backend.join_session(self.session_id, self.keys[1]), "join_session")
        self._view = self.backend.session(self.session_id)
        if self._view is None:
            raise GameSetupError(f"session {self.session_id} was created but cannot be read back")

    def tick(self, ctrls: dict[int, ControllerInput]) -> TickResult:
        view = self._view
        if view is None or view.status != STATUS_ACTIVE:
            return TickResult(False, error="session not active")
        frame = view.frame
        for player in (0, 1):
            out = self.backend.submit_input(self.session_id, self.keys[player], frame, ctrls[player])
            if not out.ok:
                return TickResult(False, error=f"submit_input P{player + 1}: {out.error}")
        t0 = time.perf_counter()
        out = self.backend.run_inference(self.session_id, frame)
        ms = (time.perf_counter() - t0) * 1000
        new = self.backend.session(self.session_id)
        if new is not None:
            self._view = new
        if not out.ok:
            return TickResult(False, out.cu or None, ms, f"run_inference: {out.error}")
        return TickResult(new is not None and new.frame == frame + 1, out.cu, ms)

    def view(self) -> SessionView | None:
        return self._view

    def restart(self) -> None:
        try:
            self.backend.close_session(self.session_id, self.keys[0])
        except BackendError:
            pass
        self.session_id += 1
        self.start()


def wait_for_session(backend: Backend, session_id: int, wait_s: float, ready=lambda v: True,
                     what: str = "exist") -> SessionView | None:
    """Poll until the session exists and `ready(view)`, for up to `wait_s` seconds (a player may start
    the client before the host has created, joined or delegated the session). The last view read,
    or None when the session never appeared."""
    deadline = time.monotonic() + wait_s
    said = False
    while True:
        view = backend.session(session_id)
        if (view is not None and ready(view)) or time.monotonic() >= deadline:
            return view
        if not said:
            print(f"waiting up to {wait_s:.0f} s for session {session_id} to {what} ...", file=sys.stderr, flush=True)
            said = True
        time.sleep(0.25)


class _Follower:
    """The latest SessionView, pushed by subscription (or polled when the backend has none)."""

    POLL_S = 1 / 120

    def __init__(self, backend: Backend, session_id: int, playout=None):
        self.backend, self.session_id = backend, session_id
        self.playout = playout  # game.playout.PlayoutBuffer: gets every new view with its arrival time
        self.lock = threading.Lock()
        self.latest: SessionView | None = None
        self.received: list[int] = []  # frame numbers in arrival order (spectators check none is missing)
        self.error: str | None = None
        self._stop = threading.Event()
        self._unsubscribe = None
        self._poller: threading.Thread | None = None

    def _receive(self, view: SessionView) -> None:
        if view is None or view.session_id != self.session_id:
            return
        if self.playout is not None:
            self.playout.arrive(view, time.perf_counter())
        with self.lock:
            self.received.append(view.frame)
            if self.latest is None or view.frame >= self.latest.frame:
                self.latest = view

    def start(self) -> None:
        first = self.backend.session(self.session_id)
        if first is not None:
            self._receive(first)
        try:
            self._unsubscribe = self.backend.subscribe_session(self.session_id, self._receive)
        except NotImplementedError:
            self._poller = threading.Thread(target=self._poll, daemon=True, name="session-poll")
            self._poller.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                view = self.backend.session(self.session_id)
                if view is not None:
                    self._receive(view)
            except BackendError as e:
                self.error = str(e)
            self._stop.wait(self.POLL_S)

    def view(self) -> SessionView | None:
        with self.lock:
            return self.latest

    def stop(self) -> None:
        self._stop.set()
        if self._unsubscribe is not None:
            try:
                self._unsubscribe()
            except Exception:  # the socket may already be gone; stopping must not fail
                pass


class OnlineSession(Session):
    """One desktop, one player: its inputs out, everyone's frames in.

    Inputs are tagged with the newest frame received (`lead` 0: what a lockstep crank waits for);
    when the chain answers StaleInput for a frame already computed (the crank computed that frame before the input landed) the
    lead grows by one, up to MAX_LEAD, so later inputs still reach the earliest frame they can."""

    MAX_LEAD = 2

    def __init__(self, backend: Backend, session_id: int, player: int, key: Keypair, model_id: int | None,
                 wait_s: float = 0.0, playout=None):
        self.backend, self.session_id, self.player, self.key = backend, session_id, player, key
        self.model_id = model_id
        self.wait_s = wait_s  # how long start() waits for the session to appear / become active
        self.local_players = (player,)
        # The picture goes through the playout buffer (when given); inputs never do: tick() tags
        # this player's input with the newest frame received, as immediate as the chain allows.
        self.playout = playout
        self.follower = _Follower(backend, session_id, playout)
        self.outbox: queue.Queue = queue.Queue(maxsize=1)
        self.last_error: str | None = None
        self.input_errors = 0
        self._last_item: tuple | None = None
        self._sender: threading.Thread | None = None
        self._stop = threading.Event()
        self.sent = 0
        self.lead = 0  # frames ahead of the newest received that inputs are tagged with

    def start(self) -> None:
        # In an Ephemeral Rollup sessions are created and joined on the base chain and then delegated
        # (python -m onchain.tools.er_session host / join); here the client only waits for that.
        er = bool(getattr(self.backend, "ephemeral", False))
        creates = self.player == 0 and self.model_id is not None and not er
        view = wait_for_session(self.backend, self.session_id, 0.0 if creates else self.wait_s)
        if view is None:
            if er:
                raise GameSetupError(f"session {self.session_id} is not in the ER at {self.backend.url} (the host "
                                     "creates and delegates it: python -m onchain.tools.er_session host)")
            if self.player != 0:
                raise GameSetupError(f"session {self.session_id} does not exist (player 1 creates it)")
            if self.model_id is None:
                raise GameSetupError("creating an online session needs --model-id (an uploaded model)")
            _check(self.backend.create_session(self.session_id, self.model_id, self.key), "create_session")
        elif self.player == 1 and view.status == STATUS_WAITING and not er:
            _check(self.backend.join_session(self.session_id, self.key), "join_session")
        elif view.status == STATUS_ENDED:
            raise GameSetupError(f"session {self.session_id} has ended")
        if er and self.wait_s:
            wait_for_session(self.backend, self.session_id, self.wait_s, lambda v: v.status != STATUS_WAITING,
                             "become active")
        self.follower.start()
        self._sender = threading.Thread(target=self._send_loop, daemon=True, name="input-sender")
        self._sender.start()

    def _send_loop(self) -> None:
        while not self._stop.is_set():
            try:
                frame, ctrl = self.outbox.get(timeout=0.1)
            except queue.Empty:
                continue
            try:
                out = self.backend.submit_input(self.session_id, self.key, frame, ctrl)
                self.last_error = None if out.ok else out.error
                self.input_errors += not out.ok
                newest = self.follower.view()
                if (not out.ok and "StaleInput" in (out.error or "") and self.lead < self.MAX_LEAD
                        and newest is not None and frame < newest.frame):
                    # The frame was computed before the input landed (a crank that does not wait
                    # for inputs): aim one frame further ahead from now on.
                    self.lead += 1
                self.sent += 1
            except BackendError as e:
                self.last_error = str(e)
                self.input_errors += 1
            finally:
                self.outbox.task_done()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every queued input has been answered (tests, clean shutdown)."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.outbox.unfinished_tasks == 0:  # put and not yet answered (or replaced)
                return True
            time.sleep(0.001)
        return False

    def tick(self, ctrls: dict[int, ControllerInput]) -> TickResult | None:
        view = self.follower.view()
        if view is None or view.status != STATUS_ACTIVE:
            return None
        item = (view.frame + self.lead, ctrls[self.player])
        if item == self._last_item:  # this frame already has this input: nothing new to send
            return None
        self._last_item = item
        try:  # latest wins: a stale input still queued is replaced, never waited for
            self.outbox.get_nowait()
            self.outbox.task_done()
        except queue.Empty:
            pass
        self.outbox.put_nowait(item)
        return None

    def view(self) -> SessionView | None:
        return self.follower.view()

    def hud_lines(self) -> tuple[str, ...]:
        lines = (f"online: P{self.player + 1}, session {self.session_id}, {self.sent} inputs sent",)
        if self.last_error:
            lines += (f"last input rejected: {self.last_error[:70]}",)
        if self.playout is not None:
            lines += (self.playout.hud_line(),)
        return lines

    def close(self) -> None:
        self.flush(1.0)
        self._stop.set()
        self.follower.stop()


class SpectateSession(Session):
    def __init__(self, backend: Backend, session_id: int, wait_s: float = 0.0, playout=None):
        self.backend, self.session_id, self.wait_s = backend, session_id, wait_s
        self.playout = playout
        self.follower = _Follower(backend, session_id, playout)

    def start(self) -> None:
        if wait_for_session(self.backend, self.session_id, self.wait_s) is None:
            raise GameSetupError(f"session {self.session_id} does not exist at this endpoint")
        self.follower.start()

    def view(self) -> SessionView | None:
        return self.follower.view()

    def hud_lines(self) -> tuple[str, ...]:
        lines = (f"spectating session {self.session_id}",)
        return lines + ((self.playout.hud_line(),) if self.playout is not None else ())

    def close(self) -> None:
        self.follower.stop()
