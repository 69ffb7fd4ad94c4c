"""The float twin of the integer world model (worldmodel.intref), in PyTorch.

Same blocks and activations as the cartridge, so trained weights quantize without any
architectural change (worldmodel.quantize). Shapes (b batch, l time, D d_model, E d_inner,
N d_state, H heads, P headdim, E = H * P):

    features u  (b, l, in_dim)   the exact int8 values intref.build_features makes, / 128
    encoder     r = W_enc u + b                                    (b, l, D) residual
    per layer   xn = r / rms(r) * gain                              RMSNorm, no mean
                z | x | B | C | dt_raw = in_proj(xn)                (E | E | N | N | H)
                xa = silu(x); dt = softplus(clamp(dt_raw, -8, 8 - 1/64))
                h_t = exp(-|A| dt_t) h_{t-1} + (dt_t xa_t) B_t^T    (b, H, P, N)
                y_t = C_t . h_t + D xa_t;   gy = y * silu(z)
                r = r + out_proj(gy)
    head        out = W_head (r / rms(r) * gain_f) + b              (b, l, out_dim)

Head outputs are normalised: the next-state field is out * OUT_SCALE in state units
(a delta, an absolute value, or logits for argmax/sign), as cartridge.DEC_* says.

The scan over time uses Mamba2's quadratic "SSD" form inside a sequence (a masked
decay matrix times C.B), which is one batched matmul instead of a Python loop per step,
and carries (h) in and out so long games train as consecutive windows.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as Fn
from torch import nn

from . import cartridge as C
from . import rules as R

DT_MIN = -C.SOFTPLUS_ZERO / C.SOFTPLUS_STEP  # the softplus LUT covers [-8, 8 - 1/64]
DT_MAX = (C.LUT_SIZE - 1 - C.SOFTPLUS_ZERO) / C.SOFTPLUS_STEP

# The field spec this model is trained with (it travels in the cartridge manifest).
# Inputs as cartridge.DEFAULT_FIELDS; every scalar field decodes as a DELTA, so a field the
# model is unsure about stays where it is (velocities, shield, percent, counters hardly ever
# jump) instead of being regressed from its coarse int8 input, which loses precision.
MODEL_FIELDS = (
    C.FieldSpec(C.ENC_SCALAR, 4, C.DEC_DELTA, 0),  # x
    C.FieldSpec(C.ENC_SCALAR, 4, C.DEC_DELTA, 0),  # y
    C.FieldSpec(C.ENC_SCALAR, 3, C.DEC_DELTA, 0),  # self_vx
    C.FieldSpec(C.ENC_SCALAR, 3, C.DEC_DELTA, 0),  # self_vy
    C.FieldSpec(C.ENC_SCALAR, 3, C.DEC_DELTA, 0),  # kb_vx
    C.FieldSpec(C.ENC_SCALAR, 3, C.DEC_DELTA, 0),  # kb_vy
    C.FieldSpec(C.ENC_SCALAR, 0, C.DEC_SIGN, 0),  # facing
    C.FieldSpec(C.ENC_ONEHOT, 32, C.DEC_ARGMAX, 32),  # action
    C.FieldSpec(C.ENC_SCALAR, 0, C.DEC_DELTA, 0),  # action_frame
    C.FieldSpec(C.ENC_SCALAR, 5, C.DEC_DELTA, 0),  # percent
    C.FieldSpec(C.ENC_ONEHOT, 5, C.DEC_ARGMAX, 5),  # stocks
    C.FieldSpec(C.ENC_SCALAR, 3, C.DEC_DELTA, 0),  # shield
    C.FieldSpec(C.ENC_ONEHOT, 2, C.DEC_ARGMAX, 2),  # airborne
    C.FieldSpec(C.ENC_SCALAR, 0, C.DEC_DELTA, 0),  # jumps_left
    C.FieldSpec(C.ENC_SCALAR, 0, C.DEC_DELTA, 0),  # hitlag
    C.FieldSpec(C.ENC_SCALAR, 0, C.DEC_DELTA, 0),  # hitstun
)

# State units per unit of normalised head output, per field (deltas, absolutes or logits).
LOGIT_SCALE = 256.0
FIELD_OUT_SCALE = {
    "x": 8.0, "y": 8.0,  # half a game unit per frame
    "self_vx": 64.0, "self_vy": 64.0, "kb_vx": 64.0, "kb_vy": 64.0,  # 1/4 unit/frame per frame
    "facing": LOGIT_SCALE, "action": LOGIT_SCALE, "action_frame": 8.0,
    "percent": 160.0, "stocks": LOGIT_SCALE, "shield": 16.0, "airborne": LOGIT_SCALE,
    "jumps_left": 1.0, "hitlag": 4.0, "hitstun": 8.0,
}


# -- features (the integer encoding of intref.build_features, batched) -----------------

class FeatureSpec:
    """Column bookkeeping for features and head outputs of one field spec."""

    def __init__(self, fields: tuple[C.FieldSpec, ...], context: int = 0):
        self.fields = fields
        self.context = context  # the manifest's context flags (C.CONTEXT_ONEHOT: fed stage, characters)
        self.in_dim = C.in_dim_for(fields, context)
        self.out_dim = C.out_dim_for(fields, context)
        scale = []
        self.out_slices: list[tuple[int, int, int, C.FieldSpec]] = []  # (player, field, start, spec)
        o = 0
        for p in range(2):
            for f, spec in enumerate(fields):
                w = spec.dec_width()
                if w:
                    self.out_slices.append((p, f, o, spec))
                    scale += [FIELD_OUT_SCALE[C.FIELDS[f]]] * w
                o += w
        # CONTEXT_SAMPLED_HIT: per fighter the hit logit, then HIT_FIELDS' outputs (hit_slot)
        self.hit = bool(context & C.CONTEXT_SAMPLED_HIT)
        self.hit_floor = 0  # the cartridge's (quantize --hit-floor); training draws without one
        self.hit_start = o
        if self.hit:
            C.check_hit_fields(fields)
            for p in range(2):
                scale += [LOGIT_SCALE] + [FIELD_OUT_SCALE[n] for n in C.HIT_FIELDS]
        self.out_scale = torch.tensor(scale, dtype=torch.float32)
        self.action_out = {p: o for p, f, o, _ in self.out_slices if C.FIELDS[f] == "action"}

    def hit_slot(self, p: int) -> int:
        """Head output index of fighter p's hit logit; its HIT_FIELDS follow it."""
        return self.hit_start + p * C.HIT_WIDTH


