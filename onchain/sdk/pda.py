"""Program-derived addresses of the world-model program's accounts (seeds in
onchain/program/src/state.rs).

Each address is memoised: find_program_address hashes and checks the curve up to 255 times, and a
crank or a player derives the same handful of addresses for every transaction of every frame
(it showed up in a profile of the crank)."""
from __future__ import annotations

import functools
import struct

from solders.pubkey import Pubkey


def _u64(v: int) -> bytes:
    return struct.pack("<Q", v)


@functools.lru_cache(maxsize=4096)
def manifest(program_id: Pubkey, model_id: int) -> Pubkey:
    return Pubkey.find_program_address([b"manifest", _u64(model_id)], program_id)[0]


@functools.lru_cache(maxsize=4096)
def weights(program_id: Pubkey, model_id: int, shard: int) -> Pubkey:
    return Pubkey.find_program_address([b"weights", _u64(model_id), struct.pack("<H", shard)], program_id)[0]


@functools.lru_cache(maxsize=4096)
def session(program_id: Pubkey, session_id: int) -> Pubkey:
    return Pubkey.find_program_address([b"session", _u64(session_id)], program_id)[0]


@functools.lru_cache(maxsize=4096)
def hidden(program_id: Pubkey, session_id: int) -> Pubkey:
    return Pubkey.find_program_address([b"hidden", _u64(session_id)], program_id)[0]


@functools.lru_cache(maxsize=4096)
def input_buffer(program_id: Pubkey, session_id: int) -> Pubkey:
    return Pubkey.find_program_address([b"input", _u64(session_id)], program_id)[0]


def session_accounts(program_id: Pubkey, session_id: int) -> tuple[Pubkey, Pubkey, Pubkey]:
    """(SessionState, HiddenState, InputBuffer)."""
    return session(program_id, session_id), hidden(program_id, session_id), input_buffer(program_id, session_id)


def session_bumps(program_id: Pubkey, session_id: int) -> tuple[int, int, int]:
    """The bumps of (SessionState, HiddenState, InputBuffer): SessionState keeps all three."""
    return tuple(Pubkey.find_program_address([seed, _u64(session_id)], program_id)[1]
                 for seed in (b"session", b"hidden", b"input"))


def manifest_bump(program_id: Pubkey, model_id: int) -> int:
    return Pubkey.find_program_address([b"manifest", _u64(model_id)], program_id)[1]


def weights_bump(program_id: Pubkey, model_id: int, shard: int) -> int:
    return Pubkey.find_program_address([b"weights", _u64(model_id), struct.pack("<H", shard)], program_id)[1]
