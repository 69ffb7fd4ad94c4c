"""Fuzzing the real program in LiteSVM: random instruction payloads over random
account lists, and mutations of valid instructions that must fail.

Every instruction the deployed program has is a template (0..=13, 16, the delegation program's
undelegate callback), and every discriminator it does not have (14, 15, 17..=255, 32 the
benchmark-only kernel instruction) is sent too. MagicBlock's delegation program is loaded, so
delegate_session runs for real. Besides corrupting data, signers and accounts, the mutations
substitute accounts the way an attacker would: another session's account, a forged look-alike
(a copy of a real account's bytes, owned by the program, at an address that is not its PDA: what
a forged undelegation callback could once create), and the same account twice.

Per case it snapshots every account the transaction names (data, lamports, owner) and
compares after. It counts:
  unexpected_success        a must-fail mutation that succeeded, or any successful
                            transaction that broke an invariant (a finalized model
                            changed, a wallet that did not sign lost lamports, a
                            session's players changed, an account left the program to
                            a third owner);
  panics                    the program aborted instead of returning an error (panic,
                            access violation, or any failure that is not a clean
                            program error or a runtime precheck);
  state_changed_on_failure  a failed transaction left any named account different.
After a successful transaction the world is restored, so cases are independent."""
from __future__ import annotations

import dataclasses
import random
import re
import struct
from pathlib import Path
from typing import Callable

from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.system_program import ID as SYSTEM_PROGRAM

from worldmodel import randmodel as R

from onchain.localnet import basenode
from onchain.sdk import delegation as D
from onchain.sdk import errors as E
from onchain.sdk import instructions as I
from onchain.sdk import pda
from onchain.sdk import upload as U
from onchain.sdk.wire import ControllerInput
from onchain.backends.embedded import EmbeddedBackend, default_start_state
from onchain.localnet.stack import DUMPS
from onchain.backends.svm import DEFAULT_SO

FINAL, OPEN, OTHER = 1, 2, 3
ACTIVE, WAITING, FRESH, ACTIVE2 = 5, 6, 7, 8
# "validator" stands in for the ER validator named at create: it signs the scheduled crank's form.
SIGNER_SEEDS = {"authority": 1, "p1": 2, "p2": 3, "stranger": 4, "validator": 5}
# Discriminators the deployed program has (instructions/mod.rs); all others must fail.
PROGRAM_DISCS = (*range(0, 14), 16)
NOT_PROGRAM_DISCS = (14, 15, *range(17, 256))
MANIFEST_COUNTER = slice(48, 52)
CLOCK = Pubkey.from_string("SysvarC1ock11111111111111111111111111111111")  # the open-session count create/close_session may change


@dataclasses.dataclass
class Template:
    """A valid instruction and what its signers may be swapped for."""
    name: str
    ix: Instruction
    signers: list[Keypair]
    min_len: int  # shortest valid data (with the discriminator)
    fixed_len: bool  # longer data is invalid too
    privileged: bool  # the signer's identity matters (a stranger must fail)


