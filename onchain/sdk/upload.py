"""Resumable cartridge upload through the real instructions: init_manifest, then every
weights chunk that is not already on chain byte for byte, then finalize_weights.

Works against anything that can read an account and send a transaction (`Chain`), so
the embedded backend and, later, an RPC backend share it."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable, Protocol

from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from worldmodel import cartridge as C

from onchain.sdk import accounts as A
from onchain.sdk import instructions as I
from onchain.sdk import pda
from onchain.sdk.backend import BackendError, TxOutcome


class Chain(Protocol):
    program_id: Pubkey

    def account_data(self, key: Pubkey) -> bytes | None: ...

    def send(self, ixs: list[Instruction], signers: list[Keypair], cu_limit: int | None = None) -> TxOutcome: ...


MAX_GROWTH = 10_240  # bytes a shard may grow by in one instruction (onchain/program/src/sys.rs)


def waves(todo: list[tuple[int, int, Instruction]], lengths: dict[int, int]) -> list[list]:
    """Split the chunks to send into waves that a chain can take all at once (send_pipelined):
    a shard grows by at most MAX_GROWTH bytes per instruction, so in one wave every chunk of a
    shard ends within MAX_GROWTH of what the shard held before the wave; then they execute in
    any order. On a real validator each wave costs about one slot instead of each chunk."""
    out: list[list] = []
    rest = list(todo)
    frontier = dict(lengths)
    while rest:
        wave = [t for t in rest if t[1] <= frontier.get(t[0], 0) + MAX_GROWTH]
        if not wave:  # a chunk beyond reach (cannot happen with ascending chunks of <= MAX_GROWTH)
            wave = rest[:1]
        ids = {id(t) for t in wave}
        rest = [t for t in rest if id(t) not in ids]
        for shard, end, _ in wave:
            frontier[shard] = max(frontier.get(shard, 0), end)
        out.append(wave)
    return out


@dataclasses.dataclass
class UploadReport:
    model_id: int
    chunks_total: int
    chunks_sent: int
    finalized_now: bool
    txs: int
    cu: int


def model_id_of(manifest: bytes) -> int:
    """A model's id on chain taken from its manifest (which holds the weights' sha256): every host
    of the same model finds it uploaded, and another model never has its id."""
    import hashlib
    return int.from_bytes(hashlib.sha256(manifest).digest()[:8], "little") >> 1


def load_cartridge_bytes(cart_or_dir) -> tuple[bytes, bytes]:
    """(manifest, weights) from a Cartridge or a model directory (manifest.bin, weights.bin)."""
    if isinstance(cart_or_dir, C.Cartridge):
        w = cart_or_dir.weights_bytes()
        return cart_or_dir.manifest_bytes(w), w
    d = Path(cart_or_dir)
    if not (d / "manifest.bin").is_file() or not (d / "weights.bin").is_file():
        raise FileNotFoundError(f"{d}: expected manifest.bin and weights.bin (worldmodel.cartridge.save)")
    return (d / "manifest.bin").read_bytes(), (d / "weights.bin").read_bytes()


def account_sizes(manifest: bytes, weights: bytes) -> list[int]:
    """Bytes of each account an upload creates (what its rent is paid on): the manifest, with a
    multi-transaction finalize's progress after it, then one account per weights shard."""
    return [A.ACCOUNT_HEADER + len(manifest) + A.HASH_PROGRESS_LEN] + \
        [A.ACCOUNT_HEADER + len(shard) for shard in C.shards(weights)]


def chunk_plan(weights: bytes, chunk: int = I.UPLOAD_CHUNK) -> list[tuple[int, int, bytes]]:
    """(shard, offset in shard, bytes) for the whole blob, in ascending order."""
    out = []
    for k, shard in enumerate(C.shards(weights)):
        out += [(k, off, shard[off:off + chunk]) for off in range(0, len(shard), chunk)]
    return out


def upload(chain: Chain, authority: Keypair, model_id: int, manifest: bytes, weights: bytes,
           progress: Callable[[int], None] | None = None) -> UploadReport:
    """Upload (or resume uploading) a cartridge and finalize it. `progress(n)` is called
    with the number of chunks handled (sent or skipped) after each one."""
    pid = chain.program_id
    rep = UploadReport(model_id, 0, 0, False, 0, 0)

    def send(ix: Instruction, cu_limit: int | None = None) -> None:
        out = chain.send([ix], [authority], cu_limit)
        rep.txs += 1
        rep.cu += out.cu
        if not out.ok:
            raise BackendError(f"{ix.data[0]=} failed: {out.error}")

    have = A.decode_manifest(chain.account_data(pda.manifest(pid, model_id)) or b"")
    if have is None:
        send(I.init_manifest(pid, authority.pubkey(), model_id, manifest))
    elif have.manifest != manifest:
        raise BackendError(f"model {model_id} already exists with a different manifest")
    elif have.authority != authority.pubkey():
        raise BackendError(f"model {model_id} belongs to {have.authority}")
    plan = chunk_plan(weights)
    rep.chunks_total = len(plan)
    if have is not None and have.finalized:
        if progress:
            progress(len(plan))
        return rep
    n_shards = len(C.shards(weights))
    hashing = have is not None and have.hashed > 0  # an interrupted multi-transaction finalize
    on_chain: dict[int, bytes] = {}
    todo: list[tuple[int, int, Instruction]] = []  # (shard, end, instruction), in ascending order
    for shard, off, chunk in plan:
        if shard not in on_chain:
            w = A.decode_weights(chain.account_data(pda.weights(pid, model_id, shard)) or b"")
            on_chain[shard] = w.data if w is not None else b""
        if on_chain[shard][off:off + len(chunk)] != chunk:
            todo.append((shard, off + len(chunk), I.upload_weights(pid, authority.pubkey(), model_id, shard, off, chunk)))
        elif progress:
            progress(1)
    if todo and hashing:  # uploads are refused while hashing is under way: reset it first
        send(I.finalize_weights(pid, authority.pubkey(), model_id, n_shards, 0))
    pipelined = getattr(chain, "send_pipelined", None)
    for wave in (waves(todo, {k: len(v) for k, v in on_chain.items()}) if pipelined else [[t] for t in todo]):
        ixs = [ix for _, _, ix in wave]
        outs = pipelined([([ix], [authority]) for ix in ixs]) if pipelined else [chain.send(ixs, [authority])]
        for ix, out in zip(ixs, outs):
            rep.txs += 1
            rep.cu += out.cu
            if not out.ok:
                raise BackendError(f"{ix.data[0]=} failed: {out.error}")
        rep.chunks_sent += len(ixs)
        if progress:
            progress(len(ixs))
    if len(weights) <= I.FINALIZE_MAX_BYTES:
        # the sha256 syscall costs ~1 CU per 2 bytes: ask for the full 1.4M CU
        send(I.finalize_weights(pid, authority.pubkey(), model_id, n_shards), cu_limit=1_400_000)
    else:
        # the program's own SHA-256, FINALIZE_STEP_BYTES per transaction, resumable
        man_key = pda.manifest(pid, model_id)
        while not A.decode_manifest(chain.account_data(man_key) or b"").finalized:
            send(I.finalize_weights(pid, authority.pubkey(), model_id, n_shards, I.FINALIZE_STEP_BYTES),
                 cu_limit=1_400_000)
    rep.finalized_now = True
    return rep
