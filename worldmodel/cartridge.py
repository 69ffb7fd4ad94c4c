"""The cartridge: the byte format of a quantized world model.

A cartridge is two byte strings: a small **manifest** (dimensions, quantization
scalars, the feature spec, sha256 of the weights) and a **weights blob** laid
out for the on-chain kernels. Both are little-endian. The integer forward pass
that consumes them is `worldmodel.intref`; the Rust program reads the same
bytes (onchain/program/src/model.rs).

Manifest, layout version 1 (offsets in bytes)::

    0    8   magic b"MELEEWM1"
    8    u16 layout_version            (1)
    10   u16 weight_layout             (1 = row-major i8, the baseline kernel;
                                        2 = lane words, the SWAR kernel; see below)
    12   u16 d_model        D
    14   u16 d_inner        E          (= n_heads * headdim)
    16   u16 d_state        N
    18   u16 headdim        P
    20   u16 n_layers       L
    22   u16 in_dim                    (features, padded to a multiple of 8)
    24   u16 out_dim                   (head outputs)
    26   u16 n_fields                  (16, per player)
    28   u32 weights_len
    32   32  sha256(weights)
    64   16 x 4  field spec: enc_kind, enc_arg, dec_kind, dec_arg   (see FIELDS, FieldSpec)
    128  32  global quant: u8 s_enc, u8 s_head, u8 s_norm_f, u8 0, u32 eps_f,
             136 u8 context flags, 137 u8 supported stages, 138 u8 hit floor, 139 0,
             140 u32 supported characters, 144 16 x 0   (see "Session context")
    160  L x 32 layer quant:
             0  u32 eps          RMSNorm epsilon in residual units^2 (>= 1)
             4  u8  s_norm       xn = r * inv_rms * gain >> s_norm
             5  u8  s_in         in_proj requant shift
             6  u8  s_u          dbx = dt * x * u_mult >> s_u
             7  u8  s_y          y   = (y_acc * m_y + x * D) >> s_y
             8  u8  s_g          gy  = y * silu(z) * m_g >> s_g
             9  u8  s_out        out_proj requant shift (into the residual)
             10  2  zero
             12 i32 m_y
             16 i32 m_g
             20 12  zero

Weights blob (every section starts 8-byte aligned; the order is the same for both
weight layouts, only the Linear sections differ)::

    softplus LUT   1024 x u32   softplus((i - 512) / 64) in Q20
    exp LUT        1024 x u32   exp(-k / 64) in Q20
    encoder        Linear(D x in_dim)
    per layer:     norm gain  D x i32
                   in_proj    Linear(R x D), R = 2E + 2N + H rows: z | x | B | C | dt
                   A          H x u32   |A| in Q16 (A = -exp(A_log))
                   D_skip     H x i64
                   u_mult     H x i32
                   silu_x     256 x i8  (LUT indexed by x_q + 128)
                   silu_z     256 x i8
                   out_proj   Linear(D x E)
    final norm     D x i32
    head           Linear(out_dim x D)

    Linear(rows x cols), weight_layout 1:
        W rows*cols x i8 row-major | bias rows x i32 | mult rows x i32
    Linear(rows x cols), weight_layout 2 (the `matvec_lanes` kernel):
        words  ceil(rows/12) * cols * 4 x i64   block b (rows 12b..12b+11), column c,
               word k: w[12b+3k][c] + w[12b+3k+1][c] * 2^21 + w[12b+3k+2][c] * 2^42
               (signed int8 weights; rows past the end are 0)
        bias   rows x i32 | mult rows x i32
    Each part of a Linear is one section (no section straddles a shard).

Session context (byte 136, flags; any other bit is refused, here and by the program):

    bit 0  CONTEXT_SUPPORT  the model supports only the stages in byte 137 (bit i:
                            CONTEXT_STAGES[i], the order of rules.STAGES) and the characters
                            in bytes 140..144 (bit c: Slippi character id c); without it, all.
    bit 1  CONTEXT_ONEHOT   the model is fed the session's stage and characters: after the 36
                            controller features come CONTEXT_FEATURES = 6 + 26 + 26 one-hot
                            features (127 for the hot one, as ENC_ONEHOT): the stage's index in
                            CONTEXT_STAGES, then player 1's and player 2's character id (a stage or
                            character outside the table, e.g. the harness's stage 0, is all 0),
                            and in_dim = in_dim_for(fields, context) counts them.

    bit 2  CONTEXT_RELATIVE the model is fed RELATIVE_FEATURES = 4 features that relate the fighters
                            to each other and to the session's stage (after the one-hot block when
                            there is one), in 1/16-unit state values v as sat8(v >> shift):
                              dx  = x2 - x1 >> 3,  dy = y2 - y1 >> 3   (half a unit, +-64 units)
                              gap1, gap2 = y - ground >> 2              (a quarter unit, +-32 units)
                            where ground is rules.ground_below: the highest surface under the
                            fighter's x that it stands on or above (the main stage down to
                            FLOOR_DEPTH below it, a platform down to SNAP below it); 127 when
                            there is none (off the stage, or a stage outside the table).
                            They are what a hit (how far apart) and a landing (how far down)
                            depend on, which the absolute x, y at 1-unit resolution leave to the
                            encoder to subtract.

    bit 3  CONTEXT_SAMPLED_HIT  the head ends in a hit branch, HIT_WIDTH = 7 outputs per fighter
                            after both fighters' field outputs (out_dim = out_dim_for(fields,
                            context)): the logit that the fighter is hit on the next frame (1/256
                            units), then what a hit sets, each decoded by its field's spec:
                            HIT_FIELDS = kb_vx, kb_vy, action_frame, percent, hitlag, hitstun.
                            The decode draws: u = hit_draw(session_id, frame, fighter) (16 bits,
                            splitmix64), p = hit_probability_q16(exp LUT, logit); on u < p those
                            fields come from the hit branch and the action is the argmax of the
                            action logits over HIT_ACTIONS only; otherwise the decode is as
                            without the bit. A hit is a coin flip of the model's own odds
                            (data_stats.hit_odds: most hits are less likely than not from what a
                            model sees), so a deterministic decode calls almost none of them.
                            Byte 138, the hit floor: a hit less likely than floor * 16 / 65536
                            is not drawn (truncated sampling: the long tail of tiny odds, which
                            a model overstates most, e.g. a fighter hit from across the stage);
                            0 without the bit.

One-hot because it is exact and free in integers (no table to look up, no geometry to
compute) and the encoder's extra columns cost D x 58 MACs a frame: a trained encoder column
per stage and per character is the same as an embedding row added to the residual.

All presets below keep D, E multiples of 8 so rows of W stay 8-byte aligned. Layout 2
costs 8 bytes per 3 weights (2.67x layout 1 for the matrices) and runs ~7x faster.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import struct
from pathlib import Path

import numpy as np

MAGIC = b"MELEEWM1"
LAYOUT_VERSION = 1
WEIGHT_LAYOUT_ROWMAJOR = 1
WEIGHT_LAYOUT_LANES = 2
WEIGHT_LAYOUTS = (WEIGHT_LAYOUT_ROWMAJOR, WEIGHT_LAYOUT_LANES)
MANIFEST_HEADER = 160
LAYER_QUANT_SIZE = 32
N_FIELDS = 16
LUT_SIZE = 1024
SOFTPLUS_STEP = 64  # softplus LUT input step: 1/64
SOFTPLUS_ZERO = 512  # LUT index of input 0.0
EXP_STEP = 64  # exp LUT step: 1/64
Q20 = 1 << 20
# The weights blob is stored in accounts of at most SHARD_BYTES of blob each (Solana caps an
# account at 10 MiB). No section straddles a shard boundary: the writer pads to the boundary
# first, so every kernel reads one contiguous slice.
SHARD_BYTES = 1 << 23
# run_inference takes at most this many weight shard accounts (model.rs MAX_SHARDS).
PROGRAM_MAX_SHARDS = 8

# Per-player state fields, in the order they live in SessionState (i16 each).
FIELDS = (
    "x", "y", "self_vx", "self_vy", "kb_vx", "kb_vy", "facing", "action",
    "action_frame", "percent", "stocks", "shield", "airborne", "jumps_left",
    "hitlag", "hitstun",
)
assert len(FIELDS) == N_FIELDS

# Feature encodings (state field -> int8 features)
ENC_NONE, ENC_SCALAR, ENC_ONEHOT = 0, 1, 2
# Output decodings (head outputs -> next state field)
DEC_KEEP, DEC_ABSOLUTE, DEC_DELTA, DEC_ARGMAX, DEC_SIGN = 0, 1, 2, 3, 4

# Controller features per player: stick x/y, c-stick x/y, l/2, r/2, 12 button bits.
CONTROLLER_FEATURES = 18
N_BUTTONS = 12

# Session context (manifest byte 136 and the masks after it; see the module doc).
CONTEXT_OFFSET, STAGE_MASK_OFFSET, HIT_FLOOR_OFFSET, CHARACTER_MASK_OFFSET = 136, 137, 138, 140
HIT_FLOOR_UNIT = 16  # the hit floor byte counts Q16 probability in steps of 16 (1/4096)
CONTEXT_SUPPORT = 1
CONTEXT_ONEHOT = 2
CONTEXT_RELATIVE = 4
CONTEXT_SAMPLED_HIT = 8
CONTEXT_KNOWN = CONTEXT_SUPPORT | CONTEXT_ONEHOT | CONTEXT_RELATIVE | CONTEXT_SAMPLED_HIT
# Slippi stage ids in the order of rules.STAGES / rules.rs STAGES (tests check it).
CONTEXT_STAGES = (32, 31, 28, 2, 3, 8)
N_CHARACTERS = 26  # Slippi external ids 0..25 (stages.CHARACTERS)
CONTEXT_FEATURES = len(CONTEXT_STAGES) + 2 * N_CHARACTERS
RELATIVE_FEATURES = 4  # dx, dy, gap1, gap2
REL_SHIFT_XY, REL_SHIFT_GAP = 3, 2
NO_GROUND = 127


# The hit branch (CONTEXT_SAMPLED_HIT): per fighter the hit logit, then these fields' outputs.
HIT_FIELDS = ("kb_vx", "kb_vy", "action_frame", "percent", "hitlag", "hitstun")
HIT_WIDTH = 1 + len(HIT_FIELDS)
# Action categories a drawn hit may decode to (worldmodel.dataset.ACTION_CATEGORIES indices:
# tumble, damage, downed, grabbed_thrown; 98 % of the replays' hit frames are in one of them).
HIT_ACTIONS = (10, 18, 21, 26)
HIT_LOGIT_UNITS = 256  # head output units per logit
_SPLITMIX_GAMMA, _SPLITMIX_M1, _SPLITMIX_M2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB
_U64 = (1 << 64) - 1


def hit_draw(session_id: int, frame: int, fighter: int) -> int:
    """The 16-bit uniform draw of `fighter`'s hit on `frame` of a session (forward.rs hit_draw):
    splitmix64's finalizer over session_id * gamma ^ (2 frame + fighter + 1)."""
    z = ((session_id * _SPLITMIX_GAMMA) & _U64) ^ ((2 * frame + fighter + 1) & _U64)
    z = ((z ^ (z >> 30)) * _SPLITMIX_M1) & _U64
    z = ((z ^ (z >> 27)) * _SPLITMIX_M2) & _U64
    return (z ^ (z >> 31)) >> 48


