"""The embedded backend: the compiled program (build/world_model.so) inside an
in-process LiteSVM. Every call is a real transaction through the real instructions;
nothing is placed into accounts directly. Keys that sign are funded on first use
(this is a local sandbox), and the backend's own key pays the fees."""
from __future__ import annotations

import itertools
import struct
import time
from pathlib import Path
from typing import Callable

import numpy as np
from solders.compute_budget import set_compute_unit_limit
from solders.instruction import Instruction
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.transaction import Transaction

from worldmodel import cartridge as C
from worldmodel.sim import IDLE_ACTION, default_start_state  # noqa: F401 (a session's start, for clients)

from onchain.sdk import accounts as A
from onchain.sdk import instructions as I
from onchain.sdk import pda
from onchain.sdk import steps
from onchain.sdk import upload
from onchain.sdk.backend import Backend, BackendError, TxOutcome
from onchain.sdk.wire import ControllerInput, SessionView
from onchain.backends.svm import DEFAULT_SO, MAX_CU, ProgramVM

FUND_LAMPORTS = 100 * 10**9
# create_session instructions per transaction (each grows HiddenState by 10,240 bytes)
GROW_IX_PER_TX = 8
TX_LIMIT = 1232  # bytes of a serialized transaction a real validator accepts (one packet)




def combine(outcomes: list[TxOutcome]) -> TxOutcome:
    """Several transactions reported as one: ok if all were, CU and time summed."""
    bad = next((o for o in outcomes if not o.ok), None)
    last = bad or outcomes[-1]
    return TxOutcome(ok=bad is None, signature=last.signature, cu=sum(o.cu for o in outcomes),
                     seconds=sum(o.seconds for o in outcomes), error=last.error,
                     logs=tuple(itertools.chain.from_iterable(o.logs for o in outcomes)))


def repeats_that_fit(ix: Instruction, payer: Pubkey, signers: list[Pubkey], most: int) -> int:
    """How many copies of `ix` (at most `most`, at least 1) fit in one transaction of TX_LIMIT
    bytes, with the compute-budget instruction the backends add. LiteSVM and the project's base
    node take larger transactions; solana-test-validator refuses them (issue 17)."""
    n_sig = len({payer, *signers})
    for n in range(most, 1, -1):
        msg = Message.new_with_blockhash([set_compute_unit_limit(0), *[ix] * n], payer, Hash.default())
        if 1 + 64 * n_sig + len(bytes(msg)) <= TX_LIMIT:
            return n
    return 1


