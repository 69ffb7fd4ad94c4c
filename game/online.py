"""Online play in two commands: `python -m game --host`, `python -m game --join CODE` (and
`--spectate CODE`). What README "Playing over the network" used to take six commands for.

Host: finds the chain (the profile's endpoints; on this machine the local stack is started if it is
not running), uploads the game's model unless the base chain has it, creates the session with the
chosen stage, characters and stocks, shows the join code in a lobby, delegates the session to the
ER once player 2 has joined, cranks it (the ER's own scheduled crank, else the Python crank in this
process, both signed by the host: only players and the crank key may crank) and plays player 1.
At the end (the rules end the game, or a player quits) it ends the session in the ER, waits for the
base chain to own the accounts again and closes them there: the rent goes back to the host.

Guest: joins on the host's base chain, waits for the delegation, plays player 2. Spectator: watches.
Chain and setup steps live here; the lobby screen in game/lobby.py; the join code in game/joincode.py.
"""
from __future__ import annotations

import random
import socket
import sys
import threading
import time
from urllib.parse import urlparse

from solders.keypair import Keypair
from solders.pubkey import Pubkey

from onchain.sdk import pda
from onchain.sdk.wire import STATUS_ACTIVE, STATUS_ENDED, STATUS_WAITING
from onchain.sdk.backend import BackendError

from . import joincode
from .backends import GameSetupError
from .match import decode_rules
from .session import OnlineSession, SpectateSession, _Follower

FUND = 10 * 10**9  # lamports a local faucet gives a player (fees, the session's rent, delegation records)
SETTLE_WAIT_S = 60.0  # how long the base chain may take to get the accounts back after end_session


class Cancelled(Exception):
    """The host left the lobby before anyone joined (not an error)."""


def log(text: str) -> None:
    print(f"[online] {text}", file=sys.stderr, flush=True)


def probe(url: str, timeout: float = 2.0) -> str | None:
    """None when `url` answers JSON-RPC getSlot, else why not."""
    from onchain.localnet.stack import LocalnetError, rpc
    try:
        rpc(url, "getSlot", timeout=timeout)
        return None
    except (OSError, LocalnetError, ValueError) as e:
        return str(e) or type(e).__name__


def game_ended(view) -> bool:
    """The rules ended the game (run_inference answers GameOver), or a player ended the session."""
    if view is None:
        return False
    rules = decode_rules(getattr(view, "rules", None))
    return view.status == STATUS_ENDED or (rules is not None and rules.ended)


