"""Account data codecs, mirroring onchain/program/src/state.rs (byte offsets there)."""
from __future__ import annotations

import dataclasses
import struct

import numpy as np
from solders.pubkey import Pubkey

from worldmodel.cartridge import SHARD_BYTES

from onchain.sdk import steps
from onchain.sdk.wire import ControllerInput, SessionView

VERSION = 2
DISC_MANIFEST, DISC_WEIGHTS, DISC_SESSION, DISC_HIDDEN, DISC_INPUT = 1, 2, 3, 4, 5
ACCOUNT_HEADER = 64
HASH_PROGRESS_LEN = 48  # after the manifest bytes: a multi-transaction finalize's progress
SESSION_LEN = 296
INPUT_LEN = 48
FIGHTER_OFFSET = (120, 152)
CONTROLLER_OFFSET = (16, 24)
INPUT_FRAME_OFFSET = (32, 40)
CRANK_OFFSET = 4  # SessionState: 1 while the ER's scheduler cranks the session (schedule_crank)
CRANK_SCHEDULED = 1
HIDDEN_BUMP_OFFSET, INPUT_BUMP_OFFSET = 5, 6  # SessionState: bumps of the session's other PDAs
LAST_ACTIVE_OFFSET = 112  # SessionState: i64 unix seconds of the last create / join / frame
VALIDATOR_OFFSET = 184  # SessionState: the ER validator the session may be delegated to
CRANK_KEY_OFFSET = 216  # SessionState: who may crank besides the players
STAGE_OFFSET = 248  # SessionState: u8 Slippi stage id, then u8 x 2 Slippi character ids
CHARACTER_OFFSET = (249, 250)
RULES_OFFSET, RULES_LEN = 256, 40  # SessionState: the rules' state (worldmodel/rules.py)
# create_session's defaults: Final Destination, Fox vs Fox (Slippi ids; worldmodel/stages.py)
DEFAULT_STAGE, DEFAULT_CHARACTERS = 32, (2, 2)
NO_STAGE = 0  # SessionState stage byte: the model alone, no rules (only placed directly, never created)
# ModelManifest: the context byte and the supported sets (onchain/program/src/instructions/create_session.rs)
CONTEXT_FLAGS, SUPPORTED_STAGES, SUPPORTED_CHARACTERS = 136, 137, 140
CONTEXT_DECLARES_SUPPORT = 1
OPEN_SESSIONS_OFFSET = 48  # ModelManifest: u32 sessions of the model not closed yet
# Protocol constants (state.rs): an input stays in force this many frames, may be sent
# this far ahead, and a session idle this many seconds (Clock unix_timestamp) may be ended or
# closed by anyone.
INPUT_HOLD_FRAMES = 30
MAX_INPUT_LEAD = 120
CLOSE_TIMEOUT_SECS = 600


def manifest_account(model_id: int, authority: bytes, manifest: bytes, finalized: bool = True,
                     bump: int = 0) -> bytes:
    """A ModelManifest; `bump` must be the PDA's (pda.manifest_bump) for the program to accept it."""
    head = struct.pack("<BBBBI", DISC_MANIFEST, VERSION, int(finalized), bump, 0)
    head += struct.pack("<Q", model_id) + authority + struct.pack("<IIQ", 0, len(manifest), 0)
    assert len(head) == ACCOUNT_HEADER
    return head + manifest


def weights_account(model_id: int, shard: bytes, weights_len: int | None = None, index: int = 0,
                    bump: int = 0) -> bytes:
    """One shard of the weights blob (cartridge.shards) behind the 64-byte header."""
    total = len(shard) if weights_len is None else weights_len
    head = struct.pack("<BBxB4xQIH", DISC_WEIGHTS, VERSION, bump, model_id, total, index)
    return head.ljust(ACCOUNT_HEADER, b"\0") + shard