def hit_draws(session_id: int, frame: int) -> tuple[int, int]:
    """Both fighters' draws for one frame of a session."""
    return hit_draw(session_id, frame, 0), hit_draw(session_id, frame, 1)


def hit_draw_array(session_ids, frames) -> np.ndarray:
    """hit_draws for B sessions at once: session_ids, frames (B,) -> (B, 2) int64."""
    sid = np.asarray(session_ids).astype(np.uint64)
    fr = np.asarray(frames).astype(np.uint64)
    cols = []
    for p in range(2):
        z = (sid * np.uint64(_SPLITMIX_GAMMA)) ^ (fr * np.uint64(2) + np.uint64(p + 1))
        z = (z ^ (z >> np.uint64(30))) * np.uint64(_SPLITMIX_M1)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(_SPLITMIX_M2)
        cols.append((z ^ (z >> np.uint64(31))) >> np.uint64(48))
    return np.stack(cols, axis=1).astype(np.int64)


def hit_probability_q16(exp_lut, logit: int) -> int:
    """sigmoid(logit / 256) in Q16 from the cartridge's exp LUT (exp(-k/64) in Q20), in integers:
    e = exp(-|l|) at k = |l| >> 2 (0 past the table); p = e / (1 + e) below 0, 1 / (1 + e) above."""
    k = abs(int(logit)) >> 2
    e = int(exp_lut[k]) if k < LUT_SIZE else 0
    num = e if logit < 0 else Q20
    return (num << 16) // (Q20 + e)