def build_features(fs: FeatureSpec, state: torch.Tensor, ctrl: torch.Tensor,
                   context: torch.Tensor | None = None) -> torch.Tensor:
    """state (..., 2, 16) int64, ctrl (..., 2, 8) int64, context (..., 3) int64 (stage,
    character 1, character 2 Slippi ids: needed when fs feeds it; a per-game context (b, 3)
    broadcasts over a window (b, l, ...)) -> features (..., in_dim) float holding exactly the
    int8 values of intref.build_features."""
    cols = []
    for p in range(2):
        for f, spec in enumerate(fs.fields):
            v = state[..., p, f]
            if spec.enc_kind == C.ENC_SCALAR:
                cols.append(torch.clamp(v >> spec.enc_arg, -128, 127)[..., None])
            elif spec.enc_kind == C.ENC_ONEHOT:
                k = torch.arange(spec.enc_arg, device=v.device)
                cols.append((v[..., None] == k).long() * 127)
    for p in range(2):
        c = ctrl[..., p, :]
        cols.append(c[..., 0:4])
        cols.append(c[..., 4:6] >> 1)
        bits = torch.arange(C.N_BUTTONS, device=c.device)
        cols.append(((c[..., 6:7] >> bits) & 1) * 64)
    if fs.context & (C.CONTEXT_ONEHOT | C.CONTEXT_RELATIVE):
        if context is None:
            raise ValueError("this model is fed the session's context: pass (..., 3) stage, characters")
        cx = context.to(state.device)
        while cx.dim() < state.dim() - 1:  # per game -> per frame of the window
            cx = cx.unsqueeze(-2)
        cx = cx.expand(*state.shape[:-2], 3)
    if fs.context & C.CONTEXT_ONEHOT:
        stages = torch.tensor(C.CONTEXT_STAGES, device=cx.device)
        cols.append((cx[..., 0:1] == stages).long() * 127)
        chars = torch.arange(C.N_CHARACTERS, device=cx.device)
        for p in range(2):
            cols.append((cx[..., 1 + p:2 + p] == chars).long() * 127)
    if fs.context & C.CONTEXT_RELATIVE:
        cols.append(relative_features(state, cx[..., 0]))
    u = torch.cat(cols, dim=-1)
    pad = fs.in_dim - u.shape[-1]
    if pad:
        u = Fn.pad(u, (0, pad))
    return u.float()


