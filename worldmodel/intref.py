"""The integer forward pass: the specification the on-chain kernels follow bit for bit.

One frame, one function per step, int64 arithmetic that wraps exactly like the
Rust program's `wrapping_*` ops (numpy int64 arrays wrap silently). Shapes:

    state   (2, 16)  int16   both fighters' fields (cartridge.FIELDS)
    ctrl    (2, 8)   int64   stick x, y, c-stick x, y (i8), l, r (u8), buttons (u16), 0
    context (3,)             stage (Slippi id), character 1, character 2 (Slippi ids)
    u       (in_dim,)        int8 features
    r       (D,)     int16   residual stream
    hidden  (L, E, N) int32  selective-scan state h

Rounding: every requantization is `rshift_round(v, s) = (v + (1 << s >> 1)) >> s`
(arithmetic shift, i.e. round half up), then a saturating cast.
"""
from __future__ import annotations

import math

import numpy as np

from . import cartridge as C

I64 = np.int64


def rshift_round(v, s: int):
    return (v + I64((1 << s) >> 1)) >> I64(s)


def sat(v, lo: int, hi: int):
    return np.clip(v, lo, hi)


def sat8(v):
    return sat(v, -128, 127)


def sat16(v):
    return sat(v, -32768, 32767)


def sat32(v):
    return sat(v, -(1 << 31), (1 << 31) - 1)


# -- features in, state out --------------------------------------------------------

def build_features(cart: C.Cartridge, state: np.ndarray, ctrl: np.ndarray, context=None) -> np.ndarray:
    """Both players' state fields and controllers (and the session's context, when the
    cartridge feeds it: (stage, character 1, character 2)) -> int8 features (in_dim,)."""
    u: list[int] = []
    for p in range(2):
        for f, spec in enumerate(cart.fields):
            v = int(state[p, f])
            if spec.enc_kind == C.ENC_SCALAR:
                u.append(max(-128, min(127, v >> spec.enc_arg)))
            elif spec.enc_kind == C.ENC_ONEHOT:
                u.extend(127 if v == k else 0 for k in range(spec.enc_arg))
    for p in range(2):
        sx, sy, cx, cy, l, r, buttons = (int(c) for c in ctrl[p, :7])
        u += [sx, sy, cx, cy, l >> 1, r >> 1]
        u += [64 if buttons >> b & 1 else 0 for b in range(C.N_BUTTONS)]
    if cart.feeds_context:
        if context is None:
            raise ValueError("this cartridge is fed the session's context: pass (stage, character 1, character 2)")
        if cart.context & C.CONTEXT_ONEHOT:
            u += C.context_onehot(int(context[0]), context[1:3])
        if cart.context & C.CONTEXT_RELATIVE:
            u += C.relative_features(int(context[0]), state)
    u += [0] * (cart.in_dim - len(u))
    return np.array(u, dtype=I64)


def decode_scalar(spec: C.FieldSpec, old: int, v: int) -> int:
    """An ABSOLUTE or DELTA output -> the field's next value (dec_arg: a delta's dead band,
    |v| <= dec_arg is no change)."""
    if spec.dec_kind == C.DEC_ABSOLUTE:
        return v
    return sat16(old + (0 if abs(v) <= spec.dec_arg else v))


def decode_outputs(cart: C.Cartridge, state: np.ndarray, out: np.ndarray, draw=None) -> np.ndarray:
    """Head outputs (out_dim,) -> next state (2, 16) int16. A sampled-hit cartridge
    (CONTEXT_SAMPLED_HIT) needs `draw`, both fighters' 16-bit draws (cartridge.hit_draws)."""
    new = state.astype(I64).copy()
    o = 0
    action_out = [0, 0]
    for p in range(2):
        for f, spec in enumerate(cart.fields):
            k = spec.dec_kind
            if k in (C.DEC_ABSOLUTE, C.DEC_DELTA):
                new[p, f] = decode_scalar(spec, int(state[p, f]), int(out[o]))
            elif k == C.DEC_ARGMAX:
                new[p, f] = int(np.argmax(out[o:o + spec.dec_arg]))  # first maximum
                if C.FIELDS[f] == "action":
                    action_out[p] = o
            elif k == C.DEC_SIGN:
                new[p, f] = 1 if out[o] >= 0 else -1
            o += spec.dec_width()
    if cart.context & C.CONTEXT_SAMPLED_HIT:
        if draw is None:
            raise ValueError("this cartridge draws its hits: pass draw (cartridge.hit_draws(session_id, frame))")
        for p in range(2):
            oh = o + p * C.HIT_WIDTH
            prob = C.hit_probability_q16(cart.exp_lut, int(out[oh]))
            if prob >= cart.hit_floor * C.HIT_FLOOR_UNIT and int(draw[p]) < prob:
                for j, f in enumerate(C.hit_field_indices()):
                    new[p, f] = decode_scalar(cart.fields[f], int(state[p, f]), int(out[oh + 1 + j]))
                best = C.HIT_ACTIONS[0]
                for c in C.HIT_ACTIONS[1:]:  # the first maximum, in HIT_ACTIONS order
                    if out[action_out[p] + c] > out[action_out[p] + best]:
                        best = c
                new[p, C.FIELDS.index("action")] = best
    return new.astype(np.int16)


# -- building blocks ---------------------------------------------------------------