def hit_field_indices() -> tuple[int, ...]:
    return tuple(FIELDS.index(n) for n in HIT_FIELDS)


def check_hit_fields(fields) -> None:
    """A sampled-hit cartridge decodes HIT_FIELDS as deltas or absolutes and the action by argmax
    over the 32 categories (the program refuses it otherwise)."""
    for f in hit_field_indices():
        if fields[f].dec_kind not in (DEC_DELTA, DEC_ABSOLUTE):
            raise CartridgeError(f"a sampled-hit model decodes {FIELDS[f]} as a delta or an absolute")
    act = fields[FIELDS.index("action")]
    if act.dec_kind != DEC_ARGMAX or act.dec_arg <= max(HIT_ACTIONS):
        raise CartridgeError("a sampled-hit model decodes the action by argmax over 32 categories")


def context_features(context: int) -> int:
    """Features the context flags add after the controllers."""
    return ((CONTEXT_FEATURES if context & CONTEXT_ONEHOT else 0)
            + (RELATIVE_FEATURES if context & CONTEXT_RELATIVE else 0))


def _sat8(v: int) -> int:
    return max(-128, min(127, v))


def relative_features(stage_id: int, state) -> list[int]:
    """The CONTEXT_RELATIVE features of both fighters (state (2, 16)): dx, dy, gap1, gap2."""
    from . import rules as R  # rules does not import this module; kept local to stay a leaf

    x1, y1, x2, y2 = int(state[0][0]), int(state[0][1]), int(state[1][0]), int(state[1][1])
    u = [_sat8(x2 - x1 >> REL_SHIFT_XY), _sat8(y2 - y1 >> REL_SHIFT_XY)]
    stage = R.stage_by_id(int(stage_id))
    for x, y in ((x1, y1), (x2, y2)):
        g = None if stage is None else R.ground_below(stage, x, y)
        u.append(NO_GROUND if g is None else _sat8(y - g >> REL_SHIFT_GAP))
    return u


