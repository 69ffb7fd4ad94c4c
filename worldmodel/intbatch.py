"""worldmodel.intref for a batch of independent sessions at once (for evaluation).

The same integer operations as intref, in the same order, with a leading batch axis, so
results are identical to calling intref.step once per session (tests/worldmodel/test_train_export.py::test_batched_reference_equals_intref_step).
Integer matrix products go through float64 BLAS: every product and partial sum here is
below 2^53 (int8 x int8 over <= 2^10 columns, or int32 h x int8 C over N <= 64 states),
so float64 holds them exactly and the cast back to int64 loses nothing.
"""
from __future__ import annotations

import numpy as np

from . import cartridge as C
from . import rules as R
from .intref import I64, rshift_round, sat8, sat16, sat32


def _exact_matmul(x: np.ndarray, w_t: np.ndarray) -> np.ndarray:
    return (x.astype(np.float64) @ w_t).astype(I64)


class BatchRef:
    """Precomputed int64/float64 views of a cartridge; `step` advances B sessions."""

    def __init__(self, cart: C.Cartridge):
        self.cart = cart
        self.enc_w = cart.encoder.w.astype(np.float64).T
        self.head_w = cart.head.w.astype(np.float64).T
        self.in_w = [lay.in_proj.w.astype(np.float64).T for lay in cart.layers]
        self.out_w = [lay.out_proj.w.astype(np.float64).T for lay in cart.layers]
        fields = cart.fields
        # feature columns: (player, field, kind, arg, first column)
        self.enc_cols = []
        col = 0
        for p in range(2):
            for f, spec in enumerate(fields):
                if spec.enc_kind in (C.ENC_SCALAR, C.ENC_ONEHOT):
                    self.enc_cols.append((p, f, spec.enc_kind, spec.enc_arg, col))
                col += spec.enc_width()
        self.ctrl_col = col

    def new_hidden(self, batch: int) -> np.ndarray:
        p = self.cart.preset
        return np.zeros((batch, p.n_layers, p.d_inner, p.d_state), dtype=np.int32)

    def build_features(self, state: np.ndarray, ctrl: np.ndarray, context=None) -> np.ndarray:
        """state (B, 2, 16), ctrl (B, 2, 8), context (B, 3) stage, character 1, character 2
        (needed when the cartridge feeds it) -> (B, in_dim) int64."""
        b = state.shape[0]
        u = np.zeros((b, self.cart.in_dim), dtype=I64)
        st = state.astype(I64)
        for p, f, kind, arg, col in self.enc_cols:
            v = st[:, p, f]
            if kind == C.ENC_SCALAR:
                u[:, col] = np.clip(v >> arg, -128, 127)
            else:
                u[:, col:col + arg] = np.where(v[:, None] == np.arange(arg), 127, 0)
        col = self.ctrl_col
        ct = ctrl.astype(I64)
        for p in range(2):
            u[:, col:col + 4] = ct[:, p, 0:4]
            u[:, col + 4:col + 6] = ct[:, p, 4:6] >> 1
            bits = (ct[:, p, 6:7] >> np.arange(C.N_BUTTONS)) & 1
            u[:, col + 6:col + 6 + C.N_BUTTONS] = bits * 64
            col += 6 + C.N_BUTTONS
        if self.cart.feeds_context:
            if context is None:
                raise ValueError("this cartridge is fed the session's context: pass (B, 3) stage, characters")
            cx = np.asarray(context, dtype=I64).reshape(b, 3)
            if self.cart.context & C.CONTEXT_ONEHOT:
                n_st = len(C.CONTEXT_STAGES)
                u[:, col:col + n_st] = np.where(cx[:, :1] == np.array(C.CONTEXT_STAGES), 127, 0)
                col += n_st
                for p in range(2):
                    u[:, col:col + C.N_CHARACTERS] = np.where(cx[:, 1 + p, None] == np.arange(C.N_CHARACTERS), 127, 0)
                    col += C.N_CHARACTERS
            if self.cart.context & C.CONTEXT_RELATIVE:
                u[:, col:col + C.RELATIVE_FEATURES] = relative_features(st, cx[:, 0])
        return u

    @staticmethod
    def _scalar(spec: C.FieldSpec, old: np.ndarray, v: np.ndarray) -> np.ndarray:
        if spec.dec_kind == C.DEC_ABSOLUTE:
            return v
        return sat16(old + np.where(np.abs(v) <= spec.dec_arg, 0, v))  # dead band as intref.decode_scalar

    def hit_probability_q16(self, logit: np.ndarray) -> np.ndarray:
        """cartridge.hit_probability_q16 over an array of logits."""
        k = np.abs(logit) >> 2
        e = np.where(k < C.LUT_SIZE, self.cart.exp_lut.astype(I64)[np.minimum(k, C.LUT_SIZE - 1)], 0)
        return (np.where(logit < 0, e, C.Q20) << 16) // (C.Q20 + e)

    def decode_outputs(self, state: np.ndarray, out: np.ndarray, draw=None) -> np.ndarray:
        """As intref.decode_outputs; draw (B, 2) for a sampled-hit cartridge."""
        st = state.astype(I64)
        new = st.copy()
        o = 0
        action_out = [0, 0]
        for p in range(2):
            for f, spec in enumerate(self.cart.fields):
                k = spec.dec_kind
                if k in (C.DEC_ABSOLUTE, C.DEC_DELTA):
                    new[:, p, f] = self._scalar(spec, st[:, p, f], out[:, o].astype(I64))
                elif k == C.DEC_ARGMAX:
                    new[:, p, f] = np.argmax(out[:, o:o + spec.dec_arg], axis=1)
                    if C.FIELDS[f] == "action":
                        action_out[p] = o
                elif k == C.DEC_SIGN:
                    new[:, p, f] = np.where(out[:, o] >= 0, 1, -1)
                o += spec.dec_width()
        if self.cart.context & C.CONTEXT_SAMPLED_HIT:
            if draw is None:
                raise ValueError("this cartridge draws its hits: pass draw (B, 2) (cartridge.hit_draws)")
            draw = np.asarray(draw, dtype=I64)
            acts = np.array(C.HIT_ACTIONS)
            for p in range(2):
                oh = o + p * C.HIT_WIDTH
                prob = self.hit_probability_q16(out[:, oh].astype(I64))
                hit = (draw[:, p] < prob) & (prob >= self.cart.hit_floor * C.HIT_FLOOR_UNIT)
                for j, f in enumerate(C.hit_field_indices()):
                    v = self._scalar(self.cart.fields[f], st[:, p, f], out[:, oh + 1 + j].astype(I64))
                    new[:, p, f] = np.where(hit, v, new[:, p, f])
                best = acts[np.argmax(out[:, action_out[p] + acts], axis=1)]  # first maximum, as intref
                new[:, p, C.FIELDS.index("action")] = np.where(hit, best, new[:, p, C.FIELDS.index("action")])
        return new.astype(np.int16)

    @staticmethod
    def linear(lin: C.Linear, w_t: np.ndarray, x: np.ndarray, shift: int) -> np.ndarray:
        acc = _exact_matmul(x, w_t) + lin.bias.astype(I64)
        return rshift_round(acc * lin.mult.astype(I64), shift)

    @staticmethod
    def rms_norm(r: np.ndarray, gain: np.ndarray, eps: int, shift: int) -> np.ndarray:
        r64 = r.astype(I64)
        mean = np.sum(r64 * r64, axis=1) // r.shape[1] + eps  # (B,) < 2^31
        root = np.floor(np.sqrt(mean.astype(np.float64))).astype(I64)
        root = np.where(root * root > mean, root - 1, root)  # exact isqrt
        root = np.where((root + 1) * (root + 1) <= mean, root + 1, root)
        inv = I64(1 << 30) // root
        return sat8(rshift_round(r64 * inv[:, None] * gain.astype(I64), shift))

    def layer(self, i: int, r: np.ndarray, h: np.ndarray):
        cart = self.cart
        lay = cart.layers[i]
        p = cart.preset
        e, n, hd = p.d_inner, p.d_state, p.headdim
        q = lay.quant
        xn = self.rms_norm(r, lay.norm_gain, q.eps, q.s_norm)
        v = self.linear(lay.in_proj, self.in_w[i], xn, q.s_in)
        z = sat8(v[:, :e])
        xq = sat8(v[:, e:2 * e])
        b = sat8(v[:, 2 * e:2 * e + n])
        c = sat8(v[:, 2 * e + n:2 * e + 2 * n])
        dt_idx = np.clip(v[:, 2 * e + 2 * n:] + C.SOFTPLUS_ZERO, 0, C.LUT_SIZE - 1)
        xa = lay.silu_x.astype(I64)[xq + 128]  # (B, E)
        dt = cart.softplus_lut.astype(I64)[dt_idx]  # (B, H)
        x = (lay.a_q16.astype(I64) * dt) >> I64(16)
        k = x >> I64(14)
        f = x & I64(0x3FFF)
        e_f = I64(C.Q20) - f + ((f * f) >> I64(21))
        lut = cart.exp_lut.astype(I64)[np.minimum(k, C.LUT_SIZE - 1)]
        decay = np.where(k >= C.LUT_SIZE, I64(0), (lut * e_f) >> I64(20))  # (B, H)
        head_of = np.arange(e) // hd
        dbx = sat32(rshift_round(dt[:, head_of] * xa * lay.u_mult.astype(I64)[head_of], q.s_u))
        h_new = sat32(rshift_round(decay[:, head_of, None] * h.astype(I64), 20)
                      + dbx[:, :, None] * b[:, None, :])  # (B, E, N)
        y_acc = np.einsum("ben,bn->be", h_new.astype(np.float64), c.astype(np.float64)).astype(I64)
        y = sat8(rshift_round(y_acc * I64(q.m_y) + xa * lay.d_skip.astype(I64)[head_of], q.s_y))
        gz = lay.silu_z.astype(I64)[z + 128]
        gy = sat8(rshift_round(y * gz * I64(q.m_g), q.s_g))
        r_new = sat16(r.astype(I64) + self.linear(lay.out_proj, self.out_w[i], gy, q.s_out))
        return r_new.astype(np.int16), h_new.astype(np.int32)

    def step(self, state: np.ndarray, ctrl: np.ndarray, hidden: np.ndarray, context=None, draw=None):
        """state (B, 2, 16), ctrl (B, 2, 8), hidden (B, L, E, N), context (B, 3) when the
        cartridge feeds it, draw (B, 2) when it samples hits -> next state, out, hidden."""
        cart = self.cart
        u = self.build_features(state, ctrl, context)
        r = sat16(self.linear(cart.encoder, self.enc_w, u, cart.s_enc)).astype(np.int16)
        hidden = hidden.copy()
        for i in range(len(cart.layers)):
            r, hidden[:, i] = self.layer(i, r, hidden[:, i])
        xn = self.rms_norm(r, cart.final_norm_gain, cart.eps_f, cart.s_norm_f)
        out = sat16(self.linear(cart.head, self.head_w, xn, cart.s_head)).astype(np.int16)
        return self.decode_outputs(state, out, draw), out, hidden


