"""Account data codecs, mirroring onchain/program/src/state.rs (byte offsets there)."""
from __future__ import annotations

import struct

import numpy as np

from . import steps

VERSION = 1
DISC_MANIFEST, DISC_WEIGHTS, DISC_SESSION, DISC_HIDDEN, DISC_INPUT = 1, 2, 3, 4, 5
ACCOUNT_HEADER = 64
SESSION_LEN = 184
INPUT_LEN = 32
FIGHTER_OFFSET = (120, 152)
CONTROLLER_OFFSET = (16, 24)


def manifest_account(model_id: int, authority: bytes, manifest: bytes, finalized: bool = True) -> bytes:
    head = struct.pack("<BBBBI", DISC_MANIFEST, VERSION, int(finalized), 0, 0)
    head += struct.pack("<Q", model_id) + authority + struct.pack("<IIQ", 0, len(manifest), 0)
    assert len(head) == ACCOUNT_HEADER
    return head + manifest


def weights_account(model_id: int, shard: bytes, weights_len: int | None = None, index: int = 0) -> bytes:
    """One shard of the weights blob (cartridge.shards) behind the 64-byte header."""
    total = len(shard) if weights_len is None else weights_len
    head = struct.pack("<BB6xQIH", DISC_WEIGHTS, VERSION, model_id, total, index)
    return head.ljust(ACCOUNT_HEADER, b"\0") + shard


def session_account(session_id: int, model_id: int, frame: int, fighters: np.ndarray,
                    players: tuple[bytes, bytes] = (bytes(32), bytes(32)), status: int = 1) -> bytes:
    b = bytearray(SESSION_LEN)
    struct.pack_into("<BBBBIQQQ", b, 0, DISC_SESSION, VERSION, status, 0, 0, session_id, model_id, frame)
    b[32:64], b[64:96] = players
    for p in range(2):
        b[FIGHTER_OFFSET[p]:FIGHTER_OFFSET[p] + 32] = np.asarray(fighters[p], dtype="<i2").tobytes()
    return bytes(b)


def hidden_account(session_id: int, model_id: int, frame: int, preset, hidden: np.ndarray) -> bytes:
    b = bytearray(steps.hidden_len(preset))
    struct.pack_into("<BBHIQQQ", b, 0, DISC_HIDDEN, VERSION, 0, 0, session_id, model_id, frame)
    off = steps.hidden_offsets(preset)["h"]
    b[off:] = np.ascontiguousarray(hidden, dtype="<i4").tobytes()
    return bytes(b)


def encode_controller(c) -> bytes:
    sx, sy, cx, cy, l, r, buttons = (int(v) for v in list(c)[:7])
    return struct.pack("<bbbbBBH", sx, sy, cx, cy, l, r, buttons)


def input_account(session_id: int, ctrl: np.ndarray) -> bytes:
    head = struct.pack("<BB6xQ", DISC_INPUT, VERSION, session_id)
    return head + encode_controller(ctrl[0]) + encode_controller(ctrl[1])


# -- decoders --------------------------------------------------------------------

def session_frame(data: bytes) -> int:
    return struct.unpack_from("<Q", data, 24)[0]


def session_fighters(data: bytes) -> np.ndarray:
    return np.stack([np.frombuffer(data, "<i2", 16, FIGHTER_OFFSET[p]) for p in range(2)]).astype(np.int16)


def hidden_next_step(data: bytes) -> int:
    return struct.unpack_from("<H", data, 2)[0]


def hidden_state(data: bytes, preset) -> np.ndarray:
    shape = (preset.n_layers, preset.d_inner, preset.d_state)
    off = steps.hidden_offsets(preset)["h"]
    return np.frombuffer(data, "<i4", int(np.prod(shape)), off).reshape(shape).astype(np.int32)