def session_account(session_id: int, model_id: int, frame: int, fighters: np.ndarray,
                    players: tuple[bytes, bytes] = (bytes(32), bytes(32)), status: int = 1,
                    bumps: tuple[int, int, int] = (0, 0, 0), validator: bytes = bytes(32),
                    crank_key: bytes = bytes(32), stage: int = NO_STAGE,
                    characters: tuple[int, int] = DEFAULT_CHARACTERS) -> bytes:
    """A SessionState; `bumps` (session, hidden, input) must be the PDAs' (pda.session_bumps).
    `stage` NO_STAGE runs the model alone (placed directly: create_session always names a stage);
    a stage's rules start from `fighters`, as create_session starts them."""
    b = bytearray(SESSION_LEN)
    struct.pack_into("<BBBBBBBBQQQ", b, 0, DISC_SESSION, VERSION, status, bumps[0], 0, bumps[1], bumps[2], 0,
                     session_id, model_id, frame)
    b[32:64], b[64:96] = players
    b[VALIDATOR_OFFSET:VALIDATOR_OFFSET + 32] = bytes(validator)
    b[CRANK_KEY_OFFSET:CRANK_KEY_OFFSET + 32] = bytes(crank_key)
    b[STAGE_OFFSET], b[CHARACTER_OFFSET[0]], b[CHARACTER_OFFSET[1]] = stage, *characters
    if stage != NO_STAGE:
        from worldmodel import rules as R
        st = R.new_state()
        R.init_state(np.asarray(fighters, dtype=np.int16), st)
        b[RULES_OFFSET:RULES_OFFSET + RULES_LEN] = bytes(st)
    for p in range(2):
        b[FIGHTER_OFFSET[p]:FIGHTER_OFFSET[p] + 32] = np.asarray(fighters[p], dtype="<i2").tobytes()
    return bytes(b)


def hidden_account(session_id: int, model_id: int, frame: int, preset, hidden: np.ndarray) -> bytes:
    b = bytearray(steps.hidden_len(preset))
    struct.pack_into("<BBHIQQQ", b, 0, DISC_HIDDEN, VERSION, 0, len(b), session_id, model_id, frame)
    off = steps.hidden_offsets(preset)["h"]
    b[off:] = np.ascontiguousarray(hidden, dtype="<i4").tobytes()
    return bytes(b)


def encode_controller(c) -> bytes:
    sx, sy, cx, cy, l, r, buttons = (int(v) for v in list(c)[:7])
    return struct.pack("<bbbbBBH", sx, sy, cx, cy, l, r, buttons)


def input_account(session_id: int, ctrl: np.ndarray, frames: tuple[int, int] = (0, 0), bump: int = 0) -> bytes:
    """An InputBuffer whose controllers were submitted for `frames` (see the input rule
    in state.rs: they read as neutral INPUT_HOLD_FRAMES frames later)."""
    head = struct.pack("<BBxB4xQ", DISC_INPUT, VERSION, bump, session_id)
    return head + encode_controller(ctrl[0]) + encode_controller(ctrl[1]) + struct.pack("<QQ", *frames)


# -- decoders --------------------------------------------------------------------

def session_frame(data: bytes) -> int:
    return struct.unpack_from("<Q", data, 24)[0]


def session_crank_scheduled(data: bytes) -> bool:
    return len(data) > CRANK_OFFSET and data[CRANK_OFFSET] == CRANK_SCHEDULED


def session_fighters(data: bytes) -> np.ndarray:
    return np.stack([np.frombuffer(data, "<i2", 16, FIGHTER_OFFSET[p]) for p in range(2)]).astype(np.int16)


def hidden_next_step(data: bytes) -> int:
    return struct.unpack_from("<H", data, 2)[0]


def hidden_state(data: bytes, preset) -> np.ndarray:
    shape = (preset.n_layers, preset.d_inner, preset.d_state)
    off = steps.hidden_offsets(preset)["h"]
    return np.frombuffer(data, "<i4", int(np.prod(shape)), off).reshape(shape).astype(np.int32)


# -- typed decoders (dataclasses); each returns None for data that is not such an account --