def linear(lin: C.Linear, x: np.ndarray, shift: int) -> np.ndarray:
    """(rows, cols) int8 . (cols,) -> rshift_round((acc + bias) * mult, shift), int64."""
    acc = lin.w.astype(I64) @ x.astype(I64) + lin.bias.astype(I64)
    return rshift_round(acc * lin.mult.astype(I64), shift)


def rms_norm(r: np.ndarray, gain: np.ndarray, eps: int, shift: int) -> np.ndarray:
    """int16 residual -> int8: r * floor(2^30 / isqrt(mean(r^2) + eps)) * gain >> shift."""
    r64 = r.astype(I64)
    mean = int(np.sum(r64 * r64)) // len(r)
    inv = (1 << 30) // math.isqrt(mean + eps)
    return sat8(rshift_round(r64 * I64(inv) * gain.astype(I64), shift))


def decay_q20(cart: C.Cartridge, a_q16: np.ndarray, dt_q20: np.ndarray) -> np.ndarray:
    """exp(-|A| * dt) in Q20: LUT for multiples of 1/64, 2nd-order polynomial for the rest."""
    x = (a_q16.astype(I64) * dt_q20) >> I64(16)  # |A| dt in Q20, >= 0
    k = x >> I64(14)  # units of 1/64
    f = x & I64(0x3FFF)  # remainder in Q20, < 1/64
    e_f = I64(C.Q20) - f + ((f * f) >> I64(21))  # exp(-f) ~ 1 - f + f^2/2
    lut = cart.exp_lut.astype(I64)[np.minimum(k, C.LUT_SIZE - 1)]
    return np.where(k >= C.LUT_SIZE, I64(0), (lut * e_f) >> I64(20))


def mamba_layer(cart: C.Cartridge, lay: C.Layer, r: np.ndarray, h: np.ndarray):
    """One block: RMSNorm -> in_proj -> selective state update -> C.h + D.x -> SiLU gate
    -> out_proj -> residual. r (D,) int16, h (E, N) int32 -> (r, h)."""
    p = cart.preset
    e, n, hd = p.d_inner, p.d_state, p.headdim
    q = lay.quant
    xn = rms_norm(r, lay.norm_gain, q.eps, q.s_norm)  # (D,) int8
    v = linear(lay.in_proj, xn, q.s_in)  # (2E + 2N + H,)
    z = sat8(v[:e])
    xq = sat8(v[e:2 * e])
    b = sat8(v[2 * e:2 * e + n])
    c = sat8(v[2 * e + n:2 * e + 2 * n])
    dt_idx = np.clip(v[2 * e + 2 * n:] + C.SOFTPLUS_ZERO, 0, C.LUT_SIZE - 1)
    xa = lay.silu_x.astype(I64)[xq + 128]  # (E,) SiLU(x), int8 values
    dt = cart.softplus_lut.astype(I64)[dt_idx]  # (H,) softplus(dt) in Q20
    decay = decay_q20(cart, lay.a_q16, dt)  # (H,) Q20
    head_of = np.arange(e) // hd  # channel -> head
    dbx = sat32(rshift_round(dt[head_of] * xa * lay.u_mult.astype(I64)[head_of], q.s_u))  # (E,)
    h_new = sat32(rshift_round(decay[head_of, None] * h.astype(I64), 20) + dbx[:, None] * b[None, :])
    y_acc = h_new @ c  # (E,)  sum_n C[n] h[e, n]
    y = sat8(rshift_round(y_acc * I64(q.m_y) + xa * lay.d_skip.astype(I64)[head_of], q.s_y))
    gz = lay.silu_z.astype(I64)[z + 128]
    gy = sat8(rshift_round(y * gz * I64(q.m_g), q.s_g))
    r_new = sat16(r.astype(I64) + linear(lay.out_proj, gy, q.s_out))
    return r_new.astype(np.int16), h_new.astype(np.int32)


def encode(cart: C.Cartridge, u: np.ndarray) -> np.ndarray:
    return sat16(linear(cart.encoder, u, cart.s_enc)).astype(np.int16)


def head(cart: C.Cartridge, r: np.ndarray) -> np.ndarray:
    xn = rms_norm(r, cart.final_norm_gain, cart.eps_f, cart.s_norm_f)
    return sat16(linear(cart.head, xn, cart.s_head)).astype(np.int16)


# -- one frame ---------------------------------------------------------------------

def new_hidden(cart: C.Cartridge) -> np.ndarray:
    p = cart.preset
    return np.zeros((p.n_layers, p.d_inner, p.d_state), dtype=np.int32)


def step(cart: C.Cartridge, state: np.ndarray, ctrl: np.ndarray, hidden: np.ndarray, context=None, draw=None):
    """One frame: (state, controllers, hidden) -> (next state, head outputs, next hidden).
    `context` (stage, character 1, character 2) is needed when the cartridge feeds it, `draw`
    (cartridge.hit_draws(session_id, frame)) when it samples hits."""
    u = build_features(cart, state, ctrl, context)
    r = encode(cart, u)
    hidden = hidden.copy()
    for i, lay in enumerate(cart.layers):
        r, hidden[i] = mamba_layer(cart, lay, r, hidden[i])
    out = head(cart, r)
    return decode_outputs(cart, state, out, draw), out, hidden