_NO_SURFACE = 1 << 20


def ground_below(stage_ids: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """rules.ground_below, elementwise over int64 tensors of one shape -> surface height, or
    _NO_SURFACE where there is none."""
    best = torch.full_like(x, -_NO_SURFACE)
    for stage in R.STAGE_TABLE:
        on = stage_ids == stage.id
        main = on & (x >= -stage.edge) & (x <= stage.edge) & (y > -R.FLOOR_DEPTH)
        best = torch.where(main, best.clamp(min=0), best)
        for py, left, right in stage.platforms:
            plat = on & (x >= left) & (x <= right) & (y >= py - R.SNAP)
            best = torch.where(plat, best.clamp(min=py), best)
    return torch.where(best == -_NO_SURFACE, _NO_SURFACE, best)


def relative_features(state: torch.Tensor, stage_ids: torch.Tensor) -> torch.Tensor:
    """cartridge.relative_features: state (..., 2, 16) int64, stage_ids (...) -> (..., 4)."""
    x, y = state[..., R.X], state[..., R.Y]
    cols = [torch.clamp((x[..., 1] - x[..., 0]) >> C.REL_SHIFT_XY, -128, 127),
            torch.clamp((y[..., 1] - y[..., 0]) >> C.REL_SHIFT_XY, -128, 127)]
    for p in range(2):
        g = ground_below(stage_ids, x[..., p], y[..., p])
        gap = torch.clamp((y[..., p] - g) >> C.REL_SHIFT_GAP, -128, 127)
        cols.append(torch.where(g == _NO_SURFACE, C.NO_GROUND, gap))
    return torch.stack(cols, dim=-1)


def _decode_scalar(spec: C.FieldSpec, value: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
    """One ABSOLUTE or DELTA output in state units -> the field's next value."""
    v = torch.clamp(torch.round(value), -32768, 32767).long()
    if spec.dec_kind == C.DEC_ABSOLUTE:
        return v
    v = torch.where(v.abs() <= spec.dec_arg, 0, v)  # the dead band (cartridge.FieldSpec)
    return torch.clamp(old + v, -32768, 32767)


def decode(fs: FeatureSpec, base: torch.Tensor, out: torch.Tensor, draw: torch.Tensor | None = None) -> torch.Tensor:
    """Normalised head outputs (..., out_dim) + current state (..., 2, 16) -> next state,
    integer like intref.decode_outputs (values rounded to state units). A sampled-hit model
    (fs.hit) hits fighter p where draw[..., p] (16-bit uniform ints, cartridge.hit_draw) is under
    its hit probability; draw None: no hit is drawn."""
    new = base.clone()
    units = out * fs.out_scale.to(out.device)
    for p, f, o, spec in fs.out_slices:
        k = spec.dec_kind
        if k in (C.DEC_ABSOLUTE, C.DEC_DELTA):
            new[..., p, f] = _decode_scalar(spec, units[..., o], base[..., p, f])
        elif k == C.DEC_ARGMAX:
            new[..., p, f] = torch.argmax(units[..., o:o + spec.dec_arg], dim=-1)
        elif k == C.DEC_SIGN:
            new[..., p, f] = torch.where(units[..., o] >= 0, 1, -1)
    if fs.hit and draw is not None:
        act = C.FIELDS.index("action")
        hit_actions = torch.tensor(C.HIT_ACTIONS, device=out.device)
        for p in range(2):
            oh = fs.hit_slot(p)
            prob = torch.sigmoid(out[..., oh]) * 65536
            hit = (draw[..., p].to(out.device) < prob) & (prob >= fs.hit_floor * C.HIT_FLOOR_UNIT)
            for j, f in enumerate(C.hit_field_indices()):
                v = _decode_scalar(fs.fields[f], units[..., oh + 1 + j], base[..., p, f])
                new[..., p, f] = torch.where(hit, v, new[..., p, f])
            logits = units[..., fs.action_out[p] + hit_actions]
            new[..., p, act] = torch.where(hit, hit_actions[torch.argmax(logits, dim=-1)], new[..., p, act])
    return new


def hit_targets(base: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(b, l, 2, 16) -> (b, l, 2) bool: the fighter is hit on the next frame (its percent rises
    by rules.HIT_PERCENT or more), the label of the hit branch."""
    return (target[..., R.PERCENT] - base[..., R.PERCENT]) >= R.HIT_PERCENT


# -- blocks ------------------------------------------------------------------------

def rms_norm(r: torch.Tensor, gain: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """r (..., D) -> r / sqrt(mean(r^2) + eps) * gain."""
    return r * torch.rsqrt(r.pow(2).mean(-1, keepdim=True) + eps) * gain


# -- quantization-aware training ------------------------------------------------------
# With fake quantization on (WorldModel.set_fake_quant, train --qat), the forward pass
# rounds every tensor the cartridge stores to the cartridge's grid (the scales of
# quantize.activation_scales; weights to int8 per row as quantize._quant_rows), with a
# straight-through gradient. The model then trains on what the INT8 program computes, and
# its closed-loop rollouts see the INT8 errors that, fed back as state deltas, made the
# cartridge drift where its float twin stood still.

def fake_quant(t: torch.Tensor, scale, lo: int = -128, hi: int = 127) -> torch.Tensor:
    """t -> clamp(round(t / scale), lo, hi) * scale, gradient passed straight through inside
    the range and stopped where the value saturates (there the output does not move with t;
    a gradient there pushes values further out of range and training diverges).
    scale: a float, or one per channel (the last axis)."""
    v = t / scale
    q = torch.clamp(torch.round(v), lo, hi) * scale
    inside = (v >= lo) & (v <= hi)
    return torch.where(inside, t + (q - t).detach(), q.detach())


def fake_quant_rows(w: torch.Tensor, col_scale=None) -> torch.Tensor:
    """Linear weight (rows, cols) -> int8 per row, as quantize._linear stores it (per-column
    input scales folded in first), gradient passed straight through."""
    ws = w if col_scale is None else w * col_scale
    s = ws.detach().abs().amax(1, keepdim=True).clamp(min=1e-12) / 127
    q = torch.clamp(torch.round(ws / s), -127, 127) * s
    if col_scale is not None:
        q = q / col_scale
    return w + (q - w).detach()


def _scale(v, device=None):
    """A scale from quantize.activation_scales (float or per-channel array) -> float/tensor."""
    return torch.as_tensor(v, dtype=torch.float32, device=device) if np.ndim(v) else float(v)


def segsum_decay(log_a: torch.Tensor) -> torch.Tensor:
    """log_a (b, l, H) per-step log decays -> L (b, H, l, l) with
    L[t, s] = exp(sum_{s < k <= t} log_a[k]) for s <= t, else 0."""
    cum = torch.cumsum(log_a, dim=1).transpose(1, 2)  # (b, H, l)
    seg = cum[..., :, None] - cum[..., None, :]  # (b, H, l, l)  t, s
    l = log_a.shape[1]
    mask = torch.ones(l, l, dtype=torch.bool, device=log_a.device).tril()
    return torch.exp(seg.masked_fill(~mask, -math.inf))


class Mamba2Layer(nn.Module):
    def __init__(self, p: C.Preset):
        super().__init__()
        self.p = p
        d, e, n, h = p.d_model, p.d_inner, p.d_state, p.n_heads
        self.norm_gain = nn.Parameter(torch.ones(d))
        self.in_proj = nn.Linear(d, 2 * e + 2 * n + h)
        self.a_log = nn.Parameter(torch.log(torch.linspace(1.0, 16.0, h)))  # |A| = exp(a_log)
        self.d_skip = nn.Parameter(torch.ones(h))
        self.out_proj = nn.Linear(e, d)
        with torch.no_grad():
            # dt = softplus(bias) spread log-uniformly over [0.001, 0.1] as in Mamba2
            dt = torch.exp(torch.linspace(math.log(1e-3), math.log(1e-1), h))
            self.in_proj.bias[2 * e + 2 * n:] = dt + torch.log(-torch.expm1(-dt))
            self.out_proj.weight.mul_(0.5 / math.sqrt(p.n_layers))
        self.fq: dict | None = None  # fake-quantization scales of this layer (set_fake_quant)

    def split(self, v: torch.Tensor):
        """in_proj output (b, l, R) -> z, x (b, l, E), B, C (b, l, N), dt_raw (b, l, H)."""
        e, n = self.p.d_inner, self.p.d_state
        return v[..., :e], v[..., e:2 * e], v[..., 2 * e:2 * e + n], v[..., 2 * e + n:2 * e + 2 * n], \
            v[..., 2 * e + 2 * n:]

    def forward(self, r: torch.Tensor, h0: torch.Tensor, taps: dict | None = None):
        """r (b, l, D), h0 (b, H, P, N) -> r (b, l, D), h_last (b, H, P, N)."""
        p = self.p
        b, l, _ = r.shape
        q = self.fq
        xn = rms_norm(r, self.norm_gain)  # (b, l, D)
        if q is None:
            z, x, bm, cm, dt_raw = self.split(self.in_proj(xn))
        else:
            xn = fake_quant(xn, q["xn"])
            w = fake_quant_rows(self.in_proj.weight, q["xn"] if torch.is_tensor(q["xn"]) else None)
            z, x, bm, cm, dt_raw = self.split(Fn.linear(xn, w, self.in_proj.bias))
            z, x = fake_quant(z, q["z"]), fake_quant(x, q["x"])
            bm, cm = fake_quant(bm, q["B"]), fake_quant(cm, q["C"])
            dt_raw = fake_quant(dt_raw, 1.0 / C.SOFTPLUS_STEP, -C.SOFTPLUS_ZERO, C.LUT_SIZE - 1 - C.SOFTPLUS_ZERO)
        xa = Fn.silu(x)
        if q is not None:
            xa = fake_quant(xa, q["xa"])
        xa = xa.view(b, l, p.n_heads, p.headdim)  # (b, l, H, P)
        dt = Fn.softplus(torch.clamp(dt_raw, DT_MIN, DT_MAX))  # (b, l, H)
        log_a = -torch.exp(self.a_log) * dt  # (b, l, H) log of the decay
        dbx = dt[..., None] * xa  # (b, l, H, P)
        # (pairwise products only: a 3-operand einsum would materialise (b, H, l, s, P))
        decay = segsum_decay(log_a)  # (b, H, l, s)
        cb = torch.matmul(cm, bm.transpose(1, 2))  # (b, l, s)  C_t . B_s
        y = torch.matmul(decay * cb[:, None], dbx.transpose(1, 2)).transpose(1, 2)  # (b, l, H, P)
        cum = torch.cumsum(log_a, dim=1)  # (b, l, H)
        y = y + torch.einsum("btn,bhpn->bthp", cm, h0) * torch.exp(cum)[..., None]  # from h0
        to_end = torch.exp(cum[:, -1:, :] - cum)  # (b, l, H) decay from step s to the end
        h_last = h0 * torch.exp(cum[:, -1, :])[..., None, None] + \
            torch.einsum("bshp,bsn->bhpn", to_end[..., None] * dbx, bm)
        y = y + self.d_skip[:, None] * xa  # (b, l, H, P)
        gz = Fn.silu(z)
        if q is not None:
            y, gz = fake_quant(y, q["y"]), fake_quant(gz, q["gz"])
        gy = y.reshape(b, l, p.d_inner) * gz  # (b, l, E)
        if q is not None:
            gy = fake_quant(gy, q["gy"])
        if taps is not None:
            taps.setdefault("layers", []).append(dict(
                r=r, xn=xn, z=z, x=x, B=bm, C=cm, dt_raw=dt_raw, xa=xa, dbx=dbx,
                y=y, gz=gz, gy=gy, h=h_last))
        if q is None:
            return r + self.out_proj(gy), h_last
        r = r + Fn.linear(gy, fake_quant_rows(self.out_proj.weight), self.out_proj.bias)
        return fake_quant(r, q["r"], -32768, 32767), h_last


class WorldModel(nn.Module):
    def __init__(self, preset: str | C.Preset, fields: tuple[C.FieldSpec, ...] = MODEL_FIELDS, context: int = 0):
        super().__init__()
        self.p = C.PRESETS[preset] if isinstance(preset, str) else preset
        self.fs = FeatureSpec(fields, context)
        d = self.p.d_model
        self.encoder = nn.Linear(self.fs.in_dim, d)
        self.layers = nn.ModuleList(Mamba2Layer(self.p) for _ in range(self.p.n_layers))
        self.final_gain = nn.Parameter(torch.ones(d))
        self.head = nn.Linear(d, self.fs.out_dim)
        with torch.no_grad():
            self.head.weight.mul_(0.1)
            self.head.bias.zero_()
        self.fq: dict | None = None

    def set_fake_quant(self, scales: dict | None) -> None:
        """Round the forward pass to the cartridge's grids: scales from
        quantize.activation_scales (None: plain float again)."""
        if scales is None:
            self.fq = None
            for layer in self.layers:
                layer.fq = None
            return
        dev = self.head.weight.device
        self.fq = {"r": float(scales["r"]), "xn_final": _scale(scales["xn_final"], dev)}
        for layer, sl in zip(self.layers, scales["layers"]):
            layer.fq = {k: _scale(v, dev) for k, v in sl.items()}
            layer.fq["r"] = self.fq["r"]

    def new_hidden(self, batch: int, device=None) -> torch.Tensor:
        p = self.p
        return torch.zeros(p.n_layers, batch, p.n_heads, p.headdim, p.d_state, device=device)

    def forward(self, u: torch.Tensor, hidden: torch.Tensor, taps: dict | None = None):
        """u (b, l, in_dim) integer feature values, hidden (L, b, H, P, N)
        -> normalised outputs (b, l, out_dim), hidden."""
        q = self.fq
        if q is None:
            r = self.encoder(u / 128.0)  # (b, l, D)
        else:
            r = fake_quant(Fn.linear(u / 128.0, fake_quant_rows(self.encoder.weight), self.encoder.bias),
                           q["r"], -32768, 32767)
        if taps is not None:
            taps["u"] = u
            taps["r0"] = r
        hs = []
        for i, layer in enumerate(self.layers):
            r, h = layer(r, hidden[i], taps)
            hs.append(h)
        xn = rms_norm(r, self.final_gain)
        if taps is not None:
            taps["r_final"] = r
            taps["xn_final"] = xn
        if q is None:
            return self.head(xn), torch.stack(hs)
        sf = q["xn_final"]
        xn = fake_quant(xn, sf)
        w = fake_quant_rows(self.head.weight, sf if torch.is_tensor(sf) else None)
        return Fn.linear(xn, w, self.head.bias), torch.stack(hs)

    def step_states(self, state: torch.Tensor, ctrl: torch.Tensor, hidden: torch.Tensor,
                    context: torch.Tensor | None = None):
        """Predict next states for a window: state (b, l, 2, 16) inputs, ctrl (b, l, 2, 8),
        context (b, 3) when fed -> (normalised outputs, decoded next states, hidden)."""
        out, hidden = self(build_features(self.fs, state, ctrl, context), hidden)
        return out, decode(self.fs, state, out), hidden


# -- loss ----------------------------------------------------------------------------

REG_WEIGHT = {
    "x": 2.0, "y": 2.0, "self_vx": 1.0, "self_vy": 1.0, "kb_vx": 1.0, "kb_vy": 1.0,
    "action_frame": 0.2, "percent": 0.5, "shield": 0.3, "jumps_left": 0.3, "hitlag": 0.3,
    "hitstun": 0.3,
}
L1_BETA = 0.05
CLS_WEIGHT = {"action": 1.0, "stocks": 0.3, "airborne": 0.5, "facing": 0.5, "hit": 1.0}
VELOCITY_FIELDS = {"self_vx", "self_vy", "kb_vx", "kb_vy"}
# The hit branch's regressions are means over the few hit frames of a batch (about 1 in 200) of
# large targets (knockback): at full weight their noise outweighs the rest (a first run's action
# loss rose while the branch learnt), so they weigh less, without the exact term (a drawn hit is
# an event, not a fighter at rest that a fraction of a unit walks away).
HIT_BRANCH_WEIGHT = 0.2


# The decoded state is the head output rounded to whole state units, so what a frame gets
# right or wrong is whether the output lands within half a unit of the target. Smooth L1 is
# nearly flat there (its quadratic zone is L1_BETA normalised units wide: 0.4 state units of
# position, 3.2 of velocity), and a bias of a fraction of a unit, repeated every frame of a
# fighter standing still, rounds to a step now and then and walks it away. The exact term
# (train --exact-weight) is L1 outside EXACT_MARGIN state units of the target and zero inside.
EXACT_MARGIN = 0.25


# A facing flips on 0.9 % of a fighter's frames (data_stats), and on every other frame the facing
# is its input's: the copy is all a facing term weighed frame by frame teaches (worldmodel.turns:
# the models flip one frame after the replay, never on its frame). train --flip-weight weighs
# the flip frames up in the facing term alone (the event weight raises every term of a frame;
# at 50 the facing flipped on every frame of a turn, README).
# A landing is alike for y: the frame it lands the fighter must stop on the surface, not fall
# its speed's worth into it (playtest's landings 1.5-2 units deep after a fast fall), and
# train --land-weight weighs the y terms up on those frames.


def event_frames(base: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """base, target (b, l, 2, 16) int64 -> (b, l) bool: a frame on which either fighter lands
    or leaves the ground (airborne changes), is hit (percent rises), changes action category
    or turns (facing flips: mid-turn, not where the turn's action begins). Each is a few per
    cent of the frames or less, and each is what closed-loop play hinges on: a jump that never
    stops falling, a smash whose knockback never comes, a turn that never faces the other way."""
    air, pct, act, face = (C.FIELDS.index(n) for n in ("airborne", "percent", "action", "facing"))
    changed = (base[..., air] != target[..., air]) | (target[..., pct] > base[..., pct]) \
        | (base[..., act] != target[..., act]) | (base[..., face] != target[..., face])
    return changed.any(dim=-1)


def loss_terms(fs: FeatureSpec, out: torch.Tensor, base: torch.Tensor, target: torch.Tensor,
               has_vel: torch.Tensor, exact: float = 0.0,
               weight: torch.Tensor | None = None, flip: float = 0.0,
               land: float = 0.0) -> dict[str, torch.Tensor]:
    """out (b, l, out_dim) normalised; base, target (b, l, 2, 16) int64; has_vel (b,) bool;
    weight (b, l) per-frame weights (None: all 1), every term a weighted mean over frames;
    `flip` > 0 weighs a fighter's facing term 1 + flip more on the frames where it turns, `land` > 0
    its y terms 1 + land more on the frames where it lands (see the note above event_frames).
    Regression: smooth L1 on normalised deltas/absolutes, plus with `exact` > 0 the exact term
    (EXACT_MARGIN) under the name "<field>_exact"; classification: cross-entropy."""
    terms: dict[str, torch.Tensor] = {}
    scale = fs.out_scale.to(out.device)
    w = torch.ones(out.shape[:2], device=out.device) if weight is None else weight.to(out.device).float()
    vel_w = has_vel[:, None].float() * w  # (b, l): frames whose replay has velocities

    def mean(e, m):  # e (b, l) weighted by m (b, l)
        return (e * m).sum() / m.sum().clamp(min=1e-6)

    def regress(name, f, p, o, spec, m, suffix="", weight=1.0, exact=exact):
        tgt = target[..., p, f].float()
        if spec.dec_kind == C.DEC_DELTA:
            tgt = tgt - base[..., p, f].float()
        # smooth L1: the metric is a mean absolute error; beta keeps it smooth near 0
        err = Fn.smooth_l1_loss(out[..., o], tgt / scale[o], reduction="none", beta=L1_BETA)
        errs = [(name + suffix, err)]
        if exact > 0:
            off = Fn.relu((out[..., o] - tgt / scale[o]).abs() - EXACT_MARGIN / scale[o])
            errs.append((name + suffix + "_exact", exact * off))
        for key, e in errs:
            terms[key] = terms.get(key, 0) + weight * REG_WEIGHT[name] * mean(e, m) / 2
    # A sampled-hit model's field outputs say what happens without a hit (HIT_FIELDS are
    # learnt on the frames without one), its hit branch what a hit does (on hit frames only).
    hits = hit_targets(base, target).float() if fs.hit else None  # (b, l, 2)
    hit_fields = set(C.hit_field_indices()) if fs.hit else set()
    air = C.FIELDS.index("airborne")
    for p, f, o, spec in fs.out_slices:
        name = C.FIELDS[f]
        k = spec.dec_kind
        if k in (C.DEC_DELTA, C.DEC_ABSOLUTE):
            m = vel_w if name in VELOCITY_FIELDS else w
            if land > 0 and name == "y":
                m = m * (1 + land * ((base[..., p, air] != 0) & (target[..., p, air] == 0)).float())
            regress(name, f, p, o, spec, m * (1 - hits[..., p]) if f in hit_fields else m)
        elif k == C.DEC_ARGMAX:
            logits = out[..., o:o + spec.dec_arg] * (scale[o] / LOGIT_SCALE)
            tgt = target[..., p, f].clamp(0, spec.dec_arg - 1)
            ce = Fn.cross_entropy(logits.reshape(-1, spec.dec_arg), tgt.reshape(-1), reduction="none")
            terms[name] = terms.get(name, 0) + CLS_WEIGHT[name] * mean(ce.reshape(w.shape), w) / 2
        elif k == C.DEC_SIGN:
            tgt = (target[..., p, f] > 0).float()
            bce = Fn.binary_cross_entropy_with_logits(out[..., o], tgt, reduction="none")
            m = w * (1 + flip * (target[..., p, f] != base[..., p, f]).float()) if flip > 0 else w
            terms[name] = terms.get(name, 0) + CLS_WEIGHT[name] * mean(bce, m) / 2
    if fs.hit:
        for p in range(2):
            oh = fs.hit_slot(p)
            # unweighted: the draw needs the hit's odds, which weighing the event frames up
            # (train --event-weight, hits among them) would inflate (by about 2.6x at weight 2)
            bce = Fn.binary_cross_entropy_with_logits(out[..., oh], hits[..., p], reduction="none")
            terms["hit"] = terms.get("hit", 0) + CLS_WEIGHT["hit"] * bce.mean() / 2
            for j, f in enumerate(C.hit_field_indices()):
                name = C.FIELDS[f]
                m = (vel_w if name in VELOCITY_FIELDS else w) * hits[..., p]
                regress(name, f, p, oh + 1 + j, fs.fields[f], m, "_on_hit", HIT_BRANCH_WEIGHT, 0.0)
    return terms


def to_numpy_state(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.int16)