@dataclasses.dataclass(frozen=True)
class Manifest:
    model_id: int
    authority: Pubkey
    finalized: bool
    manifest: bytes  # the cartridge manifest (worldmodel/cartridge.py)
    hashed: int = 0  # bytes a multi-transaction finalize has hashed so far
    open_sessions: int = 0  # sessions of this model not closed yet (close_model needs 0)

    @property
    def weights_len(self) -> int:
        return struct.unpack_from("<I", self.manifest, 28)[0]

    @property
    def weights_sha256(self) -> bytes:
        return self.manifest[32:64]

    @property
    def shard_count(self) -> int:
        return -(-self.weights_len // SHARD_BYTES)


@dataclasses.dataclass(frozen=True)
class WeightsShard:
    model_id: int
    weights_len: int
    shard: int
    data: bytes  # the part of the shard uploaded so far


@dataclasses.dataclass(frozen=True)
class Hidden:
    session_id: int
    model_id: int
    frame: int
    next_step: int
    full_len: int
    length: int

    @property
    def ready(self) -> bool:
        return self.length == self.full_len


@dataclasses.dataclass(frozen=True)
class Inputs:
    session_id: int
    controllers: tuple[ControllerInput, ControllerInput]
    frames: tuple[int, int]


def _header(data: bytes, disc: int, min_len: int) -> bool:
    return len(data) >= min_len and data[0] == disc and data[1] == VERSION


def decode_manifest(data: bytes) -> Manifest | None:
    if not _header(data, DISC_MANIFEST, ACCOUNT_HEADER):
        return None
    (n,) = struct.unpack_from("<I", data, 52)
    if ACCOUNT_HEADER + n > len(data) or n < 64:
        return None
    end = ACCOUNT_HEADER + n
    hashed = struct.unpack_from("<Q", data, end)[0] if len(data) >= end + 8 else 0
    return Manifest(struct.unpack_from("<Q", data, 8)[0], Pubkey.from_bytes(data[16:48]), data[2] == 1,
                    bytes(data[ACCOUNT_HEADER:end]), hashed,
                    struct.unpack_from("<I", data, OPEN_SESSIONS_OFFSET)[0])


def decode_weights(data: bytes) -> WeightsShard | None:
    if not _header(data, DISC_WEIGHTS, ACCOUNT_HEADER):
        return None
    model_id, total, shard = struct.unpack_from("<QIH", data, 8)
    return WeightsShard(model_id, total, shard, bytes(data[ACCOUNT_HEADER:]))


def decode_session(data: bytes) -> SessionView | None:
    if not _header(data, DISC_SESSION, SESSION_LEN):
        return None
    status = data[2]
    session_id, model_id, frame = struct.unpack_from("<QQQ", data, 8)
    players = (Pubkey.from_bytes(data[32:64]), Pubkey.from_bytes(data[64:96]))
    lif0, lif1, last_active = struct.unpack_from("<QQq", data, 96)
    fighters = tuple(tuple(int(v) for v in struct.unpack_from("<16h", data, FIGHTER_OFFSET[p])) for p in range(2))
    return SessionView(session_id, model_id, status, frame, players, (lif0, lif1), last_active, fighters,
                       Pubkey.from_bytes(data[VALIDATOR_OFFSET:VALIDATOR_OFFSET + 32]),
                       Pubkey.from_bytes(data[CRANK_KEY_OFFSET:CRANK_KEY_OFFSET + 32]),
                       data[STAGE_OFFSET], (data[CHARACTER_OFFSET[0]], data[CHARACTER_OFFSET[1]]),
                       bytes(data[RULES_OFFSET:RULES_OFFSET + RULES_LEN]))


def decode_hidden(data: bytes) -> Hidden | None:
    if not _header(data, DISC_HIDDEN, steps.HIDDEN_HEADER):
        return None
    next_step, full_len, session_id, model_id, frame = struct.unpack_from("<HIQQQ", data, 2)
    return Hidden(session_id, model_id, frame, next_step, full_len, len(data))


def decode_inputs(data: bytes) -> Inputs | None:
    if not _header(data, DISC_INPUT, INPUT_LEN):
        return None
    (session_id,) = struct.unpack_from("<Q", data, 8)
    ctrls = tuple(ControllerInput.decode(data[o:o + 8]) for o in CONTROLLER_OFFSET)
    return Inputs(session_id, ctrls, struct.unpack_from("<QQ", data, 32))


def with_supported(manifest: bytes, stages: list[int] | None = None, characters: list[int] | None = None) -> bytes:
    """A cartridge manifest that declares the stages (Slippi ids) and characters it supports;
    create_session then refuses any other (UnsupportedContext). None: every stage / character."""
    from worldmodel.stages import CHARACTERS, STAGES
    order = [st.slippi_id for st in STAGES]  # the order of rules.rs's STAGES
    m = bytearray(manifest)
    m[CONTEXT_FLAGS] |= CONTEXT_DECLARES_SUPPORT  # keeps how the model is fed (bits 1, 2)
    m[SUPPORTED_STAGES] = sum(1 << order.index(s) for s in (order if stages is None else stages))
    chars = range(len(CHARACTERS)) if characters is None else characters
    struct.pack_into("<I", m, SUPPORTED_CHARACTERS, sum(1 << c for c in chars))
    return bytes(m)
