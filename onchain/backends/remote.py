"""The remote backend: the program on a real validator (the project's base node, solana-test-validator,
or a MagicBlock ER) over JSON-RPC and WebSocket account subscriptions (solana-py).

Threading: one background thread runs an asyncio loop that owns the HTTP client, the WebSocket and all
in-flight transactions. The Backend methods are blocking wrappers; a game loop that must not wait uses
`send_async(...)` / `submit_input_async(...)`, which return a concurrent.futures.Future at once.
Transactions go through per-lane FIFO queues (one lane per signer by default), so one player's inputs
arrive in the order they were made while the crank's transactions never wait behind them.

Errors: a validator's own message is kept. The ER answers an execution failure with JSON-RPC -32003
("Transaction signature verification failure" in solana-py's table); the real reason is in the error's
message and data (err + program logs), which is what TxOutcome.error carries.

Subscriptions survive a dropped WebSocket: the connection is reopened with exponential back-off
(0.1 s doubling to 5 s), every subscription is renewed, and each subscriber is sent the account's
current state once (a reconnect may have missed updates; never a stale one after a newer one).
"""
from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import dataclasses
import logging
import queue
import re
import threading
import time
from typing import Callable

from solana.exceptions import SolanaRpcException
from solana.rpc.async_api import AsyncClient
from solana.rpc.jsonrpc import JsonRpcRequest, SolanaJsonRpcError
from solana.rpc.websocket_api import SolanaWsClient
from solders.compute_budget import set_compute_unit_limit
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.rpc.responses import AccountNotification
from solders.transaction import Transaction

from onchain.sdk import accounts as A
from onchain.sdk import instructions as I
from onchain.sdk import delegation as D
from onchain.sdk import pda as P
from onchain.sdk import errors
from onchain.sdk import upload
from onchain.sdk.backend import Backend, BackendError, TxOutcome
from onchain.sdk.wire import ControllerInput, SessionView
from onchain.backends.embedded import _steps_from_manifest, combine, create_session_grown
from onchain.sdk.steps import pack_steps, tx_overhead
from onchain.backends.svm import MAX_CU, PROGRAM_ID

log = logging.getLogger("remote")
logging.getLogger("httpx2").setLevel(logging.WARNING)  # one INFO line per request otherwise

BLOCKHASH_REFRESH_S = 0.5
BACKOFF_START_S, BACKOFF_MAX_S = 0.1, 5.0
# How running out of compute units reads: LiteSVM / the base node, and the ER (-32003 message).
OUT_OF_CU = ("exceeded CUs meter", "ProgramFailedToComplete", "exceeded maximum compute",
             "Program failed to complete")


# -- addresses and errors --------------------------------------------------------------------

def session_addresses(program_id: Pubkey, session_id: int) -> dict[str, Pubkey]:
    s, h, i = P.session_accounts(program_id, session_id)
    return {"session": s, "hidden": h, "input": i}


def _custom_code(err) -> int | None:
    """{"InstructionError": [i, {"Custom": n}]} -> n"""
    try:
        inner = err["InstructionError"][1]
        return int(inner["Custom"]) if isinstance(inner, dict) and "Custom" in inner else None
    except (TypeError, KeyError, IndexError, ValueError):
        return None


def describe_rpc_error(e: SolanaJsonRpcError) -> str:
    """The validator's real message: message, the TransactionError, and the failing program's logs."""
    parts = [e.message]
    data = e.data if isinstance(e.data, dict) else {}
    err = data.get("err")
    if err is not None and str(err) not in e.message:
        parts.append(f"err={err}")
    code = _custom_code(err) if err is not None else None
    if code is None:
        m = re.search(r"custom program error: 0x([0-9a-fA-F]+)", e.message + " ".join(data.get("logs") or []))
        code = int(m.group(1), 16) if m else None
    if code is not None:
        parts.append(f"Custom({code}) {errors.CODES.get(code, '')}".rstrip())
    logs = [l for l in (data.get("logs") or []) if "failed" in l or "Error" in l or "error" in l]
    if logs:
        parts.append(" | ".join(logs[-3:]))
    return f"[{e.code}] " + "; ".join(parts)


# -- the backend ---------------------------------------------------------------------------