def context_onehot(stage: int, characters) -> list[int]:
    """The CONTEXT_ONEHOT features of a session (int8 values)."""
    u = [127 if stage == s else 0 for s in CONTEXT_STAGES]
    for c in characters:
        u += [127 if int(c) == k else 0 for k in range(N_CHARACTERS)]
    return u


@dataclasses.dataclass(frozen=True)
class Preset:
    name: str
    d_model: int
    d_inner: int
    d_state: int
    headdim: int
    n_layers: int

    @property
    def n_heads(self) -> int:
        return self.d_inner // self.headdim


PRESETS = {
    "micro": Preset("micro", 64, 128, 16, 32, 8),
    "tiny": Preset("tiny", 128, 256, 16, 32, 8),
    # tiny's size (0.87M parameters) in the shape that fits one 1.4M-CU transaction (issue 16):
    # half the layers at twice the width and expansion 1, so the per-layer costs (norms, requant,
    # gate) are paid 4 times instead of 8, and d_state 8, which halves the scan (E * N per layer).
    "tiny-wide": Preset("tiny-wide", 256, 256, 8, 64, 4),
    "small": Preset("small", 256, 512, 16, 64, 8),
    "target": Preset("target", 512, 1024, 16, 64, 12),
}


@dataclasses.dataclass(frozen=True)
class FieldSpec:
    enc_kind: int
    enc_arg: int  # shift (scalar) or class count (one-hot)
    dec_kind: int
    # DEC_ARGMAX: the class count. DEC_DELTA: a dead band in state units: a head output
    # with |out| <= dec_arg leaves the field as it was (0: none). It is what lets a fighter
    # at rest stay put: the head's rounding noise at a fixed point (an output of +-1, 1/16
    # of a game unit a frame) otherwise integrates into a slow walk. Other kinds ignore it.
    dec_arg: int

    def enc_width(self) -> int:
        return {ENC_NONE: 0, ENC_SCALAR: 1, ENC_ONEHOT: self.enc_arg}[self.enc_kind]

    def dec_width(self) -> int:
        if self.dec_kind == DEC_KEEP:
            return 0
        return self.dec_arg if self.dec_kind == DEC_ARGMAX else 1


def features_for(fields: tuple[FieldSpec, ...], context: int = 0) -> int:
    """The features a field spec and context make, before in_dim pads them to a multiple of 8."""
    return 2 * sum(f.enc_width() for f in fields) + 2 * CONTROLLER_FEATURES + context_features(context)


def in_dim_for(fields: tuple[FieldSpec, ...], context: int = 0) -> int:
    return (features_for(fields, context) + 7) // 8 * 8


def out_dim_for(fields: tuple[FieldSpec, ...], context: int = 0) -> int:
    return 2 * sum(f.dec_width() for f in fields) + (2 * HIT_WIDTH if context & CONTEXT_SAMPLED_HIT else 0)


@dataclasses.dataclass
class LayerQuant:
    eps: int
    s_norm: int
    s_in: int
    s_u: int
    s_y: int
    s_g: int
    s_out: int
    m_y: int
    m_g: int


@dataclasses.dataclass
class Linear:
    w: np.ndarray  # (rows, cols) int8
    bias: np.ndarray  # (rows,) int32
    mult: np.ndarray  # (rows,) int32


@dataclasses.dataclass
class Layer:
    norm_gain: np.ndarray  # (D,) int32
    in_proj: Linear  # (2E + 2N + H, D)
    a_q16: np.ndarray  # (H,) uint32
    d_skip: np.ndarray  # (H,) int64
    u_mult: np.ndarray  # (H,) int32
    silu_x: np.ndarray  # (256,) int8
    silu_z: np.ndarray  # (256,) int8
    out_proj: Linear  # (D, E)
    quant: LayerQuant