class World:
    def __init__(self, so_path: str | Path = DEFAULT_SO, seed: int = 0):
        self.be = be = EmbeddedBackend(so_path)
        self.pid = be.program_id
        self.keys = {name: Keypair.from_seed(bytes([s]) * 32) for name, s in SIGNER_SEEDS.items()}
        be.authority = self.keys["authority"]
        a = self.keys["authority"]
        self.cart = R.random_cartridge("micro", 1000 + seed)
        be.upload_model(self.cart, FINAL, a)
        be.upload_model(R.random_cartridge("micro", 2000 + seed), OTHER, a)
        self.manifest, self.weights = U.load_cartridge_bytes(self.cart)
        assert be.send([I.init_manifest(self.pid, a.pubkey(), OPEN, self.manifest)], [a]).ok
        for shard, off, chunk in U.chunk_plan(self.weights)[:3]:
            assert be.send([I.upload_weights(self.pid, a.pubkey(), OPEN, shard, off, chunk)], [a]).ok
        p1, p2 = self.keys["p1"], self.keys["p2"]
        for kp in self.keys.values():
            be.fund(kp.pubkey())
        for f in sorted(DUMPS.glob("*.so")) if DUMPS.is_dir() else ():  # the real delegation program
            be.svm.add_program_from_file(Pubkey.from_string(f.stem), str(f))
        for f in sorted(DUMPS.glob("*.json")) if DUMPS.is_dir() else ():
            be.svm.set_account(*basenode.load_account_json(f))
        v = self.keys["validator"].pubkey()
        assert be.create_session(ACTIVE, FINAL, p1, validator=v).ok and be.join_session(ACTIVE, p2).ok
        assert be.run_inference(ACTIVE, 0).ok
        assert be.create_session(WAITING, FINAL, p1, validator=v).ok
        assert be.create_session(ACTIVE2, FINAL, p2, validator=v).ok and be.join_session(ACTIVE2, p1).ok
        self.frame = be.session(ACTIVE).frame
        # Forged look-alikes: each real account's bytes at a fresh address, owned by the program.
        self.look_alikes: dict[Pubkey, Pubkey] = {}
        from solders.account import Account
        for real in [*pda.session_accounts(self.pid, ACTIVE), pda.manifest(self.pid, FINAL),
                     pda.weights(self.pid, FINAL, 0)]:
            fake = Pubkey.new_unique()
            acc = be.svm.get_account(real)
            be.svm.set_account(fake, Account(acc.lamports, bytes(acc.data), self.pid, False, 0))
            self.look_alikes[real] = fake
        # Each of ACTIVE's accounts and its counterpart in ACTIVE2 (another session's account).
        self.counterpart = dict(zip(pda.session_accounts(self.pid, ACTIVE), pda.session_accounts(self.pid, ACTIVE2)))
        self.pool: list[Pubkey] = [
            pda.manifest(self.pid, m) for m in (FINAL, OPEN, OTHER, 9)
        ] + [pda.weights(self.pid, m, k) for m in (FINAL, OPEN, OTHER) for k in (0, 1)] + [
            k for s in (ACTIVE, WAITING, FRESH, ACTIVE2) for k in pda.session_accounts(self.pid, s)
        ] + list(self.look_alikes.values()) + [kp.pubkey() for kp in self.keys.values()] + [
            D.DELEGATION_PROGRAM, D.MAGIC_PROGRAM, D.MAGIC_CONTEXT,
            SYSTEM_PROGRAM, self.pid, Pubkey.from_string("SysvarC1ock11111111111111111111111111111111"),
            Pubkey.new_unique(), Pubkey.new_unique(),
        ]
        self.immutable = [pda.manifest(self.pid, FINAL), pda.weights(self.pid, FINAL, 0),
                          pda.manifest(self.pid, OTHER), pda.weights(self.pid, OTHER, 0)]
        self.initial = self.snapshot(self.pool)
        self.templates = self._templates()

    def snapshot(self, keys) -> dict:
        out = {}
        for k in keys:
            acc = self.be.svm.get_account(k)
            out[k] = None if acc is None or acc.lamports == 0 else (acc.lamports, bytes(acc.data), acc.owner)
        return out

    def restore(self) -> None:
        from solders.account import Account
        for k, v in self.initial.items():
            if v is None:
                if self.be.svm.get_account(k) is not None:
                    self.be.svm.set_account(k, Account(0, b"", SYSTEM_PROGRAM, False, 0))
            elif k != self.pid:
                self.be.svm.set_account(k, Account(v[0], v[1], v[2], False, 0))

    def _templates(self) -> list[Template]:
        k, pid = self.keys, self.pid
        a, p1, p2, v = k["authority"], k["p1"], k["p2"], k["validator"]
        f = self.frame
        forged = Pubkey.new_unique()  # a buffer that is not the delegation program's
        callback = bytes(D.UNDELEGATE_CALLBACK) + struct.pack("<II", 2, 7) + b"session" + struct.pack("<IQ", 8, FRESH)
        return [
            Template("init_manifest", I.init_manifest(pid, a.pubkey(), 9, self.manifest), [a], 9 + 160, False, False),
            Template("upload_weights", I.upload_weights(pid, a.pubkey(), OPEN, 0, 0, self.weights[:64]), [a], 8,
                     False, True),
            Template("finalize_weights", I.finalize_weights(pid, a.pubkey(), OPEN, 1), [a], 1, True, True),
            Template("create_session", I.create_session(pid, p1.pubkey(), FRESH, FINAL, default_start_state()),
                     [p1], 81, True, False),
            Template("join_session", I.join_session(pid, p2.pubkey(), WAITING), [p2], 1, True, False),
            Template("submit_input", I.submit_input(pid, p1.pubkey(), ACTIVE, 0, f, ControllerInput(5, 5, 0, 0, 9, 9, 3)),
                     [p1], 18, True, True),
            Template("run_inference", I.run_inference_for(pid, p1.pubkey(), ACTIVE, FINAL, 1, f, 1), [p1], 11, True,
                     True),
            Template("run_inference_next", I.run_inference_for(pid, v.pubkey(), ACTIVE, FINAL, 1, D.NEXT_FRAME, 1),
                     [v], 11, True, True),
            Template("close_session", I.close_session(pid, p1.pubkey(), p1.pubkey(), ACTIVE, FINAL), [p1], 1, True,
                     True),
            Template("delegate_session", D.delegate_session(pid, p1.pubkey(), WAITING), [p1], 1, True, True),
            Template("commit_session", D.commit_session(pid, p1.pubkey(), ACTIVE), [p1], 1, True, False),
            Template("init_hidden", D.init_hidden(pid, ACTIVE), [], 1, True, False),
            Template("end_session", D.end_session(pid, p1.pubkey(), p1.pubkey(), ACTIVE), [p1], 1, True, True),
            Template("schedule_crank", D.schedule_crank(pid, p1.pubkey(), ACTIVE, FINAL, 1, v.pubkey(), 16, 10),
                     [p1], 15, True, True),
            Template("cancel_crank", D.cancel_crank(pid, p1.pubkey(), ACTIVE), [p1], 1, True, True),
            Template("close_model", I.close_model(pid, a.pubkey(), OPEN, 1), [a], 1, True, True),
            Template("undelegate_callback", Instruction(pid, callback, [
                AccountMeta(pda.session(pid, FRESH), False, True), AccountMeta(forged, True, False),
                AccountMeta(p1.pubkey(), True, True), AccountMeta(SYSTEM_PROGRAM, False, False)]), [p1],
                len(callback), True, True),
        ]