def ground_below(stage_ids: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """rules.ground_below for B fighters (stage_ids, x, y (B,) int64) -> (B,) int64 surface
    height, or a value above any stage (1 << 20) where there is none."""
    none = 1 << 20
    best = np.full(x.shape, -none, dtype=I64)
    for sid in np.unique(stage_ids):
        stage = R.stage_by_id(int(sid))
        if stage is None:
            continue
        on = stage_ids == sid
        main = on & (-stage.edge <= x) & (x <= stage.edge) & (y > -R.FLOOR_DEPTH)
        best = np.where(main, np.maximum(best, 0), best)
        for py, left, right in stage.platforms:
            plat = on & (left <= x) & (x <= right) & (y >= py - R.SNAP)
            best = np.where(plat, np.maximum(best, py), best)
    return np.where(best == -none, none, best)


def relative_features(st: np.ndarray, stage_ids: np.ndarray) -> np.ndarray:
    """cartridge.relative_features for B states (B, 2, 16) int64 -> (B, 4) int64."""
    x, y = st[:, :, R.X], st[:, :, R.Y]
    cols = [np.clip(x[:, 1] - x[:, 0] >> C.REL_SHIFT_XY, -128, 127),
            np.clip(y[:, 1] - y[:, 0] >> C.REL_SHIFT_XY, -128, 127)]
    for p in range(2):
        g = ground_below(stage_ids, x[:, p], y[:, p])
        cols.append(np.where(g == 1 << 20, C.NO_GROUND, np.clip(y[:, p] - g >> C.REL_SHIFT_GAP, -128, 127)))
    return np.stack(cols, axis=1)