@dataclasses.dataclass
class Cartridge:
    """A quantized model in memory; `to_bytes`/`from_bytes` are the wire format."""

    preset: Preset
    fields: tuple[FieldSpec, ...]
    softplus_lut: np.ndarray  # (1024,) uint32
    exp_lut: np.ndarray  # (1024,) uint32
    encoder: Linear
    layers: list[Layer]
    final_norm_gain: np.ndarray
    head: Linear
    s_enc: int
    s_head: int
    s_norm_f: int
    eps_f: int
    # How the matrices are laid out in the weights blob (the int8 values above do not
    # depend on it): new cartridges get the fast lane layout.
    weight_layout: int = WEIGHT_LAYOUT_LANES
    # Session context (manifest bytes 136..144): flags (CONTEXT_*), and the supported stages
    # (bit i: CONTEXT_STAGES[i]) and characters (bit c: id c) that CONTEXT_SUPPORT declares.
    context: int = 0
    stage_mask: int = 0
    character_mask: int = 0
    # CONTEXT_SAMPLED_HIT: hits less likely than hit_floor * HIT_FLOOR_UNIT / 65536 are not drawn
    hit_floor: int = 0

    @property
    def in_dim(self) -> int:
        return in_dim_for(self.fields, self.context)

    @property
    def feeds_context(self) -> bool:
        """Whether the model takes the session's stage and characters as features."""
        return bool(self.context & (CONTEXT_ONEHOT | CONTEXT_RELATIVE))

    @property
    def out_dim(self) -> int:
        return out_dim_for(self.fields, self.context)

    def param_count(self) -> int:
        n = self.encoder.w.size + self.head.w.size + self.final_norm_gain.size
        for lay in self.layers:
            n += lay.in_proj.w.size + lay.out_proj.w.size + lay.norm_gain.size
            n += 3 * lay.a_q16.size
        return int(n)

    def macs_per_frame(self) -> int:
        n = self.encoder.w.size + self.head.w.size
        p = self.preset
        for lay in self.layers:
            n += lay.in_proj.w.size + lay.out_proj.w.size
        # selective state update + C.h: two multiply-accumulates per state element
        n += self.preset.n_layers * 2 * p.d_inner * p.d_state
        return int(n)

    # -- serialization ---------------------------------------------------------
    def _layout(self, layout: int | None) -> int:
        layout = self.weight_layout if layout is None else layout
        if layout not in WEIGHT_LAYOUTS:
            raise CartridgeError(f"unknown weight layout {layout} (known: {WEIGHT_LAYOUTS})")
        return layout

    def weights_bytes(self, layout: int | None = None) -> bytes:
        """The weights blob in `layout` (default: self.weight_layout)."""
        layout = self._layout(layout)
        out = bytearray()

        def put(data: bytes) -> None:
            _put(out, data)

        put(self.softplus_lut.astype("<u4").tobytes())
        put(self.exp_lut.astype("<u4").tobytes())
        _put_linear(out, self.encoder, layout)
        for lay in self.layers:
            put(lay.norm_gain.astype("<i4").tobytes())
            _put_linear(out, lay.in_proj, layout)
            _pad8(out)
            put(lay.a_q16.astype("<u4").tobytes())
            _pad8(out)
            put(lay.d_skip.astype("<i8").tobytes())
            put(lay.u_mult.astype("<i4").tobytes())
            _pad8(out)
            put(lay.silu_x.astype("i1").tobytes())
            put(lay.silu_z.astype("i1").tobytes())
            _put_linear(out, lay.out_proj, layout)
        put(self.final_norm_gain.astype("<i4").tobytes())
        _pad8(out)
        _put_linear(out, self.head, layout)
        return bytes(out)

    def manifest_bytes(self, weights: bytes | None = None, layout: int | None = None) -> bytes:
        """The manifest for `weights` (default: this model's blob in `layout`), which must
        be laid out in `layout` (default: self.weight_layout)."""
        layout = self._layout(layout)
        weights = self.weights_bytes(layout) if weights is None else weights
        p = self.preset
        out = bytearray(MAGIC)
        out += struct.pack(
            "<HHHHHHHHHHI", LAYOUT_VERSION, layout, p.d_model, p.d_inner,
            p.d_state, p.headdim, p.n_layers, self.in_dim, self.out_dim, N_FIELDS, len(weights),
        )
        out += hashlib.sha256(weights).digest()
        for f in self.fields:
            out += struct.pack("<BBBB", f.enc_kind, f.enc_arg, f.dec_kind, f.dec_arg)
        out += struct.pack("<BBBBI", self.s_enc, self.s_head, self.s_norm_f, 0, self.eps_f)
        out += struct.pack("<BBBBI", self.context, self.stage_mask, self.hit_floor, 0, self.character_mask)
        out += bytes(16)
        for lay in self.layers:
            q = lay.quant
            out += struct.pack(
                "<IBBBBBBHii", q.eps, q.s_norm, q.s_in, q.s_u, q.s_y, q.s_g, q.s_out, 0,
                q.m_y, q.m_g,
            )
            out += bytes(12)
        assert len(out) == MANIFEST_HEADER + LAYER_QUANT_SIZE * p.n_layers
        return bytes(out)

    def save(self, directory: str | Path, layout: int | None = None) -> Path:
        """Write a model directory: manifest.bin, weights.bin, model.json."""
        layout = self._layout(layout)
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        weights = self.weights_bytes(layout)
        (d / "weights.bin").write_bytes(weights)
        (d / "manifest.bin").write_bytes(self.manifest_bytes(weights, layout))
        info = {
            "preset": self.preset.name, "params": self.param_count(),
            "macs_per_frame": self.macs_per_frame(), "weights_len": len(weights),
            "weights_sha256": hashlib.sha256(weights).hexdigest(),
            "layout_version": LAYOUT_VERSION, "weight_layout": layout, "context": self.context,
            "hit_floor": self.hit_floor,
        }
        (d / "model.json").write_text(json.dumps(info, indent=2) + "\n")
        return d