def lan_address() -> str:
    """This machine's address on its LAN (the route a UDP socket would take; nothing is sent)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.255.255.255", 1))
            return s.getsockname()[0]
    except OSError:
        return "127.0.0.1"


def ensure_stack(base_url: str, er_url: str, listen: str | None, local_base: str | None = None):
    """(Localnet we started, or None when both endpoints already answer). Only a stack on this
    machine is started (its base chain: `local_base`, the profile's); a remote chain that does not
    answer is an error."""
    base_err, er_err = probe(base_url), probe(er_url)
    if base_err is None and er_err is None:
        return None
    hosts = {urlparse(u).hostname for u in (base_url, er_url)}
    if not hosts <= {"127.0.0.1", "localhost"}:
        raise GameSetupError(f"cannot reach the chain: base {base_url}: {base_err or 'ok'}; ER {er_url}: {er_err or 'ok'}")
    if (base_err is None) != (er_err is None):
        raise GameSetupError(f"half a local stack answers (base {base_url}: {base_err or 'ok'}, ER {er_url}: "
                             f"{er_err or 'ok'}): stop it with `python -m onchain.localnet down` and retry")
    from onchain.localnet.stack import DEFAULT_RUN_DIR, Localnet, LocalnetError
    try:
        net = Localnet(DEFAULT_RUN_DIR, urlparse(base_url).port, urlparse(er_url).port, listen=listen or "127.0.0.1",
                       base=local_base or None)
        log(f"starting the local chain stack (base {base_url} ({net.base}), ER {er_url}, listening on {net.listen}) ...")
        net.up()
    except LocalnetError as e:
        raise GameSetupError(f"could not start the local stack: {e}") from None
    return net


def fund(base, key: Keypair) -> None:
    """Make sure `key` can pay on the base chain: a local faucet tops it up; elsewhere say so."""
    try:
        base.ensure_funded(key.pubkey(), FUND)
    except Exception as e:  # noqa: BLE001 (devnet's faucet limits, a chain without one)
        raise GameSetupError(f"{key.pubkey()} has no SOL on {base.url} and the faucet refused ({e}): "
                             "fund it and retry") from None


def ensure_model(base, model, key: Keypair, say=log) -> int:
    """Upload and finalize `model` (worldmodel.shipped.Model) unless the base chain has it; its id."""
    from onchain.sdk import upload
    src = model.cartridge if model.source == "random" else model.source
    manifest, weights = upload.load_cartridge_bytes(src)
    model_id = upload.model_id_of(manifest)
    have = base.manifest(model_id)
    if have is not None and have.finalized:
        if have.manifest != manifest:
            raise GameSetupError(f"model id {model_id} holds another model on {base.url}")
        return model_id
    if have is not None and have.authority != key.pubkey():
        raise GameSetupError(f"model id {model_id} is being uploaded by {have.authority}, not this key; retry later")
    fund_upload(base, key, manifest, weights)
    say(f"uploading model {model.name} ({len(weights):,} bytes) as model {model_id} ...")
    try:
        base.upload_model(src, model_id, key)
    except BackendError as e:
        raise GameSetupError(f"uploading model {model.name} failed: {e}") from None
    return model_id


def upload_rent(base, manifest: bytes, weights: bytes) -> int:
    """Lamports the model's accounts hold for rent (2.45 MB, about 17 SOL, for tiny-wide-v1)."""
    from onchain.sdk import upload
    return sum(int(base.rpc("getMinimumBalanceForRentExemption", [n]))
               for n in upload.account_sizes(manifest, weights))


def fund_upload(base, key: Keypair, manifest: bytes, weights: bytes) -> None:
    """Before an upload: the uploader holds the model's rent plus a player's FUND, or a local
    faucet tops it up to that; elsewhere say how much it needs."""
    need = upload_rent(base, manifest, weights) + FUND
    have = balance(base, key.pubkey())
    if have >= need:
        return
    try:
        base.airdrop(key.pubkey(), need - have)
    except Exception as e:  # noqa: BLE001 (devnet's faucet limits, a chain without one)
        raise GameSetupError(f"uploading the model needs {need / 1e9:.2f} SOL (its accounts' rent and fees); "
                             f"{key.pubkey()} holds {have / 1e9:.2f} on {base.url} and the faucet refused ({e}): "
                             "fund it and retry") from None


def new_session_id(base) -> int:
    """A short session id (5 digits, typeable) that is free on the base chain."""
    rng = random.SystemRandom()
    for _ in range(50):
        sid = rng.randrange(10_000, 100_000)
        if base.account_info(pda.session(base.program_id, sid)) is None:
            return sid
    raise GameSetupError("no free session id found")


def balance(base, key: Pubkey) -> int:
    info = base.account_info(key)
    return info["lamports"] if info is not None else 0


def settle(base, er, session_id: int, key: Keypair, say=log) -> dict:
    """End the session in the ER (unless it is already), wait until the base chain owns its
    accounts again, read the final state there and close them: the rent goes to the host."""
    from worldmodel.cartridge import FIELDS
    out: dict = {"session": session_id, "settled": False}
    try:
        view = er.session(session_id)
        if view is not None and view.status != STATUS_ENDED:
            say("ending the session in the ER (commit + undelegate) ...")
            ended = er.end_session(session_id, key)
            if not ended.ok:
                out["error"] = f"end_session: {ended.error}"
                return out
        keys = pda.session_accounts(base.program_id, session_id)
        say("waiting for the base chain to get the session back ...")
        if not all(base.wait_owner(k, base.program_id, SETTLE_WAIT_S) for k in keys):
            out["error"] = f"the base chain did not get the session back within {SETTLE_WAIT_S:.0f} s"
            return out
        final = base.session(session_id)
        rent = sum((base.account_info(k) or {"lamports": 0})["lamports"] for k in keys)
        before = balance(base, key.pubkey())
        closed = base.close_session(session_id, key)
        after = balance(base, key.pubkey())
    except BackendError as e:
        out["error"] = str(e)
        return out
    out.update(settled=closed.ok, error=closed.error, rent_lamports=rent, host_balance_before=before,
               host_balance_after=after)
    if final is not None:
        rules = decode_rules(final.rules)
        out["final_state"] = {"frame": final.frame, "status": final.status,
                              **{f"p{p + 1}": {k: int(v) for k, v in zip(FIELDS, final.fighters[p])} for p in (0, 1)}}
        out["stocks"] = list(rules.stocks) if rules is not None else None
        out["winner"] = (None if rules is None or not rules.ended else
                         "tie" if rules.winner is None else f"p{rules.winner + 1}")
    if closed.ok:
        say(f"settled on the base chain at frame {out.get('final_state', {}).get('frame')}: "
            f"{rent / 1e9:.6f} SOL of rent back to {key.pubkey()}")
    return out


def settlement_lines(s: dict | None, host: bool) -> list[str]:
    if s is None:
        return ["settling on the base chain ..."] if host else ["the host is settling on the base chain ..."]
    if not s.get("settled"):
        return [f"settlement failed: {str(s.get('error'))[:60]}"]
    if "rent_lamports" in s:
        return [f"settled on the base chain at frame {s.get('final_state', {}).get('frame')}",
                f"rent back to the host: {s['rent_lamports'] / 1e9:.4f} SOL"]
    return ["settled on the base chain (rent back to the host)"]


class _Ends:
    """Online sessions stop sending inputs once the game is over (the frames they would be for never come)."""

    def tick(self, ctrls):
        return None if game_ended(self.follower.view()) else super().tick(ctrls)


class HostSession(_Ends, OnlineSession):
    """Player 1, who also owns the chain side: create, lobby, delegate, crank, settle."""

    def __init__(self, er_url: str, base_url: str, key: Keypair, model, match, stocks: int | None,
                 address: str, crank: str, lobby, net=None, playout=None, program_id: Pubkey | None = None):
        from onchain.backends.remote import RemoteBackend
        extra = {"program_id": program_id} if program_id else {}
        super().__init__(RemoteBackend(er_url, payer=key, ephemeral=True, **extra), 0, 0, key, None, 60.0, playout)
        self.base = RemoteBackend(base_url, payer=key, **extra)
        self.base_url, self.er_url = base_url, er_url
        self.model, self.match_, self.stocks, self.address = model, match, stocks, address
        self.crank_mode, self.lobby, self.net = crank, lobby, net
        self.code: joincode.JoinCode | None = None
        self.crank_stop = threading.Event()
        self.crank_note = ""
        self.settlement: dict | None = None
        self._settle_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.created = self.delegated = self.cancelled = False

    def start(self) -> None:
        say = self.lobby.say
        fund(self.base, self.key)
        model_id = ensure_model(self.base, self.model, self.key, say)
        from worldmodel import stages as WS
        context = {"stage": WS.stage(self.match_.stage).slippi_id,
                   "characters": tuple(WS.character_id(c) for c in self.match_.characters)}
        if self.stocks is not None:
            from onchain.backends.embedded import default_start_state
            from worldmodel.cartridge import FIELDS
            fighters = default_start_state()  # the rules start from the fighters' stocks field
            fighters[:, FIELDS.index("stocks")] = self.stocks
            context["fighters"] = fighters
        sid = new_session_id(self.base)
        # Fixed for the session's life: delegated only to this ER; the host's key cranks.
        created = self.base.create_session(sid, model_id, self.key, validator=self.backend.identity(), **context)
        if not created.ok:
            raise GameSetupError(f"create_session failed: {created.error}")
        self._use_session(sid)
        self.created = True
        port = urlparse(self.er_url).port or joincode.ER_PORT
        self.code = joincode.JoinCode(sid, self.address, port, urlparse(self.base_url).port or joincode.BASE_PORT)
        log(f"join code: {self.code}")  # tests and scripts read this line
        if not self.lobby.wait(f"Join code: {self.code}",
                               ["Player 2 types:", f"python -m game --join {self.code}",
                                "", f"{self.match_.label(0)} vs {self.match_.label(1)} on {self.match_.stage.replace('_', ' ').title()}",
                                "waiting for player 2 ...", "Esc: cancel"], self._joined):
            self._cancel()
            self.cancelled = True
            raise Cancelled()
        say("player 2 joined: delegating the session to the ER ...")
        for step in (lambda: self.base.delegate_session(sid, self.key), lambda: self.backend.start_in_er(sid)):
            out = step()
            if not out.ok:
                raise GameSetupError(f"delegation failed: {out.error}")
        self.delegated = True
        super().start()
        for target, name in ((self._crank, "crank"), (self._watch_end, "end-watch")):
            t = threading.Thread(target=target, daemon=True, name=name)
            t.start()
            self._threads.append(t)

    def _use_session(self, sid: int) -> None:
        self.session_id = sid
        self.follower = _Follower(self.backend, sid, self.playout)

    def _joined(self) -> bool:
        view = self.base.session(self.session_id)
        return view is not None and view.status == STATUS_ACTIVE

    def _cancel(self) -> None:
        out = self.base.close_session(self.session_id, self.key)  # not delegated yet: close on the base
        log(f"cancelled; session {self.session_id} closed on the base: {'ok' if out.ok else out.error}")

    def _crank(self) -> None:
        """The ER's scheduled crank (no client in the loop) where it works, else the Python crank
        here; both stop once the game is over."""
        from onchain.tools.crank import Crank
        from onchain.backends.remote import RemoteBackend
        with RemoteBackend(self.er_url, payer=self.key, ephemeral=True, program_id=self.backend.program_id) as er:
            if self.crank_mode == "scheduled":
                from onchain.tools.sched_crank import ScheduledCrank
                try:
                    ScheduledCrank(er, self.session_id, self.key).run(stop=self.crank_stop)
                    self.crank_note = "ER scheduled crank"
                    return
                except BackendError as e:
                    log(f"the ER's scheduled crank did not run ({e}); cranking here instead")
            self.crank_note = "Python crank"
            crank = Crank(er, self.session_id)
            stats = crank.run(stop=self.crank_stop)
            if stats.errors and not stats.frames:
                log(f"crank failed: {stats.last_error}")

    def _watch_end(self) -> None:
        while not self._stop.is_set() and not game_ended(self.follower.view()):
            self._stop.wait(0.05)
        if not self._stop.is_set():
            self.finish_settlement()

    def finish_settlement(self) -> dict:
        with self._settle_lock:
            if self.settlement is None:
                self.crank_stop.set()
                for t in self._threads:
                    if t.name == "crank":
                        t.join(15)
                self.settlement = settle(self.base, self.backend, self.session_id, self.key)
            return self.settlement

    def finish(self, timeout: float = 120.0) -> dict | None:
        """Headless, after the loop: the settlement, once the end-of-game watcher has done it; if the
        loop stopped before the game ended (--duration, --frames), the host leaves: settle now."""
        if not game_ended(self.follower.view()):
            self.finish_settlement()
        deadline = time.monotonic() + timeout
        while self.settlement is None and time.monotonic() < deadline:
            time.sleep(0.1)
        return None if self.settlement is None else {**self.settlement, "crank": self.crank_note}

    def result_lines(self) -> list[str]:
        return settlement_lines(self.settlement, host=True)

    def hud_lines(self) -> tuple[str, ...]:
        return super().hud_lines() + (f"hosting {self.code}  ({self.crank_note or 'crank starting'})",)

    def close(self) -> None:
        try:
            if self.delegated:
                self.finish_settlement()  # a player quit: end and settle now
            elif self.created and not self.cancelled:  # setup failed after create: the rent back
                self._cancel()
        finally:
            super().close()
            self.crank_stop.set()
            self.base.close()
            if self.net is not None:
                log("stopping the local chain stack this game started")
                self.net.down()


class GuestSession(_Ends, OnlineSession):
    """Player 2: join on the host's base chain, then play in its ER."""

    def __init__(self, code: joincode.JoinCode, key_for, lobby, wait_s: float, playout=None,
                 program_id: Pubkey | None = None):
        from onchain.backends.remote import RemoteBackend
        for what, url in (("base chain", code.base_url), ("ER", code.er_url)):
            err = probe(url)
            if err is not None:
                raise GameSetupError(f"cannot reach the host's {what} at {url} ({err}): is the host running "
                                     "`python -m game --host`, with --listen 0.0.0.0 for other machines?")
        extra = {"program_id": program_id} if program_id else {}
        self.base = RemoteBackend(code.base_url, **extra)
        self.code, self.key_for, self.lobby = code, key_for, lobby
        super().__init__(RemoteBackend(code.er_url, ephemeral=True, **extra), code.session_id, 1, Keypair(),
                         None, wait_s, playout)
        self.key_note = ""
        self.settlement: dict | None = None
        self._watch: threading.Thread | None = None

    def _base_view(self):
        """The session as the base chain has it; while it is delegated, the ER's copy."""
        key = pda.session(self.base.program_id, self.session_id)
        info = self.base.account_info(key)
        if info is None:
            return None, False
        if info["owner"] != self.base.program_id:  # delegated: the live copy is in the ER
            return self.backend.session(self.session_id), True
        return self.base.session(self.session_id), False

    def start(self) -> None:
        sid = self.session_id
        deadline = time.monotonic() + self.wait_s
        view, delegated = self._base_view()
        while view is None and time.monotonic() < deadline:
            time.sleep(0.5)
            view, delegated = self._base_view()
        if view is None:
            raise GameSetupError(f"no session {sid} at {self.code.base_url}: check the join code")
        self.key, self.key_note = self.key_for(view.players[0])
        self.base.payer = self.backend.payer = self.key  # the guest pays its own join (and signs end_session)
        if view.status == STATUS_ENDED:
            raise GameSetupError(f"session {sid} has ended")
        if view.status == STATUS_WAITING:
            fund(self.base, self.key)
            self.lobby.say(f"joining session {sid} as {self.key.pubkey()} ...")
            out = self.base.join_session(sid, self.key)
            if not out.ok:
                raise GameSetupError(f"join_session failed: {out.error}")
        elif view.players[1] != self.key.pubkey():
            raise GameSetupError(f"session {sid} already has two players: watch it with --spectate {self.code}")
        if not delegated:
            self.lobby.wait(f"Joined {self.code}", ["waiting for the host to start the game ...", "Esc: leave"],
                            lambda: self._base_view()[1], deadline=time.monotonic() + self.wait_s)
            if not self._base_view()[1]:
                raise GameSetupError(f"the host did not start session {sid}")
        if not self.backend.wait_delegated(sid, 30.0):
            raise GameSetupError(f"session {sid} is not in the host's ER at {self.code.er_url}")
        super().start()
        self._watch = threading.Thread(target=self._watch_settlement, daemon=True, name="settle-watch")
        self._watch.start()

    def _watch_settlement(self) -> None:
        """After the game: the host settles; show when the base chain has closed the session."""
        while not self._stop.is_set() and not game_ended(self.follower.view()):
            self._stop.wait(0.1)
        deadline = time.monotonic() + SETTLE_WAIT_S + 60
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                if self.base.account_info(pda.session(self.base.program_id, self.session_id)) is None:
                    self.settlement = {"session": self.session_id, "settled": True}
                    return
            except BackendError:
                pass  # the host's stack may already be down
            self._stop.wait(0.25)

    def finish(self, timeout: float = 150.0) -> dict | None:
        """Headless, after the loop: leave (end the session) unless the game is over, then wait for
        the host to settle it on the base chain."""
        self._leave()
        if self._watch is not None:
            self._watch.join(timeout)
        return self.settlement or {"session": self.session_id, "settled": False}

    def _leave(self) -> None:
        """Quitting mid-game ends it for both (a player may end_session); the host then settles."""
        try:
            view = self.follower.view()
            if view is not None and not game_ended(view) and view.status == STATUS_ACTIVE:
                out = self.backend.end_session(self.session_id, self.key)
                log(f"left the game: session ended in the ER ({'ok' if out.ok else out.error})")
        except BackendError as e:
            log(f"could not end the session in the ER: {e}")

    def result_lines(self) -> list[str]:
        return settlement_lines(self.settlement, host=False)

    def close(self) -> None:
        try:
            self._leave()
        finally:
            super().close()
            self.base.close()


class CodeSpectateSession(SpectateSession):
    """A spectator who came with a join code: waits until the game is live in the ER (a spectator
    may come while the host is still in the lobby), then watches."""

    def __init__(self, code: joincode.JoinCode, wait_s: float, playout=None, program_id: Pubkey | None = None):
        from onchain.backends.remote import RemoteBackend
        err = probe(code.er_url)
        if err is not None:
            raise GameSetupError(f"cannot reach the host's ER at {code.er_url} ({err})")
        extra = {"program_id": program_id} if program_id else {}
        self.code, self.base_url = code, code.base_url if probe(code.base_url) is None else None
        self.base_extra = extra
        super().__init__(RemoteBackend(code.er_url, ephemeral=True, **extra), code.session_id, wait_s, playout)

    def start(self) -> None:
        if self.base_url is not None:  # the base chain says when the session is delegated
            from onchain.backends.remote import RemoteBackend
            with RemoteBackend(self.base_url, **self.base_extra) as base:
                key = pda.session(base.program_id, self.session_id)
                deadline = time.monotonic() + self.wait_s
                info = base.account_info(key)
                # Created but not yet delegated (the host's lobby): wait. Gone or delegated: go on.
                while info is not None and info["owner"] == base.program_id and time.monotonic() < deadline:
                    time.sleep(0.5)
                    info = base.account_info(key)
            if info is not None and info["owner"] != base.program_id:
                self.backend.wait_delegated(self.session_id, 30.0)
        super().start()
