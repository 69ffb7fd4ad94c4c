"""The project's own base chain: Solana JSON-RPC (HTTP, PORT) and PubSub (WebSocket, PORT+1) over an
in-process LiteSVM (solders), for machines without `solana-test-validator`.

It serves what MagicBlock's ephemeral validator 0.8.3 and the SDK call (NOTES §4): accounts (base64,
base64+zstd, base58), balances, blockhashes, slots and blocks, sending and simulating transactions,
signature statuses and transactions, and the subscriptions account/program/signature/slot.

One transaction = one slot: every transaction opens a new slot before it runs (and the slot also moves
every 400 ms), so each account update reaches subscribers in a slot newer than anything read before
it; the ER ignores updates that are not newer than its clone. Blockhashes rotate with the idle tick and stay valid for 150 rotations (~60 s).

    python -m onchain.localnet.basenode --port 8899 [--bpf-program ID FILE.so]... [--account ID FILE.json]...
                               [--dumps DIR] [--ledger-log FILE]
`--dumps` loads MagicBlock's local-dumps folder the way its mbTestValidator.js does: every `<ID>.so`
as a program and every `<ID>.json` as an account.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import dataclasses
import hashlib
import json
import logging
import signal
import time
from pathlib import Path
from typing import Any

import base58
import zstandard
from aiohttp import WSMsgType, web
from solders.account import Account
from solders.litesvm import LiteSVM
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

log = logging.getLogger("basenode")

CLOCK_SYSVAR = Pubkey.from_string("SysvarC1ock11111111111111111111111111111111")
SLOT_TICK_S = 0.4
BLOCKHASH_VALID_ROTATIONS = 150
TX_RECORDS_KEPT = 100_000
API_VERSION = "2.2.0"


class RpcError(Exception):
    def __init__(self, code: int, message: str, data: Any = None):
        super().__init__(message)
        self.code, self.message, self.data = code, message, data


@dataclasses.dataclass
class TxRecord:
    signature: str
    slot: int
    block_time: int
    raw: bytes
    err: Any  # TransactionError as JSON, None on success
    logs: list[str]
    cu: int
    fee: int
    pre_balances: list[int]
    post_balances: list[int]
    inner: list  # per instruction: [(program_id_index, accounts, data, stack_height)] of its CPIs


def load_account_json(path: Path) -> tuple[Pubkey, Account]:
    """A `solana account --output json` file (the format of MagicBlock's local-dumps)."""
    doc = json.loads(path.read_text())
    acc = doc["account"]
    data, enc = acc["data"]
    raw = base64.b64decode(data) if enc == "base64" else base58.b58decode(data)
    rent_epoch = min(int(acc.get("rentEpoch", 0)), 2**64 - 1)
    return Pubkey.from_string(doc["pubkey"]), Account(int(acc["lamports"]), raw, Pubkey.from_string(acc["owner"]),
                                                      bool(acc["executable"]), rent_epoch)


def encode_data(data: bytes, encoding: str, data_slice: dict | None):
    if data_slice:
        off, n = int(data_slice.get("offset", 0)), int(data_slice.get("length", 0))
        data = data[off:off + n]
    if encoding == "base58":
        if len(data) > 128:
            raise RpcError(-32600, "Encoded binary (base 58) data should be less than 128 bytes, "
                                   "please use Base64 encoding.")
        return [base58.b58encode(data).decode(), "base58"]
    if encoding == "base64+zstd":
        return [base64.b64encode(zstandard.ZstdCompressor().compress(data)).decode(), "base64+zstd"]
    return [base64.b64encode(data).decode(), "base64"]  # base64, jsonParsed (no parsers here), default


def ui_account(acc: Account | None, encoding: str = "base64", data_slice: dict | None = None):
    if acc is None:
        return None
    return {"data": encode_data(bytes(acc.data), encoding, data_slice), "executable": acc.executable,
            "lamports": acc.lamports, "owner": str(acc.owner), "rentEpoch": acc.rent_epoch,
            "space": len(acc.data)}


def _cpi(ix) -> tuple[int, list[int], bytes, int]:
    """One inner instruction of LiteSVM's metadata as (program_id_index, accounts, data, stack_height)."""
    c = ix.instruction()
    return c.program_id_index, list(bytes(c.accounts)), bytes(c.data), ix.stack_height()


class BaseChain:
    """LiteSVM plus the bookkeeping a real node has: slots, blockhash ages, transaction records."""

    def __init__(self):
        self.svm = LiteSVM().with_blockhash_check(False).with_transaction_history(0)
        self.slot = self.svm.get_clock().slot
        self.block_height = 0
        self.genesis_hash = str(self.svm.latest_blockhash())
        self.blockhashes: collections.OrderedDict[str, int] = collections.OrderedDict()
        self._remember_blockhash()
        self.txs: collections.OrderedDict[str, TxRecord] = collections.OrderedDict()
        self.slot_sigs: collections.OrderedDict[int, list[str]] = collections.OrderedDict()
        self._set_clock()

    # -- time ---------------------------------------------------------------------------
    def _remember_blockhash(self):
        self.blockhashes[str(self.svm.latest_blockhash())] = self.block_height + BLOCKHASH_VALID_ROTATIONS
        while len(self.blockhashes) > BLOCKHASH_VALID_ROTATIONS:
            self.blockhashes.popitem(last=False)

    def _set_clock(self):
        c = self.svm.get_clock()
        c.slot = self.slot
        c.unix_timestamp = int(time.time())
        self.svm.set_clock(c)

    def advance_slot(self, rotate_blockhash: bool = False):
        self.slot += 1
        self.block_height += 1
        self.svm.warp_to_slot(self.slot)
        self._set_clock()
        if rotate_blockhash:
            self.svm.expire_blockhash()
            self._remember_blockhash()

    @property
    def latest_blockhash(self) -> tuple[str, int]:
        h = next(reversed(self.blockhashes))
        return h, self.blockhashes[h]

    # -- transactions -----------------------------------------------------------------------
    def process(self, tx: VersionedTransaction, simulate: bool = False) -> TxRecord:
        sig = str(tx.signatures[0])
        if not simulate and sig in self.txs:
            raise RpcError(-32002, "Transaction simulation failed: This transaction has already been processed",
                           {"err": "AlreadyProcessed", "logs": []})
        if str(tx.message.recent_blockhash) not in self.blockhashes:
            raise RpcError(-32002, "Transaction simulation failed: Blockhash not found",
                           {"err": "BlockhashNotFound", "logs": []})
        keys = list(tx.message.account_keys)
        pre = [self.svm.get_balance(k) or 0 for k in keys]
        res = self.svm.simulate_transaction(tx) if simulate else self.svm.send_transaction(tx)
        failed = hasattr(res, "err")
        err = json.loads(res.to_json()).get("err") if failed else None  # the TransactionError as JSON
        meta = res.meta() if failed or simulate else res  # failures and simulations wrap the metadata
        post = [self.svm.get_balance(k) or 0 for k in keys]
        inner = [[_cpi(ix) for ix in per_ix] for per_ix in meta.inner_instructions()]
        rec = TxRecord(sig, self.slot, int(time.time()), bytes(tx), err, list(meta.logs()),
                       int(meta.compute_units_consumed()), int(meta.fee()), pre, post, inner)
        if failed and not simulate:  # what a validator's log would show; the ER's commits land here
            progs = sorted({str(keys[ix.program_id_index])[:8] for ix in tx.message.instructions})
            log.info("transaction %s (programs %s, %d bytes) failed: %s | %s", sig[:16], ",".join(progs), len(bytes(tx)),
                     err, " / ".join(rec.logs[-4:]))
        if not simulate:
            self.txs[sig] = rec
            self.slot_sigs.setdefault(self.slot, []).append(sig)
            while len(self.txs) > TX_RECORDS_KEPT:
                self.txs.popitem(last=False)
            while len(self.slot_sigs) > 1000:
                self.slot_sigs.popitem(last=False)
        return rec


class BaseNode:
    """The RPC and PubSub servers around one BaseChain. All LiteSVM calls run on the event loop thread."""

    def __init__(self, chain: BaseChain, port: int):
        self.chain = chain
        self.port = port
        self.subs: dict[int, tuple[str, Any, web.WebSocketResponse, dict]] = {}
        self.next_sub = 1
        self.unknown_methods: collections.Counter[str] = collections.Counter()
        self.sockets: set[web.WebSocketResponse] = set()
        self._last_activity = time.monotonic()

    # -- dispatch ---------------------------------------------------------------------------
    def ctx(self) -> dict:
        return {"slot": self.chain.slot, "apiVersion": API_VERSION}

    async def handle_http(self, request: web.Request) -> web.Response:
        if request.method == "GET":
            return web.Response(text="ok")
        try:
            body = await request.json(loads=json.loads)
        except Exception:
            return web.json_response({"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"},
                                      "id": None})
        if isinstance(body, list):
            return web.json_response([self.call(req) for req in body])
        return web.json_response(self.call(body))

    def call(self, req: dict) -> dict:
        rid = req.get("id")
        method = req.get("method", "")
        params = req.get("params") or []
        fn = getattr(self, "rpc_" + method, None)
        log.debug("http %s %s", method, json.dumps(params)[:160])
        try:
            if fn is None:
                self.unknown_methods[method] += 1
                log.warning("unsupported method %s %s", method, json.dumps(params)[:200])
                raise RpcError(-32601, "Method not found")
            return {"jsonrpc": "2.0", "result": fn(*params), "id": rid}
        except RpcError as e:
            err = {"code": e.code, "message": e.message}
            if e.data is not None:
                err["data"] = e.data
            return {"jsonrpc": "2.0", "error": err, "id": rid}
        except (ValueError, TypeError, KeyError, IndexError) as e:
            return {"jsonrpc": "2.0", "error": {"code": -32602, "message": f"Invalid params: {e}"}, "id": rid}
        except Exception as e:  # a bug here must not become an HTTP 500 the caller cannot parse
            log.exception("%s failed", method)
            return {"jsonrpc": "2.0", "error": {"code": -32603, "message": f"Internal error: {e!r}"}, "id": rid}

    # -- accounts ---------------------------------------------------------------------------
    def _check_min_slot(self, cfg: dict):
        m = cfg.get("minContextSlot")
        if m is not None and int(m) > self.chain.slot:
            raise RpcError(-32016, "Minimum context slot has not been reached", {"contextSlot": self.chain.slot})

    def rpc_getAccountInfo(self, key: str, cfg: dict | None = None):
        cfg = cfg or {}
        self._check_min_slot(cfg)
        acc = self.chain.svm.get_account(Pubkey.from_string(key))
        return {"context": self.ctx(), "value": ui_account(acc, cfg.get("encoding", "base64"), cfg.get("dataSlice"))}

    def rpc_getMultipleAccounts(self, keys: list[str], cfg: dict | None = None):
        cfg = cfg or {}
        self._check_min_slot(cfg)
        enc, sl = cfg.get("encoding", "base64"), cfg.get("dataSlice")
        return {"context": self.ctx(),
                "value": [ui_account(self.chain.svm.get_account(Pubkey.from_string(k)), enc, sl) for k in keys]}

    def rpc_getProgramAccounts(self, program: str, cfg: dict | None = None):
        cfg = cfg or {}
        enc, sl = cfg.get("encoding", "base64"), cfg.get("dataSlice")
        out = []
        for key, acc in self.chain.svm.get_program_accounts(Pubkey.from_string(program)):
            data = bytes(acc.data)
            if all(self._filter_ok(f, data) for f in cfg.get("filters") or []):
                out.append({"pubkey": str(key), "account": ui_account(acc, enc, sl)})
        return {"context": self.ctx(), "value": out} if cfg.get("withContext") else out

    @staticmethod
    def _filter_ok(f: dict, data: bytes) -> bool:
        if "dataSize" in f:
            return len(data) == int(f["dataSize"])
        if "memcmp" in f:
            m = f["memcmp"]
            want = (base64.b64decode(m["bytes"]) if m.get("encoding") == "base64"
                    else base58.b58decode(m["bytes"]))
            off = int(m["offset"])
            return data[off:off + len(want)] == want
        raise RpcError(-32602, f"unsupported filter {f}")

    def rpc_getBalance(self, key: str, cfg: dict | None = None):
        return {"context": self.ctx(), "value": self.chain.svm.get_balance(Pubkey.from_string(key)) or 0}

    def rpc_getMinimumBalanceForRentExemption(self, size: int, cfg: dict | None = None):
        return self.chain.svm.minimum_balance_for_rent_exemption(int(size))

    def rpc_requestAirdrop(self, key: str, lamports: int, cfg: dict | None = None):
        pk = Pubkey.from_string(key)
        self.next_slot(rotate_blockhash=False)
        res = self.chain.svm.airdrop(pk, int(lamports))
        if hasattr(res, "err"):
            raise RpcError(-32002, f"airdrop failed: {res.err()}")
        sig = str(res.signature())
        self.chain.txs[sig] = TxRecord(sig, self.chain.slot, int(time.time()), b"", None, [], 0, 0, [], [], [])
        self.after_change([pk, self.chain.svm.airdrop_pubkey()])
        return sig

    # -- chain info -------------------------------------------------------------------------
    def rpc_getSlot(self, cfg: dict | None = None):
        return self.chain.slot

    def rpc_getBlockHeight(self, cfg: dict | None = None):
        return self.chain.block_height

    def rpc_getEpochInfo(self, cfg: dict | None = None):
        return {"absoluteSlot": self.chain.slot, "blockHeight": self.chain.block_height, "epoch": 0,
                "slotIndex": self.chain.slot, "slotsInEpoch": 2**63, "transactionCount": len(self.chain.txs)}

    def rpc_getLatestBlockhash(self, cfg: dict | None = None):
        h, last_valid = self.chain.latest_blockhash
        return {"context": self.ctx(), "value": {"blockhash": h, "lastValidBlockHeight": last_valid}}

    def rpc_isBlockhashValid(self, h: str, cfg: dict | None = None):
        return {"context": self.ctx(), "value": h in self.chain.blockhashes}

    def rpc_getFeeForMessage(self, msg: str, cfg: dict | None = None):
        return {"context": self.ctx(), "value": 5000}

    def rpc_getGenesisHash(self):
        return self.chain.genesis_hash

    def rpc_getHealth(self):
        return "ok"

    def rpc_getVersion(self):
        return {"solana-core": API_VERSION, "feature-set": 0}

    def rpc_getIdentity(self):
        return {"identity": str(self.chain.svm.airdrop_pubkey())}

    def rpc_getBlockTime(self, slot: int):
        return int(time.time())

    def rpc_getBlock(self, slot: int, cfg: dict | None = None):
        slot = int(slot)
        if slot > self.chain.slot:
            raise RpcError(-32004, f"Block not available for slot {slot}")
        cfg = cfg or {}
        # Each block needs its own hash: the ER's transaction feed waits for a block whose hash it has
        # not seen. Transactions use LiteSVM's blockhashes (getLatestBlockhash), not these.
        def block_hash(n: int) -> str:
            return base58.b58encode(hashlib.sha256(b"basenode block" + n.to_bytes(8, "little")).digest()).decode()
        block = {"blockhash": block_hash(slot), "previousBlockhash": block_hash(slot - 1), "parentSlot": max(slot - 1, 0),
                 "blockHeight": self.chain.block_height, "blockTime": int(time.time()), "rewards": []}
        sigs = self.chain.slot_sigs.get(slot, [])
        details = cfg.get("transactionDetails", "full")
        if details == "signatures":
            block["signatures"] = sigs
        elif details == "full":
            block["transactions"] = [self._tx_json(self.chain.txs[s], cfg.get("encoding", "json"))
                                     for s in sigs if s in self.chain.txs]
        return block

    # -- transactions -----------------------------------------------------------------------
    @staticmethod
    def _decode_tx(data: str, cfg: dict) -> VersionedTransaction:
        enc = cfg.get("encoding", "base58")
        raw = base64.b64decode(data) if enc == "base64" else base58.b58decode(data)
        try:
            return VersionedTransaction.from_bytes(raw)
        except Exception as e:
            raise RpcError(-32602, f"failed to deserialize transaction: {e}")

    def rpc_sendTransaction(self, data: str, cfg: dict | None = None):
        cfg = cfg or {}
        tx = self._decode_tx(data, cfg)
        self.next_slot(rotate_blockhash=False)  # a slot no read has reported yet (see after_change)
        rec = self.chain.process(tx)
        # A failed transaction writes nothing but the fee payer's balance.
        keys = list(tx.message.account_keys) if rec.err is None else [tx.message.account_keys[0]]
        self.after_change(keys, tx_sig=rec.signature)
        if rec.err is not None and not cfg.get("skipPreflight", False):
            raise RpcError(-32002, f"Transaction simulation failed: Error processing Instruction: {rec.err}",
                           {"err": rec.err, "logs": rec.logs, "unitsConsumed": rec.cu, "accounts": None})
        return rec.signature

    def rpc_simulateTransaction(self, data: str, cfg: dict | None = None):
        cfg = cfg or {}
        tx = self._decode_tx(data, cfg)
        if cfg.get("replaceRecentBlockhash"):
            self.chain.blockhashes.setdefault(str(tx.message.recent_blockhash), self.chain.block_height)
        rec = self.chain.process(tx, simulate=True)
        return {"context": self.ctx(), "value": {"err": rec.err, "logs": rec.logs, "accounts": None,
                                                 "unitsConsumed": rec.cu, "returnData": None}}

    def _status(self, sig: str):
        rec = self.chain.txs.get(sig)
        if rec is None:
            return None
        return {"slot": rec.slot, "confirmations": None, "err": rec.err, "confirmationStatus": "finalized",
                "status": {"Ok": None} if rec.err is None else {"Err": rec.err}}

    def rpc_getSignatureStatuses(self, sigs: list[str], cfg: dict | None = None):
        return {"context": self.ctx(), "value": [self._status(s) for s in sigs]}

    def rpc_getTransaction(self, sig: str, cfg: dict | str | None = None):
        enc = cfg if isinstance(cfg, str) else (cfg or {}).get("encoding", "json")
        rec = self.chain.txs.get(sig)
        return None if rec is None or not rec.raw else self._tx_json(rec, enc)

    def _tx_json(self, rec: TxRecord, enc: str) -> dict:
        tx = VersionedTransaction.from_bytes(rec.raw)
        msg = tx.message
        keys = [str(k) for k in msg.account_keys]
        if enc in ("base64", "base58"):
            body = encode_data(rec.raw, enc, None) if enc == "base64" else [base58.b58encode(rec.raw).decode(), enc]
        else:
            h = msg.header
            body = {"signatures": [str(s) for s in tx.signatures],
                    "message": {"accountKeys": keys, "recentBlockhash": str(msg.recent_blockhash),
                                "header": {"numRequiredSignatures": h.num_required_signatures,
                                           "numReadonlySignedAccounts": h.num_readonly_signed_accounts,
                                           "numReadonlyUnsignedAccounts": h.num_readonly_unsigned_accounts},
                                "instructions": [{"programIdIndex": ix.program_id_index,
                                                  "accounts": list(bytes(ix.accounts)),
                                                  "data": base58.b58encode(bytes(ix.data)).decode(),
                                                  "stackHeight": None} for ix in msg.instructions]}}
        inner = [{"index": i, "instructions": [
            {"programIdIndex": prog, "accounts": accounts, "data": base58.b58encode(data).decode(),
             "stackHeight": height} for prog, accounts, data, height in ixs]}
            for i, ixs in enumerate(rec.inner) if ixs]
        meta = {"err": rec.err, "status": {"Ok": None} if rec.err is None else {"Err": rec.err}, "fee": rec.fee,
                "preBalances": rec.pre_balances, "postBalances": rec.post_balances, "innerInstructions": inner,
                "logMessages": rec.logs, "preTokenBalances": [], "postTokenBalances": [], "rewards": [],
                "loadedAddresses": {"writable": [], "readonly": []}, "computeUnitsConsumed": rec.cu}
        return {"slot": rec.slot, "blockTime": rec.block_time, "transaction": body, "meta": meta,
                "version": "legacy" if str(type(msg).__name__) == "Message" else 0}

    # -- pubsub -------------------------------------------------------------------------------
    async def handle_ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=16 * 2**20)
        await ws.prepare(request)
        self.sockets.add(ws)
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    req = json.loads(msg.data)
                except ValueError:
                    await ws.send_json({"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"},
                                        "id": None})
                    continue
                await ws.send_json(self.ws_call(req, ws))
                self.flush_signature_subs()
        finally:
            self.sockets.discard(ws)
            for sid in [s for s, v in self.subs.items() if v[2] is ws]:
                del self.subs[sid]
        return ws

    def ws_call(self, req: dict, ws) -> dict:
        rid, method, params = req.get("id"), req.get("method", ""), req.get("params") or []
        log.debug("ws %s %s", method, json.dumps(params)[:160])
        kinds = {"accountSubscribe": "account", "programSubscribe": "program", "signatureSubscribe": "signature",
                 "slotSubscribe": "slot", "rootSubscribe": "root", "logsSubscribe": "logs"}
        try:
            if method in kinds:
                kind = kinds[method]
                key = params[0] if params and kind in ("account", "program", "signature") else None
                if kind in ("account", "program"):
                    key = str(Pubkey.from_string(key))
                cfg = params[1] if len(params) > 1 and isinstance(params[1], dict) else {}
                sid = self.next_sub
                self.next_sub += 1
                self.subs[sid] = (kind, key, ws, cfg)
                return {"jsonrpc": "2.0", "result": sid, "id": rid}
            if method.endswith("Unsubscribe"):
                return {"jsonrpc": "2.0", "result": self.subs.pop(int(params[0]), None) is not None, "id": rid}
            self.unknown_methods[method] += 1
            log.warning("unsupported ws method %s", method)
            return {"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": rid}
        except (ValueError, TypeError, IndexError) as e:
            return {"jsonrpc": "2.0", "error": {"code": -32602, "message": f"Invalid params: {e}"}, "id": rid}

    def _send(self, ws, method: str, sid: int, result):
        if ws.closed:
            return
        payload = {"jsonrpc": "2.0", "method": method, "params": {"result": result, "subscription": sid}}
        asyncio.get_running_loop().create_task(self._send_safe(ws, payload))

    @staticmethod
    async def _send_safe(ws, payload):
        try:
            await ws.send_json(payload)
        except (ConnectionError, RuntimeError):
            pass

    def after_change(self, keys: list[Pubkey], tx_sig: str | None = None):
        """Notify subscribers about accounts a transaction may have written. Every transaction runs in a
        slot of its own that no earlier read has reported (the caller opens it first): the ER keeps
        a clone read at slot S and ignores an update that is not newer than S."""
        wanted = {str(k) for k in keys}
        by_key: dict[str, Account | None] = {}
        for sid, (kind, key, ws, cfg) in list(self.subs.items()):
            if kind == "account" and key in wanted:
                acc = by_key.setdefault(key, self.chain.svm.get_account(Pubkey.from_string(key)))
                if acc is not None:
                    self._send(ws, "accountNotification", sid,
                               {"context": {"slot": self.chain.slot},
                                "value": ui_account(acc, cfg.get("encoding", "base64"), cfg.get("dataSlice"))})
            elif kind == "program":
                for k in wanted:
                    acc = by_key.setdefault(k, self.chain.svm.get_account(Pubkey.from_string(k)))
                    if acc is not None and str(acc.owner) == key and all(
                            self._filter_ok(f, bytes(acc.data)) for f in cfg.get("filters") or []):
                        self._send(ws, "programNotification", sid,
                                   {"context": {"slot": self.chain.slot},
                                    "value": {"pubkey": k, "account": ui_account(acc, cfg.get("encoding", "base64"))}})
            elif kind == "logs" and tx_sig is not None:
                rec = self.chain.txs.get(tx_sig)
                if rec is not None:
                    self._send(ws, "logsNotification", sid, {"context": {"slot": self.chain.slot},
                               "value": {"signature": tx_sig, "err": rec.err, "logs": rec.logs}})
        self.flush_signature_subs()
        self._last_activity = time.monotonic()

    def flush_signature_subs(self):
        for sid, (kind, key, ws, cfg) in list(self.subs.items()):
            if kind == "signature" and key in self.chain.txs:
                rec = self.chain.txs[key]
                self._send(ws, "signatureNotification", sid,
                           {"context": {"slot": rec.slot}, "value": {"err": rec.err}})
                del self.subs[sid]

    def next_slot(self, rotate_blockhash: bool):
        parent = self.chain.slot
        self.chain.advance_slot(rotate_blockhash)
        clock = None
        for sid, (kind, key, ws, cfg) in list(self.subs.items()):
            if kind == "slot":
                self._send(ws, "slotNotification", sid, {"parent": parent, "root": parent, "slot": self.chain.slot})
            elif kind == "root":
                self._send(ws, "rootNotification", sid, parent)
            elif kind == "account" and key == str(CLOCK_SYSVAR):
                clock = clock or self.chain.svm.get_account(CLOCK_SYSVAR)
                self._send(ws, "accountNotification", sid, {"context": {"slot": self.chain.slot},
                           "value": ui_account(clock, cfg.get("encoding", "base64"), cfg.get("dataSlice"))})

    async def ticker(self):
        while True:
            await asyncio.sleep(SLOT_TICK_S)
            self.next_slot(rotate_blockhash=True)

    # -- lifecycle ---------------------------------------------------------------------------
    async def serve(self, host: str = "127.0.0.1"):
        http = web.Application(client_max_size=16 * 2**20)
        http.router.add_route("*", "/", self.handle_http)
        pubsub = web.Application()
        pubsub.router.add_get("/", self.handle_ws)
        runners = [web.AppRunner(http, access_log=None, shutdown_timeout=1.0),
                   web.AppRunner(pubsub, access_log=None, shutdown_timeout=1.0)]
        for r in runners:
            await r.setup()
        await web.TCPSite(runners[0], host, self.port).start()
        await web.TCPSite(runners[1], host, self.port + 1).start()
        tick = asyncio.create_task(self.ticker())
        log.info("base node ready: http://%s:%d ws://%s:%d slot %d", host, self.port, host, self.port + 1,
                 self.chain.slot)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for s in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(s, stop.set)
        await stop.wait()
        tick.cancel()
        for ws in list(self.sockets):  # subscribers see the close and reconnect elsewhere / later
            await ws.close(code=1001, message=b"node shutting down")
        for r in runners:
            await r.cleanup()
        if self.unknown_methods:
            log.info("unsupported methods called: %s", dict(self.unknown_methods))


def build_chain(programs: list[tuple[str, str]], accounts: list[tuple[str, str]], dumps: str | None) -> BaseChain:
    chain = BaseChain()
    if dumps:
        for f in sorted(Path(dumps).glob("*.so")):
            programs.append((f.stem, str(f)))
        for f in sorted(Path(dumps).glob("*.json")):
            accounts.append((f.stem, str(f)))
    for pid, path in programs:
        chain.svm.add_program_from_file(Pubkey.from_string(pid), path)
    for key, path in accounts:
        pk, acc = load_account_json(Path(path))
        if str(pk) != key:
            raise SystemExit(f"{path} holds {pk}, not {key}")
        chain.svm.set_account(pk, acc)
    return chain


def main(argv: list[str] | None = None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=8899)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--bpf-program", nargs=2, action="append", default=[], metavar=("ID", "SO"))
    ap.add_argument("--account", nargs=2, action="append", default=[], metavar=("ID", "JSON"))
    ap.add_argument("--dumps", help="MagicBlock local-dumps folder (every <ID>.so and <ID>.json)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    chain = build_chain(list(args.bpf_program), list(args.account), args.dumps)
    asyncio.run(BaseNode(chain, args.port).serve(args.host))


if __name__ == "__main__":
    main()