class CartridgeError(ValueError):
    """A manifest or weights blob that does not follow the format."""


def _pad8(out: bytearray) -> None:
    out.extend(bytes(-len(out) % 8))


def _shard_skip(pos: int, n: int) -> int:
    """Position where an n-byte section starting at pos is placed (never straddling)."""
    used = pos % SHARD_BYTES
    return pos + (SHARD_BYTES - used) if used and used + n > SHARD_BYTES else pos


def _put(out: bytearray, data: bytes) -> None:
    out.extend(bytes(_shard_skip(len(out), len(data)) - len(out)))
    out.extend(data)


def _put_linear(out: bytearray, lin: Linear, layout: int) -> None:
    _pad8(out)
    if layout == WEIGHT_LAYOUT_LANES:
        _put(out, pack_lanes(lin.w))
    else:
        _put(out, np.ascontiguousarray(lin.w, dtype=np.int8).tobytes())
    _pad8(out)
    _put(out, lin.bias.astype("<i4").tobytes())
    _put(out, lin.mult.astype("<i4").tobytes())
    _pad8(out)


def shards(weights: bytes) -> list[bytes]:
    """The weights blob cut into account-sized shards."""
    return [weights[i:i + SHARD_BYTES] for i in range(0, len(weights), SHARD_BYTES)] or [b""]


class _Reader:
    def __init__(self, buf: bytes, layout: int):
        self.buf, self.pos, self.layout = buf, 0, layout

    def take(self, dtype: str, count: int) -> np.ndarray:
        dt = np.dtype(dtype)
        self.pos = _shard_skip(self.pos, dt.itemsize * count)
        end = self.pos + dt.itemsize * count
        if end > len(self.buf):
            raise CartridgeError(f"weights blob too short: need {end} bytes, have {len(self.buf)}")
        arr = np.frombuffer(self.buf, dtype=dt, count=count, offset=self.pos).copy()
        self.pos = end
        return arr

    def align8(self) -> None:
        self.pos += -self.pos % 8

    def linear(self, rows: int, cols: int) -> Linear:
        self.align8()
        if self.layout == WEIGHT_LAYOUT_LANES:
            w = unpack_lanes(self.take("<i8", lanes_words(rows, cols)), rows, cols)
        else:
            w = self.take("i1", rows * cols).reshape(rows, cols)
        self.align8()
        bias = self.take("<i4", rows)
        mult = self.take("<i4", rows)
        self.align8()
        return Linear(w, bias, mult)


def from_bytes(manifest: bytes, weights: bytes) -> Cartridge:
    """Parse and validate a cartridge; raises CartridgeError with the reason."""
    if len(manifest) < MANIFEST_HEADER or manifest[:8] != MAGIC:
        raise CartridgeError("not a cartridge manifest (bad magic or too short)")
    (version, wlayout, d, e, n, p, n_layers, in_dim, out_dim, n_fields,
     wlen) = struct.unpack_from("<HHHHHHHHHHI", manifest, 8)
    if version != LAYOUT_VERSION:
        raise CartridgeError(f"unsupported layout version {version} (this build reads {LAYOUT_VERSION})")
    if wlayout not in WEIGHT_LAYOUTS:
        raise CartridgeError(f"unsupported weight layout {wlayout} (this build reads {WEIGHT_LAYOUTS})")
    if n_fields != N_FIELDS:
        raise CartridgeError(f"n_fields must be {N_FIELDS}, got {n_fields}")
    if p == 0 or e % p or d % 8 or e % 8 or n == 0 or n_layers == 0:
        raise CartridgeError("inconsistent dimensions")
    if len(manifest) != MANIFEST_HEADER + LAYER_QUANT_SIZE * n_layers:
        raise CartridgeError("manifest length does not match n_layers")
    if len(weights) != wlen:
        raise CartridgeError(f"weights length {len(weights)} != manifest's {wlen}")
    if hashlib.sha256(weights).digest() != manifest[32:64]:
        raise CartridgeError("weights sha256 does not match the manifest")
    fields = tuple(FieldSpec(*struct.unpack_from("<BBBB", manifest, 64 + 4 * i)) for i in range(N_FIELDS))
    context, stage_mask, hit_floor, _, character_mask = struct.unpack_from("<BBBBI", manifest, CONTEXT_OFFSET)
    if context & ~CONTEXT_KNOWN:
        raise CartridgeError(f"unknown context flags {context:#04x} (this build reads {CONTEXT_KNOWN:#04x})")
    if in_dim_for(fields, context) != in_dim or out_dim_for(fields, context) != out_dim:
        raise CartridgeError("in_dim/out_dim do not match the field spec")
    if context & CONTEXT_SAMPLED_HIT:
        check_hit_fields(fields)
    elif hit_floor:
        raise CartridgeError("a hit floor on a model that does not sample hits")
    s_enc, s_head, s_norm_f, _, eps_f = struct.unpack_from("<BBBBI", manifest, 128)
    preset = next((pr for pr in PRESETS.values()
                   if (pr.d_model, pr.d_inner, pr.d_state, pr.headdim, pr.n_layers) == (d, e, n, p, n_layers)),
                  Preset("custom", d, e, n, p, n_layers))
    h = e // p
    r = _Reader(weights, wlayout)
    softplus_lut = r.take("<u4", LUT_SIZE)
    exp_lut = r.take("<u4", LUT_SIZE)
    encoder = r.linear(d, in_dim)
    layers = []
    for i in range(n_layers):
        q = LayerQuant(*_unpack_layer_quant(manifest, MANIFEST_HEADER + LAYER_QUANT_SIZE * i))
        norm_gain = r.take("<i4", d)
        in_proj = r.linear(2 * e + 2 * n + h, d)
        r.align8()
        a = r.take("<u4", h)
        r.align8()
        dsk = r.take("<i8", h)
        um = r.take("<i4", h)
        r.align8()
        sx = r.take("i1", 256)
        sz = r.take("i1", 256)
        out_proj = r.linear(d, e)
        layers.append(Layer(norm_gain, in_proj, a, dsk, um, sx, sz, out_proj, q))
    final_gain = r.take("<i4", d)
    r.align8()
    head = r.linear(out_dim, d)
    if r.pos != len(weights):
        raise CartridgeError(f"weights blob has {len(weights) - r.pos} trailing bytes")
    cart = Cartridge(preset, fields, softplus_lut, exp_lut, encoder, layers, final_gain, head,
                     s_enc, s_head, s_norm_f, eps_f, weight_layout=wlayout, context=context,
                     stage_mask=stage_mask, character_mask=character_mask, hit_floor=hit_floor)
    validate(cart)
    return cart