def create_session_grown(chain, session_id: int, model_id: int, creator: Keypair, fighters=None,
                         validator: Pubkey | None = None, crank_key: Pubkey | None = None,
                         invite: Pubkey | None = None, stage: int = 32,
                         characters: tuple[int, int] = (2, 2)) -> TxOutcome:
    """Create the session accounts, then grow HiddenState to the model's size (the same
    instruction repeated, up to GROW_IX_PER_TX per transaction as long as the transaction stays
    within TX_LIMIT bytes: an account a program creates grows at most 10,240 bytes per instruction). `chain` is any backend with `program_id`, `payer`,
    `send(ixs, signers)` and `account_data(key)` (embedded and remote). The crank key defaults
    to the backend's payer, the key its run_inference signs with."""
    state = default_start_state() if fighters is None else np.asarray(fighters)
    crank_key = chain.payer.pubkey() if crank_key is None else crank_key
    ix = I.create_session(chain.program_id, creator.pubkey(), session_id, model_id, state,
                          validator=validator, crank_key=crank_key, invite=invite, stage=stage,
                          characters=tuple(characters))
    outs = [chain.send([ix], [creator])]
    per_tx = repeats_that_fit(ix, chain.payer.pubkey(), [creator.pubkey()], GROW_IX_PER_TX)
    while outs[-1].ok:
        h = A.decode_hidden(chain.account_data(pda.hidden(chain.program_id, session_id)) or b"")
        if h is None or h.ready:
            break
        n = min(per_tx, -(-(h.full_len - h.length) // upload.MAX_GROWTH))
        outs.append(chain.send([ix] * n, [creator]))
    return combine(outs)


class EmbeddedBackend(Backend):
    name = "embedded"

    def __init__(self, so_path: str | Path = DEFAULT_SO, program_id: Pubkey | None = None):
        self.vm = ProgramVM(so_path, program_id)
        self.svm = self.vm.svm
        self.program_id = self.vm.program_id
        self.payer = self.vm.payer
        self.authority = Keypair()  # uploads models
        self._funded: set[Pubkey] = {self.payer.pubkey()}
        self._step_cu: dict[int, list[int]] = {}  # model_id -> measured CU of each step
        self._tx_overhead: dict[int, int] = {}  # model_id -> fixed CU of a transaction (steps.tx_overhead)
        self._subs: dict[int, list[Callable[[SessionView], None]]] = {}
        self._next_model_id = 1
        self._touched: set[Pubkey] = set()  # every account a transaction named (for save_ledger)
        self._clock_offset = 0  # seconds added to wall time by warp_seconds
        self._set_clock()

    # -- plumbing ---------------------------------------------------------------------

    def fund(self, key: Pubkey, lamports: int = FUND_LAMPORTS, again: bool = False) -> None:
        """Give a wallet lamports (once per key unless `again`). Set directly: LiteSVM's
        airdrop faucet runs dry after a few hundred SOL."""
        if key in self._funded and not again:
            return
        from solders.account import Account
        acc = self.svm.get_account(key)
        if acc is None or acc.lamports == 0:
            acc = Account(0, b"", Pubkey.default(), False, 0)
        self.svm.set_account(key, Account(acc.lamports + lamports, bytes(acc.data), acc.owner, acc.executable,
                                          acc.rent_epoch))
        self._funded.add(key)

    def account_data(self, key: Pubkey) -> bytes | None:
        acc = self.svm.get_account(key)
        return bytes(acc.data) if acc is not None and acc.lamports > 0 else None

    def lamports(self, key: Pubkey) -> int:
        acc = self.svm.get_account(key)
        return acc.lamports if acc is not None else 0

    def slot(self) -> int:
        return self.svm.get_clock().slot

    def warp(self, slots: int) -> None:
        """Advance the slot (the program's timeouts are in seconds: see warp_seconds)."""
        self.svm.warp_to_slot(self.slot() + slots)
        self._set_clock()

    def warp_seconds(self, seconds: int) -> None:
        """Move the Clock's unix_timestamp forward (tests of the idle timeout)."""
        self._clock_offset += seconds
        self._set_clock()

    def _set_clock(self) -> None:
        """The Clock's unix_timestamp follows wall time (plus warp_seconds), as on a real chain."""
        c = self.svm.get_clock()
        c.unix_timestamp = int(time.time()) + self._clock_offset
        self.svm.set_clock(c)

    def send(self, ixs: list[Instruction], signers: list[Keypair], cu_limit: int | None = None) -> TxOutcome:
        """One transaction; the backend pays the fee, `signers` co-sign."""
        for kp in signers:
            self.fund(kp.pubkey())
        self._touched.update(m.pubkey for ix in ixs for m in ix.accounts)
        pre = [set_compute_unit_limit(cu_limit)] if cu_limit else []
        self._set_clock()
        others = [kp for kp in signers if kp.pubkey() != self.payer.pubkey()]
        tx = Transaction.new_signed_with_payer([*pre, *ixs], self.payer.pubkey(), [self.payer, *others],
                                               self.svm.latest_blockhash())
        t0 = time.perf_counter()
        res = self.svm.send_transaction(tx)
        dt = time.perf_counter() - t0
        self.svm.expire_blockhash()  # identical transactions may follow (e.g. grow steps)
        sig = str(tx.signatures[0])
        if hasattr(res, "err"):
            meta = res.meta()
            return TxOutcome(False, sig, meta.compute_units_consumed(), dt, str(res.err()), tuple(meta.logs()))
        return TxOutcome(True, sig, res.compute_units_consumed(), dt, None, tuple(res.logs()))

    # -- models -----------------------------------------------------------------------

    def upload_model(self, cart_or_dir, model_id: int | None = None, authority: Keypair | None = None,
                     progress: Callable[[int], None] | None = None) -> int:
        """init_manifest + upload_weights chunks + finalize_weights; returns the model id."""
        manifest, weights = upload.load_cartridge_bytes(cart_or_dir)
        authority = authority or self.authority
        # the weights' rent (~7,000 lamports per byte: 140 SOL for `target`) plus fees
        self.fund(authority.pubkey())
        shards = upload.account_sizes(manifest, weights)[1:]  # the weights' accounts
        rent = sum(self.svm.minimum_balance_for_rent_exemption(n) for n in shards)
        self.fund(authority.pubkey(), rent, again=True)
        if model_id is None:
            while self.account_data(pda.manifest(self.program_id, self._next_model_id)) is not None:
                self._next_model_id += 1
            model_id = self._next_model_id
        upload.upload(self, authority, model_id, manifest, weights, progress)
        return model_id

    def manifest(self, model_id: int) -> A.Manifest | None:
        return A.decode_manifest(self.account_data(pda.manifest(self.program_id, model_id)) or b"")

    # -- sessions ---------------------------------------------------------------------

    def create_session(self, session_id: int, model_id: int, creator: Keypair, fighters=None,
                       validator: Pubkey | None = None, crank_key: Pubkey | None = None,
                       invite: Pubkey | None = None, stage: int = 32, characters: tuple[int, int] = (2, 2)) -> TxOutcome:
        return create_session_grown(self, session_id, model_id, creator, fighters, validator, crank_key, invite,
                                    stage, characters)

    def join_session(self, session_id: int, player: Keypair) -> TxOutcome:
        out = self.send([I.join_session(self.program_id, player.pubkey(), session_id)], [player])
        self._notify(session_id)
        return out

    def submit_input(self, session_id: int, player: Keypair, frame: int, ctrl: ControllerInput) -> TxOutcome:
        view = self.session(session_id)
        slot = 1 if view is not None and view.players[1] == player.pubkey() else 0
        return self.send([I.submit_input(self.program_id, player.pubkey(), session_id, slot, frame, ctrl)], [player])

    def run_inference(self, session_id: int, expected_frame: int) -> TxOutcome:
        """Advance exactly one frame: the frame's steps packed into as few transactions
        as their measured CU allows (the first frame of a model is measured one step per
        transaction). Returns the summed CU."""
        view = self.session(session_id)
        if view is None:
            return self.send([I.run_inference_for(self.program_id, self.payer.pubkey(), session_id, 0, 1,
                                                  expected_frame)], [])
        man = self.manifest(view.model_id)
        shards = man.shard_count if man is not None else 1
        hid = A.decode_hidden(self.account_data(pda.hidden(self.program_id, session_id)) or b"")
        total = self._steps_per_frame(man)
        start = hid.next_step if hid is not None else 0

        def crank(count: int) -> TxOutcome:
            ix = I.run_inference_for(self.program_id, self.payer.pubkey(), session_id, view.model_id, shards,
                                     expected_frame, count)
            return self.send([ix], [], cu_limit=MAX_CU)

        outs: list[TxOutcome] = []
        costs = self._step_cu.get(view.model_id)
        if costs is None or total is None or len(costs) != total:
            measured = []
            n = (total or 1) - start
            for _ in range(max(n, 1)):
                outs.append(crank(1))
                if not outs[-1].ok:
                    return combine(outs)
                measured.append(outs[-1].cu)
            if start == 0 and total is not None:
                self._step_cu[view.model_id] = measured
        else:
            overhead = self._tx_overhead.get(view.model_id, 0)
            plan = steps.pack_steps(costs[start:], overhead=overhead)
            for k, count in enumerate(plan):
                outs.append(crank(count if k < len(plan) - 1 else I.ALL_STEPS))
                if not outs[-1].ok:
                    self._step_cu.pop(view.model_id, None)  # re-measure next frame
                    self._tx_overhead.pop(view.model_id, None)
                    return combine(outs)
            if start == 0 and view.model_id not in self._tx_overhead:
                # The packed frame shows what a transaction costs by itself; the next frames'
                # plan counts it once per transaction instead of once per step.
                learned = steps.tx_overhead(costs, plan, [o.cu for o in outs])
                if learned is not None:
                    self._tx_overhead[view.model_id] = learned
        self._notify(session_id)
        return combine(outs)

    def _steps_per_frame(self, man: A.Manifest | None) -> int | None:
        if man is None:
            return None
        try:
            return _steps_from_manifest(man.manifest)
        except (ValueError, ZeroDivisionError, struct.error):  # malformed: the program rejects the crank
            return None

    def close_session(self, session_id: int, signer: Keypair) -> TxOutcome:
        view = self.session(session_id)
        creator = view.players[0] if view is not None else signer.pubkey()
        model_id = view.model_id if view is not None else 0
        out = self.send([I.close_session(self.program_id, signer.pubkey(), creator, session_id, model_id)], [signer])
        if out.ok:
            self._subs.pop(session_id, None)
        return out

    def session(self, session_id: int) -> SessionView | None:
        return A.decode_session(self.account_data(pda.session(self.program_id, session_id)) or b"")

    def subscribe_session(self, session_id: int, callback: Callable[[SessionView], None]) -> Callable[[], None]:
        subs = self._subs.setdefault(session_id, [])
        subs.append(callback)

        def unsubscribe() -> None:
            if callback in subs:
                subs.remove(callback)
        return unsubscribe

    def _notify(self, session_id: int) -> None:
        subs = self._subs.get(session_id)
        if subs:
            view = self.session(session_id)
            if view is not None:
                for cb in list(subs):
                    cb(view)

    def close(self) -> None:
        self._subs.clear()

    # -- persistence for the command line (each CLI call is a new process) --------------

    def save_ledger(self, path: str | Path) -> None:
        """Write every account this backend's transactions touched (program accounts and
        wallets) and the slot to a JSON file."""
        import base64
        import json
        accounts = {}
        for key in sorted(self._touched, key=str):
            acc = self.svm.get_account(key)
            if acc is not None and acc.lamports > 0 and not acc.executable:
                accounts[str(key)] = [acc.lamports, str(acc.owner), base64.b64encode(bytes(acc.data)).decode()]
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps({"program_id": str(self.program_id), "slot": self.slot(),
                                          "accounts": accounts}))

    def load_ledger(self, path: str | Path) -> None:
        import base64
        import json

        from solders.account import Account
        doc = json.loads(Path(path).read_text())
        if doc["program_id"] != str(self.program_id):
            raise BackendError(f"{path} was written for program {doc['program_id']}")
        for key, (lamports, owner, data) in doc["accounts"].items():
            pk = Pubkey.from_string(key)
            self.svm.set_account(pk, Account(lamports, base64.b64decode(data), Pubkey.from_string(owner), False, 0))
            self._touched.add(pk)
            self._funded.add(pk)
        if doc["slot"] > self.slot():
            self.svm.warp_to_slot(doc["slot"])


def _steps_from_manifest(manifest: bytes) -> int:
    """Steps per frame from the manifest's dimensions (mirrors model::Dims)."""
    (layout,) = struct.unpack_from("<H", manifest, 10)
    d, e, n, p, layers = struct.unpack_from("<5H", manifest, 12)
    return steps.steps_per_frame(C.Preset("onchain", d, e, n, p, layers), layout)