def _with(ix: Instruction, data: bytes | None = None, metas: list[AccountMeta] | None = None) -> Instruction:
    return Instruction(ix.program_id, bytes(ix.data) if data is None else data,
                       list(ix.accounts) if metas is None else metas)


class Fuzzer:
    def __init__(self, world: World, seed: int):
        self.w = world
        self.rng = random.Random(seed)
        self.by_key = {kp.pubkey(): kp for kp in world.keys.values()}
        self.counts = {"cases": 0, "unexpected_success": 0, "panics": 0, "state_changed_on_failure": 0}
        self.kinds: dict[str, int] = {}
        self.outcomes: dict[str, int] = {}  # "ok" or the error's name: shows how deep cases reach
        self.findings: list[str] = []
        self.sent: set[int | str] = set()  # discriminators sent ("callback": the undelegate callback's)

    # -- case generators: each returns (ix, signers, must_fail) ---------------------------

    def _id(self) -> bytes:
        rng = self.rng
        return struct.pack("<Q", rng.choice([FINAL, OPEN, OTHER, ACTIVE, WAITING, FRESH, 0, rng.getrandbits(64)]))

    def random_payload(self):
        """Random data: half the time shaped like a real instruction (its discriminator,
        its exact length, ids and frames drawn from the world), else any bytes."""
        rng = self.rng
        if rng.random() < 0.5:
            disc = rng.choice([*PROGRAM_DISCS, 32])
            rnd = rng.randbytes
            body = {
                0: lambda: self._id() + (self.w.manifest if rng.random() < 0.3 else rnd(rng.randrange(150, 600))),
                1: lambda: struct.pack("<HI", rng.randrange(0, 3), rng.randrange(0, 12_000)) + rnd(rng.randrange(1, 300)),
                2: lambda: rng.choice([b"", struct.pack("<I", rng.choice([0, 64, 4096, rng.getrandbits(32)]))]),
                3: lambda: self._id() + self._id() + rnd(64),
                4: lambda: b"",
                5: lambda: bytes([rng.randrange(0, 3)]) + struct.pack("<Q", max(0, self.w.frame + rng.randrange(-2, 130))) + rnd(8),
                6: lambda: struct.pack("<QH", max(0, self.w.frame + rng.randrange(-1, 2)), rng.choice([1, 2, 0, 0xFFFF, rng.getrandbits(16)])),
                7: lambda: b"",
                8: lambda: rng.choice([b"", rnd(32)]),
                9: lambda: b"", 10: lambda: b"", 11: lambda: b"", 13: lambda: b"", 16: lambda: b"",
                12: lambda: struct.pack("<IQH", rng.choice([0, 1, 16, rng.getrandbits(32)]),
                                        rng.choice([0, 1, 10, 2**63, rng.getrandbits(64)]), rng.getrandbits(16)),
                32: lambda: rnd(9),
            }[disc]()
            data = bytes([disc]) + body
            t = next((t for t in self.w.templates if t.ix.data[0] == disc and t.name != "undelegate_callback"), None)
            if t is not None and rng.random() < 0.6:  # the real accounts, random fields
                return Instruction(self.w.pid, data, list(t.ix.accounts)), list(t.signers), False
        elif rng.random() < 0.1:  # the undelegate callback's discriminator with random seeds
            data = bytes(D.UNDELEGATE_CALLBACK) + rng.randbytes(rng.choice([0, 4, 12, 27, 28, 29, rng.randrange(0, 64)]))
        else:
            data = bytes([rng.randrange(0, 256)]) + rng.randbytes(rng.choice([0, 1, 7, 8, 10, 16, 17, 80, rng.randrange(0, 300)]))
        metas, signers = [], []
        for _ in range(rng.randrange(0, 8)):
            key = rng.choice(self.w.pool)
            signer = key in self.by_key and rng.random() < 0.5
            if signer and self.by_key[key] not in signers:
                signers.append(self.by_key[key])
            metas.append(AccountMeta(key, is_signer=signer, is_writable=rng.random() < 0.6))
        return Instruction(self.w.pid, data, metas), signers, False

    def mutate_valid(self):
        rng = self.rng
        t = rng.choice(self.w.templates)
        ix, signers, data = t.ix, list(t.signers), bytes(t.ix.data)
        metas = list(ix.accounts)
        ops: list[tuple[str, Callable]] = [("disc", None), ("truncate", None), ("replace", None), ("swap", None)]
        if t.fixed_len:
            ops.append(("extend", None))
        if signers:
            ops.append(("unsign", None))
        if t.privileged:
            ops.append(("stranger", None))
        if t.name == "submit_input":
            ops += [("bad_input", None), ("other_slot", None), ("stale_frame", None)]
        if t.name == "run_inference":
            ops.append(("wrong_frame", None))
        if t.name == "upload_weights":
            ops.append(("finalized_model", None))
        if any(m.pubkey in self.w.counterpart for m in metas):
            ops.append(("other_session", None))
        if any(m.pubkey in self.w.look_alikes for m in metas):
            ops.append(("look_alike", None))
        if len(metas) >= 2:
            ops.append(("same_twice", None))
        op = rng.choice(ops)[0]
        self.kinds[op] = self.kinds.get(op, 0) + 1
        if op == "disc":
            data = bytes([rng.choice(NOT_PROGRAM_DISCS)]) + data[1:]
        elif op == "truncate":
            data = data[:rng.randrange(0, t.min_len)]
        elif op == "extend":
            data = data + rng.randbytes(rng.randrange(1, 17))
        elif op == "replace":
            i = rng.choice([i for i, m in enumerate(metas) if not m.is_signer])
            key = rng.choice([k for k in self.w.pool if k != metas[i].pubkey and k not in self.by_key])
            metas[i] = AccountMeta(key, is_signer=False, is_writable=metas[i].is_writable)
        elif op == "swap":
            i, j = rng.sample(range(len(metas)), 2)
            while metas[i].pubkey == metas[j].pubkey:
                i, j = rng.sample(range(len(metas)), 2)
            metas[i], metas[j] = (AccountMeta(metas[j].pubkey, metas[i].is_signer, metas[i].is_writable),
                                  AccountMeta(metas[i].pubkey, metas[j].is_signer, metas[j].is_writable))
            signers = [kp for kp in signers if any(m.pubkey == kp.pubkey() and m.is_signer for m in metas)]
        elif op == "unsign":
            i = next(i for i, m in enumerate(metas) if m.is_signer)
            metas[i] = AccountMeta(metas[i].pubkey, is_signer=False, is_writable=metas[i].is_writable)
            signers = []
        elif op == "stranger":
            s = self.w.keys["stranger"]
            i = next(i for i, m in enumerate(metas) if m.is_signer)
            metas[i] = AccountMeta(s.pubkey(), is_signer=True, is_writable=metas[i].is_writable)
            signers = [s]
        elif op == "bad_input":
            raw = bytearray(data[10:18])
            if rng.random() < 0.5:
                raw[rng.randrange(0, 4)] = 0x80
            else:
                struct.pack_into("<H", raw, 6, rng.randrange(1 << 12, 1 << 16))
            data = data[:10] + bytes(raw)
        elif op == "other_slot":
            data = data[:1] + bytes([1]) + data[2:]
        elif op == "stale_frame":
            data = data[:2] + struct.pack("<Q", rng.choice([self.w.frame - 1, self.w.frame + 121, 2**64 - 1])) + data[10:]
        elif op == "wrong_frame":
            f = rng.choice([0, self.w.frame + 1, self.w.frame + rng.randrange(2, 1 << 20), 2**64 - 1])
            data = data[:1] + struct.pack("<Q", f) + data[9:]
        elif op in ("other_session", "look_alike"):
            table = self.w.counterpart if op == "other_session" else self.w.look_alikes
            i = rng.choice([i for i, m in enumerate(metas) if m.pubkey in table])
            metas[i] = AccountMeta(table[metas[i].pubkey], metas[i].is_signer, metas[i].is_writable)
        elif op == "same_twice":
            i, j = rng.sample(range(len(metas)), 2)
            while metas[i].pubkey == metas[j].pubkey:
                i, j = rng.sample(range(len(metas)), 2)
            metas[j] = AccountMeta(metas[i].pubkey, metas[j].is_signer, metas[j].is_writable)
            signers = [kp for kp in signers if any(m.pubkey == kp.pubkey() and m.is_signer for m in metas)]
        elif op == "finalized_model":
            ix2 = I.upload_weights(self.w.pid, self.w.keys["authority"].pubkey(), FINAL, 0, rng.randrange(0, 1000),
                                   rng.randbytes(rng.randrange(1, 200)))
            data, metas = bytes(ix2.data), list(ix2.accounts)
        return _with(ix, data, metas), signers, True

    # -- running --------------------------------------------------------------------------

    def run_case(self) -> None:
        w = self.w
        ix, signers, must_fail = self.random_payload() if self.rng.random() < 0.5 else self.mutate_valid()
        ix, signers = self._signable(ix)
        data = bytes(ix.data)
        self.sent.add("callback" if data[:8] == bytes(D.UNDELEGATE_CALLBACK) else (data[0] if data else -1))
        keys = {m.pubkey for m in ix.accounts} | set(w.immutable)
        keys.discard(w.be.payer.pubkey())
        keys.discard(CLOCK)  # the backend keeps the Clock at wall time: it moves between snapshots
        before = w.snapshot(keys)
        out = w.be.send([ix], signers, cu_limit=1_400_000)
        after = w.snapshot(keys)
        self.counts["cases"] += 1
        err = out.error or ""
        logs = "\n".join(out.logs)
        label = "ok" if out.ok else (E.describe(err) if E.custom_code(err) is not None
                                     else (re.findall(r"[A-Z][A-Za-z]+", err) or ["?"])[-1])
        self.outcomes[label] = self.outcomes.get(label, 0) + 1
        if not out.ok:
            clean = ("Custom(" in err or "NotEnoughAccountKeys" in err or "MissingRequiredSignature" in err
                     or "InvalidArgument" in err or "AccountBorrowFailed" in err
                     or "PrivilegeEscalation" in err or "ExternalAccount" in err or "ReadonlyDataModified" in err
                     or "InvalidAccountData" in err or "InsufficientFunds" in err
                     or "ProgramAccountNotFound" in err or "AccountNotFound" in err
                     or "InvalidProgramForExecution" in err or "Unsupported" in err
                     or "AccountLoadedTwice" in err or "ComputationalBudgetExceeded" in err
                     or "exceeded CUs meter" in logs or "AccountDataSizeChanged" in err
                     or "InvalidRealloc" in err or "ModifiedProgramId" in err or "InvalidAccountOwner" in err)
            out_of_cu = "exceeded CUs meter" in logs  # a crank asking for too many steps: atomic failure
            if ("panicked" in logs or "Access violation" in logs or not clean
                    or ("ProgramFailedToComplete" in err and not out_of_cu)):
                self.counts["panics"] += 1
                self.findings.append(f"panic? {ix.data[:1].hex()} {err} | {logs[-300:]}")
            if after != before:
                self.counts["state_changed_on_failure"] += 1
                self.findings.append(f"state changed on failure: {bytes(ix.data)[:12].hex()} {err}")
            return
        bad = self._violations(before, after, signers, ix)
        if must_fail or bad:
            self.counts["unexpected_success"] += 1
            self.findings.append(f"unexpected success: {bytes(ix.data)[:20].hex()} must_fail={must_fail} {bad}")
        w.restore()

    def _signable(self, ix: Instruction) -> tuple[Instruction, list[Keypair]]:
        """Only keys we hold can sign: clear the signer flag of any other, and sign with
        exactly the keys flagged (a transaction cannot be built otherwise)."""
        metas, signers = [], []
        flagged = {m.pubkey for m in ix.accounts if m.is_signer and m.pubkey in self.by_key}
        for m in ix.accounts:
            metas.append(AccountMeta(m.pubkey, is_signer=m.pubkey in flagged, is_writable=m.is_writable))
        signers = [self.by_key[k] for k in flagged]
        return _with(ix, None, metas), signers

    def _violations(self, before, after, signers, ix: Instruction) -> list[str]:
        w = self.w
        bad = [f"immutable {k} changed" for k in w.immutable if _frozen(before.get(k)) != _frozen(after.get(k))]
        signed = {kp.pubkey() for kp in signers}
        for key, kp in self.by_key.items():
            if key in before and key not in signed and before[key] and after[key] and after[key][0] < before[key][0]:
                bad.append(f"wallet {key} lost lamports without signing")
        # delegate_session hands the session's three PDAs to the delegation program, nothing else
        delegated = set(pda.session_accounts(w.pid, WAITING)) if bytes(ix.data)[:1] == bytes([D.DELEGATE_SESSION]) else set()
        for k, v in after.items():
            if v is not None and v[2] not in (w.pid, SYSTEM_PROGRAM) and before.get(k) and before[k][2] == w.pid:
                if not (k in delegated and v[2] == D.DELEGATION_PROGRAM):
                    bad.append(f"{k} reassigned to {v[2]}")
        s = pda.session(w.pid, ACTIVE)
        if before.get(s) and after.get(s) and before[s][1][32:96] != after[s][1][32:96]:
            bad.append("active session's players changed")
        return bad


def _frozen(snap):
    """A finalized model's snapshot without the open-session count (create/close_session keep it)."""
    if snap is None:
        return None
    lamports, data, owner = snap
    return lamports, data[:MANIFEST_COUNTER.start] + data[MANIFEST_COUNTER.stop:], owner


def run(cases: int, seed: int, so_path: str | Path = DEFAULT_SO, progress: bool = False) -> dict:
    world = World(so_path, seed)
    fz = Fuzzer(world, seed)
    it = range(cases)
    if progress:
        from tqdm import tqdm
        it = tqdm(it, desc="fuzz", unit="case")
    for _ in it:
        fz.run_case()
    missed = [d for d in PROGRAM_DISCS if d not in fz.sent] + ([] if "callback" in fz.sent else ["callback"])
    return {**fz.counts, "program_instructions_missed": missed,
            "substitutions": {k: fz.kinds.get(k, 0) for k in ("other_session", "look_alike", "same_twice")},
            "mutations": dict(sorted(fz.kinds.items())),
            "outcomes": dict(sorted(fz.outcomes.items(), key=lambda kv: -kv[1])), "findings": fz.findings[:20]}