def _unpack_layer_quant(buf: bytes, off: int) -> tuple:
    eps, s_norm, s_in, s_u, s_y, s_g, s_out, _, m_y, m_g = struct.unpack_from("<IBBBBBBHii", buf, off)
    return eps, s_norm, s_in, s_u, s_y, s_g, s_out, m_y, m_g


def validate(cart: Cartridge) -> None:
    """Ranges that keep every 64-bit intermediate of the forward pass exact."""
    shifts = [cart.s_enc, cart.s_head, cart.s_norm_f]
    for lay in cart.layers:
        q = lay.quant
        shifts += [q.s_norm, q.s_in, q.s_u, q.s_y, q.s_g, q.s_out]
        if q.eps < 1:
            raise CartridgeError("RMSNorm eps must be >= 1")
        if abs(q.m_y) >= 1 << 20 or abs(q.m_g) >= 1 << 24:
            raise CartridgeError("m_y/m_g out of range")
        if np.any(np.abs(lay.norm_gain.astype(np.int64)) >= 1 << 27):
            raise CartridgeError("norm gain out of range")
    if cart.eps_f < 1:
        raise CartridgeError("final RMSNorm eps must be >= 1")
    if any(s > 62 for s in shifts):
        raise CartridgeError("a shift exceeds 62")


def load(directory: str | Path) -> Cartridge:
    d = Path(directory)
    return from_bytes((d / "manifest.bin").read_bytes(), (d / "weights.bin").read_bytes())


# -- lookup tables ---------------------------------------------------------------

def softplus_lut() -> np.ndarray:
    x = (np.arange(LUT_SIZE) - SOFTPLUS_ZERO) / SOFTPLUS_STEP
    return np.round(np.logaddexp(0.0, x) * Q20).astype(np.uint32)


def exp_lut() -> np.ndarray:
    k = np.arange(LUT_SIZE) / EXP_STEP
    return np.round(np.exp(-k) * Q20).astype(np.uint32)


def silu_lut(scale_in: float, scale_out: float) -> np.ndarray:
    """int8 -> int8 SiLU, indexed by q + 128."""
    x = (np.arange(256) - 128) * scale_in
    y = x / (1.0 + np.exp(-x))
    return np.clip(np.round(y / scale_out), -128, 127).astype(np.int8)