class RemoteBackend(Backend):
    name = "remote"

    def __init__(self, url: str, ws_url: str | None = None, program_id: Pubkey = PROGRAM_ID,
                 payer: Keypair | None = None, cu_limit: int = MAX_CU, request_timeout: float = 30.0,
                 ephemeral: bool = False):
        """`ephemeral`: the endpoint is a MagicBlock ER holding delegated sessions; close_session then
        ends the session there (commit + undelegate) instead of deleting accounts.

        On a base chain (not ephemeral) a transaction's outcome is its execution: each one is
        awaited until the node reports it processed, so the next one (simulated against the
        processed state) sees what it did. The project's base node executes at sendTransaction and
        answers at once; a real validator (solana-test-validator) executes in its banking stage a
        little later, and an upload's chunks would otherwise be simulated before their account
        exists. The ER executes at sendTransaction."""
        self.url = url
        self.ephemeral = ephemeral
        self.ws_url = ws_url or _ws_from_http(url)
        self.program_id = program_id
        self.payer = payer or Keypair()  # fees are zero on the ER; on a base chain fund it first
        self.cu_limit = cu_limit
        self.timeout = request_timeout
        self._model_cache: dict[int, tuple[int, int]] = {}
        self._blockhash: tuple[Hash, float] | None = None
        self._lanes: dict[str, asyncio.Queue] = {}
        self._workers: list[asyncio.Task] = []
        self._nonce = 0
        self._slots: dict[tuple[int, Pubkey], int] = {}
        self._plans: dict[int, list[int]] = {}
        # model_id -> the steps' CU measured one per transaction, until a packed frame has shown the
        # fixed cost of a transaction and the plan has been redone with it (steps.tx_overhead)
        self._step_cu: dict[int, list[int]] = {}
        self.last_frame_txs: list[TxOutcome] = []  # model_id -> step counts of a frame's transactions
        self._subs: dict[Pubkey, list[Callable[[bytes, int], None]]] = {}
        self._last_data: dict[Pubkey, bytes] = {}  # last data delivered per subscribed account
        self._ws_wakeup: asyncio.Event | None = None
        self._ws_task: asyncio.Task | None = None
        self.reconnects = 0
        self._closed = False
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="remote-backend", daemon=True)
        self._thread.start()
        self._notes: queue.Queue = queue.Queue()
        self._notify_thread = threading.Thread(target=self._notifier, name="remote-notify", daemon=True)
        self._notify_thread.start()
        self._client: AsyncClient = self._call(self._make_client())

    async def _make_client(self) -> AsyncClient:
        # No transport-level retries: a resent sendTransaction would come back "already processed".
        # Reads are retried once by _rpc instead.
        return AsyncClient(self.url, timeout=self.timeout, http2=False, max_transport_retries=0)

    # -- plumbing --------------------------------------------------------------------------
    def _call(self, coro, timeout: float | None = None):
        fut = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return fut.result(timeout if timeout is not None else self.timeout * 3)

    async def _rpc(self, method: str, params: list):
        tries = 1 if method == "sendTransaction" else 2  # a stale keep-alive connection: read again
        for attempt in range(tries):
            try:
                return await self._client.send_rpc_request(JsonRpcRequest(method=method, params=params), object)
            except SolanaJsonRpcError:
                raise
            except (SolanaRpcException, OSError) as e:
                if attempt + 1 == tries:
                    raise BackendError(f"{self.url}: {method}: {e.__class__.__name__}: {e}") from e

    def rpc(self, method: str, params: list | None = None):
        """One raw JSON-RPC call (blocking); errors as BackendError with the node's message."""
        async def go():
            try:
                return await self._rpc(method, params or [])
            except SolanaJsonRpcError as e:
                raise BackendError(f"{method}: {describe_rpc_error(e)}") from e
        return self._call(go())

    async def _latest_blockhash(self) -> Hash:
        now = time.monotonic()
        if self._blockhash is None or now - self._blockhash[1] > BLOCKHASH_REFRESH_S:
            res = await self._rpc("getLatestBlockhash", [{"commitment": "processed"}])
            self._blockhash = (Hash.from_string(res["value"]["blockhash"]), now)
        return self._blockhash[0]

    # -- accounts --------------------------------------------------------------------------
    async def _get_account(self, key: Pubkey) -> bytes | None:
        res = await self._rpc("getAccountInfo", [str(key), {"encoding": "base64", "commitment": "processed"}])
        value = res["value"]
        if value is None or value["lamports"] == 0:
            return None
        return base64.b64decode(value["data"][0])

    def account_data(self, key: Pubkey) -> bytes | None:
        """An account's data, None when it does not exist (or holds no lamports: closed)."""
        async def go():
            try:
                return await self._get_account(key)
            except SolanaJsonRpcError as e:
                raise BackendError(f"getAccountInfo: {describe_rpc_error(e)}") from e
        return self._call(go())

    def account_info(self, key: Pubkey) -> dict | None:
        """The full account (lamports, owner, data) as the node reports it."""
        res = self.rpc("getAccountInfo", [str(key), {"encoding": "base64", "commitment": "processed"}])
        v = res["value"]
        if v is None:
            return None
        return {"lamports": v["lamports"], "owner": Pubkey.from_string(v["owner"]),
                "data": base64.b64decode(v["data"][0]), "executable": v["executable"]}

    # -- transactions ----------------------------------------------------------------------
    def send_async(self, ixs: list[Instruction], signers: list[Keypair] = (), lane: str | None = None,
                   fetch_cu: bool = False, cu_limit: int | None = None,
                   await_processed: bool = True) -> concurrent.futures.Future:
        """Queue a transaction; returns a Future[TxOutcome] at once. The backend's payer pays the fee
        and `signers` co-sign. Transactions of one lane (default: the first signer, else the payer)
        go out in order; lanes run concurrently. `await_processed=False`: on a base chain the
        outcome comes once the node accepted it, not once it executed (send_pipelined)."""
        signers = [k for k in signers if k.pubkey() != self.payer.pubkey()]
        lane = lane or str((signers[0] if signers else self.payer).pubkey())
        out: concurrent.futures.Future = concurrent.futures.Future()

        def enqueue():
            q = self._lanes.get(lane)
            if q is None:
                q = self._lanes[lane] = asyncio.Queue()
                self._workers.append(self._loop.create_task(self._lane_worker(q)))
            q.put_nowait((ixs, [self.payer, *signers], fetch_cu, cu_limit or self.cu_limit, await_processed, out,
                          time.perf_counter()))
        self._loop.call_soon_threadsafe(enqueue)
        return out

    def send(self, ixs: list[Instruction], signers: list[Keypair] = (), cu_limit: int | None = None,
             fetch_cu: bool = False, lane: str | None = None) -> TxOutcome:
        """One transaction, blocking (the shape onchain.sdk.upload expects of a chain)."""
        fut = self.send_async(ixs, signers, lane=lane, fetch_cu=fetch_cu, cu_limit=cu_limit)
        return fut.result(self.timeout * 3)

    def send_pipelined(self, txs: list[tuple[list[Instruction], list[Keypair]]],
                       cu_limit: int | None = None) -> list[TxOutcome]:
        """Transactions that do not depend on one another (an upload's chunks), sent back to back,
        then awaited together until the node has executed each: on a real validator one at a time
        would wait for a slot (~0.44 s) each. Outcomes in order."""
        futs = [self.send_async(ixs, signers, cu_limit=cu_limit, await_processed=False) for ixs, signers in txs]
        outs = [f.result(self.timeout * 3) for f in futs]
        if self.ephemeral:
            return outs
        return self._call(self._await_all_processed(outs), timeout=self.timeout * 3 + 5)

    async def _await_all_processed(self, outs: list[TxOutcome], timeout: float = 60.0) -> list[TxOutcome]:
        """The outcomes, each accepted one turned into a failure if it failed or never executed."""
        errs = await self._await_processed([o.signature for o in outs if o.ok], timeout)
        return [dataclasses.replace(o, ok=False, error=errs[o.signature]) if o.ok and errs[o.signature] else o
                for o in outs]

    async def _lane_worker(self, q: asyncio.Queue):
        while True:
            ixs, signers, fetch_cu, cu_limit, await_processed, out, t0 = await q.get()
            try:
                res = await self._send_now(ixs, signers, fetch_cu, cu_limit, t0, await_processed)
            except asyncio.CancelledError:
                if not out.done():
                    out.set_exception(BackendError("backend closed"))
                raise
            except Exception as e:  # transport failure: hand it to the caller
                if not out.done():
                    out.set_exception(e if isinstance(e, BackendError) else BackendError(f"{self.url}: {e}"))
                continue
            if not out.done():
                out.set_result(res)

    async def _send_now(self, ixs, signers, fetch_cu: bool, cu_limit: int, t0: float,
                        await_processed: bool = True) -> TxOutcome:
        if self._closed:
            raise BackendError("backend closed")
        # The compute-unit limit doubles as a nonce: identical instructions (a frame's step transactions,
        # a repeated input) under one blockhash would otherwise share a signature and be dropped as
        # already processed. Frames are protected from double application by expected_frame, not this.
        self._nonce = (self._nonce + 1) % 4096
        ixs = [set_compute_unit_limit(cu_limit - self._nonce), *ixs]
        error: SolanaJsonRpcError | None = None
        for attempt in range(2):
            bh = await self._latest_blockhash()
            tx = Transaction(signers, Message.new_with_blockhash(ixs, signers[0].pubkey(), bh), bh)
            sig = str(tx.signatures[0])
            raw = base64.b64encode(bytes(tx)).decode()
            try:
                await self._rpc("sendTransaction", [raw, {"encoding": "base64", "skipPreflight": False,
                                                          "preflightCommitment": "processed"}])
                break
            except SolanaJsonRpcError as e:
                # A restarted node (an ER started afresh) does not know the cached blockhash; a
                # transaction refused for that never ran, so fetch a new one and send it again.
                if attempt == 0 and "Blockhash not found" in e.message:
                    self._blockhash = None
                    continue
                error = e
                break
        if error is not None:
            e = error
            data = e.data if isinstance(e.data, dict) else {}
            if "already been processed" in e.message:
                # Our own resend (the HTTP client retries once on a dropped connection) or a
                # duplicate: the first copy's status is the answer.
                st = (await self._rpc("getSignatureStatuses", [[sig]]))["value"][0]
                if st is not None:
                    err = st.get("err")
                    return TxOutcome(err is None, sig, 0, time.perf_counter() - t0,
                                     None if err is None else f"err={err}")
            return TxOutcome(False, sig, int(data.get("unitsConsumed") or 0), time.perf_counter() - t0,
                             describe_rpc_error(e), tuple(data.get("logs") or ()))
        if not self.ephemeral and await_processed:
            err = (await self._await_processed([sig], 30.0))[sig]
            if err is not None:
                return TxOutcome(False, sig, 0, time.perf_counter() - t0, str(err))
        cu, logs = 0, ()
        if fetch_cu:
            cu, logs, err = await self._tx_meta(sig)
            if err is not None:
                return TxOutcome(False, sig, cu, time.perf_counter() - t0, f"err={err}", logs)
        return TxOutcome(True, sig, cu, time.perf_counter() - t0, None, logs)

    async def _await_processed(self, sigs: list[str], timeout: float) -> dict[str, str | None]:
        """Poll the signatures until the node has executed each: None for one that succeeded, else
        its error (err=..., or that it was not processed within `timeout` s)."""
        out: dict[str, str | None] = {}
        waiting = list(sigs)
        deadline = time.monotonic() + timeout
        delay = 0.002
        while waiting:
            batch = waiting[:256]
            for sig, st in zip(batch, (await self._rpc("getSignatureStatuses", [batch]))["value"]):
                if st is not None:
                    out[sig] = None if st.get("err") is None else f"err={st['err']}"
            waiting = [sig for sig in waiting if sig not in out]
            if waiting and time.monotonic() > deadline:
                out.update({sig: f"transaction {sig} not processed within {timeout:.0f} s" for sig in waiting})
                break
            if waiting:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.05)
        return out

    async def _tx_meta(self, sig: str, tries: int = 50):
        for _ in range(tries):
            res = await self._rpc("getTransaction", [sig, {"encoding": "json", "commitment": "confirmed",
                                                           "maxSupportedTransactionVersion": 0}])
            if res:
                meta = res.get("meta") or {}
                return int(meta.get("computeUnitsConsumed") or 0), tuple(meta.get("logMessages") or ()), \
                    meta.get("err")
            await asyncio.sleep(0.02)
        return 0, (), None

    def ensure_funded(self, key: Pubkey, lamports: int) -> None:
        """Top `key` up with `lamports` from the faucet unless it holds a tenth of that already."""
        info = self.account_info(key)
        if info is None or info["lamports"] < lamports // 10:
            self.airdrop(key, lamports)

    def airdrop(self, key: Pubkey, lamports: int) -> None:
        """Fund a key (base chains with a faucet; the ER's requestAirdrop funds nothing)."""
        sig = self.rpc("requestAirdrop", [str(key), lamports])
        for _ in range(200):
            st = self.rpc("getSignatureStatuses", [[sig]])["value"][0]
            if st is not None:
                if st.get("err") is not None:
                    raise BackendError(f"airdrop to {key} failed: {st['err']}")
                return
            time.sleep(0.02)
        raise BackendError(f"airdrop to {key} not confirmed")

    # -- models ----------------------------------------------------------------------------
    def upload_model(self, cart_or_dir, model_id: int, authority: Keypair,
                     progress: Callable[[int], None] | None = None) -> upload.UploadReport:
        """init_manifest + upload_weights + finalize_weights through the real instructions (resumable)."""
        manifest, weights = upload.load_cartridge_bytes(cart_or_dir)
        return upload.upload(self, authority, model_id, manifest, weights, progress)

    def manifest(self, model_id: int) -> A.Manifest | None:
        return A.decode_manifest(self.account_data(P.manifest(self.program_id, model_id)) or b"")

    def _model(self, model_id: int) -> tuple[int, int]:
        """(shard count, steps per frame) of a model, cached: a finalized model never changes."""
        if model_id not in self._model_cache:
            man = self.manifest(model_id)
            if man is None:
                raise BackendError(f"model {model_id}: no manifest at {P.manifest(self.program_id, model_id)}")
            self._model_cache[model_id] = (man.shard_count, _steps_from_manifest(man.manifest))
        return self._model_cache[model_id]

    # -- Backend: sessions -------------------------------------------------------------------
    def session_accounts(self, session_id: int) -> dict[str, Pubkey]:
        return session_addresses(self.program_id, session_id)

    def session(self, session_id: int) -> SessionView | None:
        return A.decode_session(self.account_data(P.session(self.program_id, session_id)) or b"")

    def create_session(self, session_id: int, model_id: int, creator: Keypair, fighters=None,
                       validator: Pubkey | None = None, crank_key: Pubkey | None = None,
                       invite: Pubkey | None = None, stage: int = 32, characters: tuple[int, int] = (2, 2)) -> TxOutcome:
        """`validator`: the ER identity the session may later be delegated to (fixed now);
        `crank_key`: who may crank besides the players (default: this backend's payer)."""
        return create_session_grown(self, session_id, model_id, creator, fighters, validator, crank_key, invite,
                                    stage, characters)

    def join_session(self, session_id: int, player: Keypair) -> TxOutcome:
        """Take player 2's slot. A session whose creator is still growing its HiddenState (several
        transactions; about a slot each on a real validator) answers HiddenNotReady: wait for it."""
        deadline = time.monotonic() + self.timeout
        while True:
            out = self.send([I.join_session(self.program_id, player.pubkey(), session_id)], [player])
            if out.ok or errors.custom_code(out.error) != errors.HiddenNotReady or time.monotonic() > deadline:
                return out
            time.sleep(0.25)

    def _player_slot(self, session_id: int, player: Pubkey) -> int:
        key = (session_id, player)
        if key not in self._slots:
            view = self.session(session_id)
            if view is None:
                return 0  # the program rejects it with its own error
            slot = 1 if view.players[1] == player else 0
            if view.status != 0:  # players are fixed once the session is active
                self._slots[key] = slot
            return slot
        return self._slots[key]

    def submit_input_async(self, session_id: int, player: Keypair, frame: int,
                           ctrl: ControllerInput) -> concurrent.futures.Future:
        """Non-blocking submit_input for a game loop: returns a Future[TxOutcome]."""
        slot = self._player_slot(session_id, player.pubkey())
        ix = I.submit_input(self.program_id, player.pubkey(), session_id, slot, frame, ctrl)
        return self.send_async([ix], [player])

    def submit_input(self, session_id: int, player: Keypair, frame: int, ctrl: ControllerInput) -> TxOutcome:
        return self.submit_input_async(session_id, player, frame, ctrl).result(self.timeout * 3)

    def run_inference(self, session_id: int, expected_frame: int, model_id: int | None = None,
                      fetch_cu: bool = False) -> TxOutcome:
        """Advance exactly one frame. The frame's steps go out as the transactions of the model's plan,
        cached per model: the first frame runs one step per transaction and reads each one's compute
        units, then consecutive steps are packed into transactions of at most steps.PACK_BUDGET CU
        (as the embedded backend does; from the second packed frame on, the fixed cost of a
        transaction that the first packed frame showed is counted once per transaction). Should a
        transaction still run out of compute units (which changes nothing on chain), its share is
        split in two and retried from the same step. Every
        transaction carries `expected_frame`, so a frame is never applied twice (StaleFrame)."""
        if model_id is None:
            view = self.session(session_id)
            if view is None:
                return self.send([I.run_inference_for(self.program_id, self.payer.pubkey(), session_id, 0, 1,
                                                      expected_frame)])
            model_id = view.model_id
        shards, total = self._model(model_id)

        def tx(count: int, with_cu: bool) -> TxOutcome:
            ix = I.run_inference_for(self.program_id, self.payer.pubkey(), session_id, model_id, shards,
                                     expected_frame, count)
            return self.send([ix], lane="crank", fetch_cu=with_cu)

        plan = self._plans.get(model_id)
        outs: list[TxOutcome] = []
        if plan is None:  # measure: one step per transaction
            hid = A.decode_hidden(self.account_data(P.hidden(self.program_id, session_id)) or b"")
            start = hid.next_step if hid is not None else 0
            for _ in range(max(1, total - start)):
                outs.append(tx(1, True))
                if not outs[-1].ok:
                    break
            cus = [o.cu for o in outs]
            if start == 0 and len(outs) == total and all(o.ok for o in outs):
                self._plans[model_id] = pack_steps(cus) if all(cus) else [total]
                if all(cus):
                    self._step_cu[model_id] = cus
            self.last_frame_txs = outs
            return combine(outs)
        learn = model_id in self._step_cu  # this frame's CU give the fixed cost of a transaction
        i = 0
        while i < len(plan):
            out = tx(plan[i] if i < len(plan) - 1 else I.ALL_STEPS, fetch_cu or learn)
            if not out.ok and any(s in (out.error or "") for s in OUT_OF_CU) and plan[i] > 1:
                plan[i:i + 1] = [(plan[i] + 1) // 2, plan[i] // 2]
                continue
            outs.append(out)
            if not out.ok:
                break
            i += 1
        if learn and len(outs) == len(plan) and all(o.ok and o.cu for o in outs):
            cus = self._step_cu.pop(model_id)
            overhead = tx_overhead(cus, plan, [o.cu for o in outs])
            if overhead is not None:
                self._plans[model_id] = pack_steps(cus, overhead=overhead)
        self.last_frame_txs = outs  # per-transaction outcomes of this frame (benchmarks)
        return combine(outs)

    def close_session(self, session_id: int, signer: Keypair) -> TxOutcome:
        """On a base chain: delete the accounts and return the rent to the creator. In an ER: end the
        session and hand it back to the base (end_session); close it there afterwards."""
        if self.ephemeral:
            return self.end_session(session_id, signer)
        view = self.session(session_id)
        creator = view.players[0] if view is not None else signer.pubkey()
        model_id = view.model_id if view is not None else 0
        return self.send([I.close_session(self.program_id, signer.pubkey(), creator, session_id, model_id)],
                         [signer])

    # -- Ephemeral Rollup (onchain/sdk/delegation.py) -------------------------------------------
    def identity(self) -> Pubkey:
        """The node's identity (for an ER: the validator to delegate to)."""
        return Pubkey.from_string(self.rpc("getIdentity")["identity"])

    def delegate_session(self, session_id: int, player: Keypair) -> TxOutcome:
        """Base chain: hand a fresh session's accounts to the ER validator its creator named."""
        return self.send([D.delegate_session(self.program_id, player.pubkey(), session_id)], [player])

    def wait_delegated(self, session_id: int, timeout: float = 10.0) -> bool:
        """ER: wait until the ER has cloned the delegated session (it then shows this program as owner)."""
        keys = list(P.session_accounts(self.program_id, session_id))
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            infos = [self.account_info(k) for k in keys]
            if all(i is not None and i["owner"] == self.program_id for i in infos):
                return True
            time.sleep(0.05)
        return False

    def start_in_er(self, session_id: int, timeout: float = 10.0) -> TxOutcome:
        """ER: after delegate_session, wait for the clone and write HiddenState's header (init_hidden)."""
        if not self.wait_delegated(session_id, timeout):
            raise BackendError(f"session {session_id} not delegated to {self.url} after {timeout:.0f} s")
        out = self.send_cloning_program([D.init_hidden(self.program_id, session_id)])
        if out.ok:
            # Have the ER clone the model's (read-only) accounts now rather than on the first frame.
            view = self.session(session_id)
            shards, _ = self._model(view.model_id)
            for k in range(shards):
                self.account_info(P.weights(self.program_id, view.model_id, k))
        return out

    def send_cloning_program(self, ixs: list[Instruction], signers: list[Keypair] = (), tries: int = 10) -> TxOutcome:
        """Send, tolerating the ER 0.8.3 quirk that the transaction which makes it clone a program
        fails with "Unsupported program id" (NOTES §4): read the program first, retry briefly."""
        self.account_info(self.program_id)
        for _ in range(tries):
            out = self.send(ixs, signers)
            if out.ok or "Unsupported program id" not in (out.error or ""):
                return out
            time.sleep(0.2)
        return out

    def commit_session(self, session_id: int) -> TxOutcome:
        """ER: commit SessionState and InputBuffer to the base chain now."""
        return self.send([D.commit_session(self.program_id, self.payer.pubkey(), session_id)])

    def end_session(self, session_id: int, signer: Keypair) -> TxOutcome:
        """ER: end the session, commit it and give it back to the base chain."""
        return self.send([D.end_session(self.program_id, signer.pubkey(), self.payer.pubkey(), session_id)], [signer])

    def schedule_crank(self, session_id: int, player: Keypair, interval_ms: int, iterations: int,
                       step_count: int = I.ALL_STEPS) -> TxOutcome:
        """ER: have the validator's task scheduler crank the session (schedule_crank.rs): run_inference
        of the frame in flight every `interval_ms` ms, `iterations` times. `player` must be a player."""
        view = self.session(session_id)
        if view is None:
            raise BackendError(f"session {session_id} not found at {self.url}")
        shards, _ = self._model(view.model_id)
        ix = D.schedule_crank(self.program_id, player.pubkey(), session_id, view.model_id, shards,
                              view.validator, interval_ms, iterations, step_count)
        return self.send([ix], [player])

    def cancel_crank(self, session_id: int, signer: Keypair) -> TxOutcome:
        """ER: stop the session's scheduled crank (cancel_crank.rs)."""
        return self.send([D.cancel_crank(self.program_id, signer.pubkey(), session_id)], [signer])

    def wait_owner(self, key: Pubkey, owner: Pubkey, timeout: float = 10.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            info = self.account_info(key)
            if info is not None and info["owner"] == owner:
                return True
            time.sleep(0.05)
        return False

    # -- subscriptions ---------------------------------------------------------------------
    def subscribe_account(self, key: Pubkey, callback: Callable[[bytes, int], None]) -> Callable[[], None]:
        """Call `callback(data, slot)` on every change of `key` (a notification repeating the data
        already delivered is dropped), from the backend's notification thread
        (one thread, in arrival order; a callback may call the backend's blocking methods)."""
        def add():
            self._subs.setdefault(key, []).append(callback)
            if self._ws_task is None:
                self._ws_wakeup = asyncio.Event()
                self._ws_task = self._loop.create_task(self._ws_main())
            self._ws_wakeup.set()
        self._loop.call_soon_threadsafe(add)

        def unsubscribe():
            def rm():
                cbs = self._subs.get(key, [])
                if callback in cbs:
                    cbs.remove(callback)
                if not cbs:
                    self._subs.pop(key, None)
                    if self._ws_wakeup:
                        self._ws_wakeup.set()
            self._loop.call_soon_threadsafe(rm)
        return unsubscribe

    def subscribe_session(self, session_id: int, callback: Callable[[SessionView], None]) -> Callable[[], None]:
        def on_data(data: bytes, slot: int):
            view = A.decode_session(data)
            if view is not None:
                callback(view)
        return self.subscribe_account(self.session_accounts(session_id)["session"], on_data)

    async def _ws_main(self):
        """Keep one WebSocket open while anyone subscribes; renew everything after a drop."""
        backoff = BACKOFF_START_S
        while not self._closed:
            if not self._subs:
                self._ws_wakeup.clear()
                await self._ws_wakeup.wait()
                continue
            ws = SolanaWsClient(self.ws_url, request_timeout=self.timeout, ping_interval=5, ping_timeout=10)
            recv = None
            try:
                await ws.connect()
                live: dict[Pubkey, object] = {}
                by_id: dict[int, Pubkey] = {}
                while not self._closed:
                    # Reconcile subscriptions with what callers want.
                    for key in [k for k in self._subs if k not in live]:
                        sub = await ws.account_subscribe(pubkey=key, encoding="base64", commitment="processed")
                        live[key], by_id[sub.subscription_id] = sub, key
                        self._loop.create_task(self._deliver_current(key))
                    for key in [k for k in live if k not in self._subs]:
                        sub = live.pop(key)
                        by_id.pop(sub.subscription_id, None)
                        await ws.unsubscribe(sub)
                    backoff = BACKOFF_START_S
                    self._ws_wakeup.clear()
                    if recv is None:
                        recv = asyncio.ensure_future(ws.recv())
                        recv.add_done_callback(_consume)
                    wake = asyncio.ensure_future(self._ws_wakeup.wait())
                    done, _ = await asyncio.wait({recv, wake}, return_when=asyncio.FIRST_COMPLETED)
                    wake.cancel()
                    if recv in done:
                        note, recv = recv.result(), None
                        if isinstance(note, AccountNotification):
                            key = by_id.get(note.subscription)
                            if key is not None:
                                self._dispatch(key, bytes(note.result.value.data), note.result.context.slot)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # connection refused, dropped, protocol error: reconnect
                if self._closed:
                    break
                self.reconnects += 1
                log.warning("websocket %s: %s: %s; reconnecting in %.1f s", self.ws_url, e.__class__.__name__, e,
                            backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)
            finally:
                if recv is not None:
                    recv.cancel()
                try:
                    await asyncio.wait_for(ws.close(), 1.0)
                except Exception:
                    pass

    async def _deliver_current(self, key: Pubkey):
        try:
            data = await self._get_account(key)
        except Exception as e:
            log.warning("fetching %s after subscribe: %s", key, e)
            return
        if data is not None:
            self._dispatch(key, data, -1)

    def _dispatch(self, key: Pubkey, data: bytes, slot: int):
        # MagicBlock's ER (0.8.3) notifies an account's subscribers for every transaction that merely
        # reads it: each submit_input (SessionState read-only) re-sends the unchanged SessionState, so a
        # subscriber got about three notifications per frame for one change. Only changes go on to the
        # callbacks (a fetch after (re)subscribing, slot -1, always does).
        if slot >= 0 and self._last_data.get(key) == data:
            return
        self._last_data[key] = data
        self._notes.put((list(self._subs.get(key, [])), key, data, slot))

    def _notifier(self):
        """Runs the callbacks off the event loop, in arrival order, so they may call the backend."""
        while True:
            item = self._notes.get()
            if item is None:
                return
            cbs, key, data, slot = item
            for cb in cbs:
                try:
                    cb(data, slot)
                except Exception:  # a subscriber's bug must not stop the others
                    log.exception("subscriber of %s failed", key)

    # -- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        if self._closed:
            return
        self._closed = True

        async def shutdown():
            if self._ws_task is not None:  # let it leave its loop and close the socket itself
                self._ws_wakeup.set()
                await asyncio.wait([self._ws_task], timeout=3)
            mine = [t for t in (self._ws_task, *self._workers) if t is not None and not t.done()]
            for t in mine:
                t.cancel()
            if mine:
                await asyncio.wait(mine, timeout=2)
            await self._client.close()
            # Let the WebSocket library's own reader/closer tasks finish before the loop stops.
            rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            if rest:
                await asyncio.wait(rest, timeout=1)
            for t in rest:
                t.cancel()
            if rest:
                await asyncio.wait(rest, timeout=1)
        self._notes.put(None)
        try:
            self._call(shutdown(), timeout=10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            if not self._thread.is_alive():
                self._loop.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _consume(fut: asyncio.Future) -> None:
    """Mark a background future's exception as seen (the reconnect loop handles it)."""
    if not fut.cancelled():
        fut.exception()


def _ws_from_http(url: str) -> str:
    """Solana's convention: the PubSub port is the RPC port + 1."""
    scheme, rest = url.split("://", 1)
    host, _, tail = rest.partition("/")
    if ":" in host:
        h, p = host.rsplit(":", 1)
        host = f"{h}:{int(p) + 1}"
    return ("wss" if scheme == "https" else "ws") + "://" + host + ("/" + tail if tail else "")
