"""Random cartridges with plausible quantization scalars, for tests and benchmarks.

The weights are uniform int8; multipliers and shifts are chosen from the expected
magnitude of each accumulator so activations stay lively (neither all zero nor all
saturated), which is what makes a bit-exact comparison meaningful.
"""
from __future__ import annotations

import math

import numpy as np

from . import cartridge as C

ACT = 40.0  # typical |int8 activation|
W_STD = 73.0  # std of uniform int8


def _shift_for(gain: float, mult_log2: int = 14) -> int:
    """Shift s such that x * 2^mult_log2 >> s ~= x * gain."""
    return max(0, int(round(mult_log2 - math.log2(gain))))


def _linear(rng, rows, cols, in_mag, out_mag, mult_log2=14):
    w = rng.integers(-128, 128, size=(rows, cols), dtype=np.int16).astype(np.int8)
    acc_std = W_STD * in_mag * math.sqrt(cols)
    shift = _shift_for(out_mag / acc_std, mult_log2)
    mult = rng.integers(1 << (mult_log2 - 1), 1 << mult_log2, size=rows).astype(np.int32)
    bias = rng.integers(-int(acc_std // 4), int(acc_std // 4) + 1, size=rows).astype(np.int32)
    return C.Linear(w, bias, mult), shift


def random_fields(rng) -> tuple[C.FieldSpec, ...]:
    out = []
    for _ in range(C.N_FIELDS):
        if rng.random() < 0.25:
            n = int(rng.integers(2, 9))
            enc = C.FieldSpec(C.ENC_ONEHOT, n, 0, 0)
        else:
            enc = C.FieldSpec(int(rng.choice([C.ENC_NONE, C.ENC_SCALAR, C.ENC_SCALAR])), int(rng.integers(0, 6)), 0, 0)
        dk = int(rng.choice([C.DEC_KEEP, C.DEC_ABSOLUTE, C.DEC_DELTA, C.DEC_ARGMAX, C.DEC_SIGN]))
        out.append(C.FieldSpec(enc.enc_kind, enc.enc_arg, dk, int(rng.integers(2, 9)) if dk == C.DEC_ARGMAX else 0))
    return tuple(out)


def random_cartridge(preset: str | C.Preset, seed: int = 0, fields=None, context: int = 0) -> C.Cartridge:
    """`context`: the manifest's context flags (C.CONTEXT_ONEHOT: a model fed the session's
    stage and characters); 0 gives the same cartridge as before context existed."""
    p = C.PRESETS[preset] if isinstance(preset, str) else preset
    rng = np.random.default_rng(seed)
    fields = C.DEFAULT_FIELDS if fields is None else fields
    d, e, n, h = p.d_model, p.d_inner, p.d_state, p.n_heads
    in_dim, out_dim = C.in_dim_for(fields, context), C.out_dim_for(fields, context)
    r_mag = 1024.0  # typical |residual|
    encoder, s_enc = _linear(rng, d, in_dim, 50.0, r_mag)
    layers = []
    for _ in range(p.n_layers):
        in_proj, s_in = _linear(rng, 2 * e + 2 * n + h, d, ACT, ACT)
        # dt rows: centre the softplus input around -4 (dt ~ 0.02), spread +-1.5
        dt_rows = slice(2 * e + 2 * n, None)
        in_proj.mult[dt_rows] = (in_proj.mult[dt_rows] * (1.5 * 64 / ACT)).astype(np.int32)
        in_proj.bias[dt_rows] = np.round(-4 * 64 * (1 << s_in) / in_proj.mult[dt_rows]).astype(np.int32)
        out_proj, s_out = _linear(rng, d, e, ACT, r_mag / 4)
        layers.append(C.Layer(
            norm_gain=rng.integers(1 << 13, 1 << 14, size=d).astype(np.int32),
            in_proj=in_proj,
            a_q16=rng.integers(1 << 16, 16 << 16, size=h).astype(np.uint32),
            d_skip=rng.integers(-(1 << 34), 1 << 34, size=h).astype(np.int64),
            u_mult=rng.integers(1 << 13, 1 << 14, size=h).astype(np.int32),
            silu_x=C.silu_lut(4 / 128, 4 / 128),
            silu_z=C.silu_lut(4 / 128, 4 / 128),
            out_proj=out_proj,
            quant=C.LayerQuant(eps=int(rng.integers(1, 64)), s_norm=38, s_in=s_in, s_u=20,
                               s_y=34, s_g=19, s_out=s_out,
                               m_y=int(rng.integers(1 << 13, 1 << 14)),
                               m_g=int(rng.integers(1 << 13, 1 << 14))),
        ))
    head, s_head = _linear(rng, out_dim, d, ACT, 512.0)
    return C.Cartridge(
        preset=p, fields=fields, softplus_lut=C.softplus_lut(), exp_lut=C.exp_lut(),
        encoder=encoder, layers=layers,
        final_norm_gain=rng.integers(1 << 13, 1 << 14, size=d).astype(np.int32),
        head=head, s_enc=s_enc, s_head=s_head, s_norm_f=38, eps_f=16, context=context,
    )


def random_state(rng) -> np.ndarray:
    return rng.integers(-3000, 3000, size=(2, C.N_FIELDS)).astype(np.int16)


def random_controls(rng) -> np.ndarray:
    """(2, 8): stick/c-stick i8, triggers u8, buttons u16, pad."""
    c = np.zeros((2, 8), dtype=np.int64)
    c[:, :4] = rng.integers(-127, 128, size=(2, 4))
    c[:, 4:6] = rng.integers(0, 256, size=(2, 2))
    c[:, 6] = rng.integers(0, 1 << C.N_BUTTONS, size=2)
    return c