# The field spec the shipped model and the game use (the trainer may choose another).
# State units: x, y in 1/16 game unit; velocities in 1/256 unit per frame; percent and
# shield in 1/16; facing -1/+1; action is an action-category id (0..31).
DEFAULT_FIELDS = (
    FieldSpec(ENC_SCALAR, 4, DEC_DELTA, 0),  # x
    FieldSpec(ENC_SCALAR, 4, DEC_DELTA, 0),  # y
    FieldSpec(ENC_SCALAR, 3, DEC_ABSOLUTE, 0),  # self_vx
    FieldSpec(ENC_SCALAR, 3, DEC_ABSOLUTE, 0),  # self_vy
    FieldSpec(ENC_SCALAR, 3, DEC_ABSOLUTE, 0),  # kb_vx
    FieldSpec(ENC_SCALAR, 3, DEC_ABSOLUTE, 0),  # kb_vy
    FieldSpec(ENC_SCALAR, 0, DEC_SIGN, 0),  # facing
    FieldSpec(ENC_ONEHOT, 32, DEC_ARGMAX, 32),  # action
    FieldSpec(ENC_SCALAR, 0, DEC_DELTA, 0),  # action_frame
    FieldSpec(ENC_SCALAR, 5, DEC_DELTA, 0),  # percent
    FieldSpec(ENC_ONEHOT, 5, DEC_ARGMAX, 5),  # stocks
    FieldSpec(ENC_SCALAR, 3, DEC_DELTA, 0),  # shield
    FieldSpec(ENC_ONEHOT, 2, DEC_ARGMAX, 2),  # airborne
    FieldSpec(ENC_SCALAR, 0, DEC_ABSOLUTE, 0),  # jumps_left
    FieldSpec(ENC_SCALAR, 0, DEC_ABSOLUTE, 0),  # hitlag
    FieldSpec(ENC_SCALAR, 0, DEC_ABSOLUTE, 0),  # hitstun
)


# -- lane layout (weight layout 2, the SWAR kernel `matvec_lanes`) -------------------
LANE_BITS = 21
WORDS_PER_COL = 4
BLOCK_ROWS = 3 * WORDS_PER_COL
_I8 = (-128, 127)


def lanes_words(rows: int, cols: int) -> int:
    """u64 words of a (rows, cols) matrix in the lane layout (rows padded to 12)."""
    return -(-rows // BLOCK_ROWS) * cols * WORDS_PER_COL


def pack_lanes(w: np.ndarray) -> bytes:
    """Row-major int8 (rows, cols) -> lane words: for each block of 12 rows and each
    column, four words; word k holds rows 3k, 3k+1, 3k+2 of the block as the integer
    w0 + w1 * 2^21 + w2 * 2^42 (two's complement; rows past the end are 0)."""
    rows, cols = w.shape
    blocks = -(-rows // BLOCK_ROWS)
    ws = np.zeros((blocks * BLOCK_ROWS, cols), np.int64)
    ws[:rows] = w
    ws = ws.reshape(blocks, WORDS_PER_COL, 3, cols)  # block, word, lane, col
    words = ws[:, :, 0] + (ws[:, :, 1] << LANE_BITS) + (ws[:, :, 2] << (2 * LANE_BITS))
    return np.ascontiguousarray(words.transpose(0, 2, 1)).astype("<i8").tobytes()  # block, col, word


def _field(v: np.ndarray) -> np.ndarray:
    """The low 21 bits of v as a signed number."""
    return (v << (64 - LANE_BITS)) >> (64 - LANE_BITS)


def unpack_lanes(words: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Inverse of pack_lanes, validating what the kernel relies on and cannot check
    itself: every word is three int8 fields exactly (else fields would spill into each
    other and the kernel's sums go wrong), and padding rows hold 0."""
    blocks = -(-rows // BLOCK_ROWS)
    wd = np.asarray(words).view(np.int64).reshape(blocks, cols, WORDS_PER_COL)
    l0 = _field(wd)
    rest = (wd - l0) >> LANE_BITS
    l1 = _field(rest)
    l2 = (rest - l1) >> LANE_BITS
    lanes = np.stack([l0, l1, l2], axis=-1)  # block, col, word, lane
    if lanes.min() < _I8[0] or lanes.max() > _I8[1]:
        raise CartridgeError("lane-layout weights: a word holds a field outside int8")
    w = lanes.transpose(0, 2, 3, 1).reshape(blocks * BLOCK_ROWS, cols)
    if np.any(w[rows:] != 0):
        raise CartridgeError("lane-layout weights: padding rows must be 0")
    return w[:rows].astype(np.int8)


# -- the shipped models ---------------------------------------------------------------------------

MODELS_DIR = Path(__file__).resolve().parent.parent / "assets" / "models"
DEFAULT_MODEL_FILE = "DEFAULT"  # in MODELS_DIR: the name of the model `auto` means


def shipped_models(directory: Path = MODELS_DIR) -> list[Path]:
    """The model directories under `directory` (manifest.bin and weights.bin), the default first: the
    one named in its DEFAULT file when that names a shipped model, then the rest by name."""
    if not directory.is_dir():
        return []
    found = sorted(p for p in directory.iterdir() if (p / "manifest.bin").is_file() and (p / "weights.bin").is_file())
    marker = directory / DEFAULT_MODEL_FILE
    name = marker.read_text().strip() if marker.is_file() else ""
    return sorted(found, key=lambda p: p.name != name)  # stable: the default first, the rest by name

