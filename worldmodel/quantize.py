"""Quantize a trained float WorldModel into a Cartridge (the on-chain INT8 format).

    python -m worldmodel.quantize --ckpt build/train/micro/ckpt.pt --replays DIR --out DIR [--dead-band x=1,y=1]

Weights: int8 with one scale per output row (per channel); the row's scale, the input
activation scale and the output scale fold into the row's int32 `mult` and the shared shift.
Activations: one scale per tensor, calibrated as the largest magnitude seen while the float
model runs step by step (hidden state carried, as on chain) over held-out replay windows.
Fixed by the format: the dt rows of in_proj are in units of 1/64 (the softplus LUT step),
decays and dt in Q20, |A| in Q16, head outputs in state units (model.FIELD_OUT_SCALE).

Scales (real value = integer * scale):
    s_r   residual stream (int16, one for the whole network)
    s_xn  RMSNorm output (int8), per layer; s_z, s_x, s_B, s_C in_proj outputs (int8)
    s_xa  SiLU(x), s_gz SiLU(z) (int8, the LUT outputs)
    s_h   hidden state (int32); dbx = dt * xa lives at s_h / s_B so h += dbx * B needs no shift
    s_y   C.h + D.xa (int8); s_gy  y * SiLU(z) (int8)
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math

import numpy as np
import torch

from . import cartridge as C
from .model import FeatureSpec, WorldModel, build_features

MULT_BITS = 24  # target magnitude of the largest per-row multiplier


def _amax(t: torch.Tensor) -> float:
    return max(float(t.detach().abs().max()), 1e-8)


INT8_TAPS = ("xn", "z", "x", "B", "C", "y", "gy")  # tensors stored as int8 on chain


@torch.no_grad()
def calibrate(model: WorldModel, state: np.ndarray, ctrl: np.ndarray, percentile: float = 100.0,
              context: np.ndarray | None = None) -> dict:
    """Magnitudes of every activation over windows state (b, l+1, 2, 16), ctrl (b, l+1, 2, 8),
    run one frame at a time with the hidden state carried. int8 tensors get the given
    percentile of |value| (100 = the maximum; a little lower trades rare clipping for
    resolution); the int16 residual and int32 hidden state always get the maximum.
    `context` (b, 3): each window's stage and characters, for a model fed them."""
    stats: dict = {"layers": [dict() for _ in model.layers]}
    seen: list[dict] = [{k: [] for k in INT8_TAPS} for _ in model.layers]
    final: list[np.ndarray] = []

    def upd(d, k, v):
        d[k] = max(d.get(k, 0.0), _amax(v))

    def upd_ch(d, k, v):  # per channel (last axis)
        m = v.detach().abs().reshape(-1, v.shape[-1]).amax(0).double().numpy()
        d[k] = np.maximum(d[k], m) if k in d else m

    s = torch.from_numpy(state.astype(np.int64))
    c = torch.from_numpy(ctrl.astype(np.int64))
    cx = None if context is None else torch.from_numpy(np.asarray(context, dtype=np.int64))
    hid = model.new_hidden(s.shape[0])
    for t in range(s.shape[1] - 1):
        taps: dict = {}
        u = build_features(model.fs, s[:, t:t + 1], c[:, t + 1:t + 2], cx)
        _, hid = model(u, hid, taps)
        upd(stats, "r", taps["r0"])
        upd(stats, "r", taps["r_final"])
        final.append(taps["xn_final"].abs().flatten().numpy())
        upd_ch(stats, "xn_final_ch", taps["xn_final"])
        for i, lt in enumerate(taps["layers"]):
            upd_ch(stats["layers"][i], "xn_ch", lt["xn"])
            upd(stats, "r", lt["r"])
            upd(stats["layers"][i], "h", lt["h"])
            for k in INT8_TAPS:
                seen[i][k].append(lt[k].abs().flatten().numpy())

    def pick(chunks: list[np.ndarray]) -> float:
        return max(float(np.percentile(np.concatenate(chunks), percentile)), 1e-8)

    stats["xn_final"] = pick(final)
    for i, d in enumerate(stats["layers"]):
        for k in INT8_TAPS:
            d[k] = pick(seen[i][k])
    return stats


def _quant_rows(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) float -> int8 weights and per-row scales."""
    s = np.maximum(np.abs(w).max(axis=1), 1e-12) / 127.0
    return np.clip(np.round(w / s[:, None]), -127, 127).astype(np.int8), s


def _shift_for(ratios: np.ndarray, bits: int = MULT_BITS) -> int:
    """Largest shift (<= 62) keeping max(ratio) * 2^shift below 2^bits."""
    top = float(np.max(np.abs(ratios)))
    return int(min(62, max(0, math.floor(bits - math.log2(top)))))


def _linear(weight: torch.Tensor, bias: torch.Tensor, s_in, s_out: np.ndarray):
    """Float y = W x + b with x = x_q * s_in and y = y_q * s_out (per row) ->
    (Linear, shift) so that y_q = ((W_q x_q + bias_q) * mult) >> shift. s_in may be one
    scale per input column: it folds into the columns, W x = (W diag(s_in)) x_q."""
    w = weight.detach().double().numpy()
    b = bias.detach().double().numpy()
    if np.ndim(s_in):
        w = w * np.asarray(s_in)[None, :]
        s_in = 1.0
    wq, sw = _quant_rows(w)
    acc_scale = sw * s_in  # real value of one accumulator unit, per row
    bias_q = np.clip(np.round(b / acc_scale), -(1 << 31), (1 << 31) - 1).astype(np.int32)
    ratio = acc_scale / s_out
    shift = _shift_for(ratio)
    mult = np.round(ratio * (1 << shift)).astype(np.int64)
    assert np.all(np.abs(mult) < 1 << 31)
    return C.Linear(wq, bias_q, mult.astype(np.int32)), shift


def _norm_gain(gain: torch.Tensor, s_out: float) -> tuple[np.ndarray, int]:
    """xn_q = r * (2^30 / rms) * gain_q >> shift  ==  (r / rms) * gain / s_out."""
    g = gain.detach().double().numpy() / s_out  # gain_q / 2^(shift - 30)
    shift = int(min(62, max(30, math.floor(22 - math.log2(max(np.abs(g).max(), 1e-12))) + 30)))
    q = np.round(g * 2.0 ** (shift - 30)).astype(np.int64)
    assert np.all(np.abs(q) < 1 << 27)
    return q.astype(np.int32), shift


def _fixed_point(ratio: float, limit_bits: int) -> tuple[int, int]:
    """ratio ~= m / 2^s with |m| < 2^limit_bits."""
    s = int(min(62, max(0, math.floor(limit_bits - 1e-9 - math.log2(abs(ratio))))))
    m = int(round(ratio * 2 ** s))
    while abs(m) >= 1 << limit_bits:
        s -= 1
        m = int(round(ratio * 2 ** s))
    return m, s


def silu(v: float) -> float:
    return v / (1.0 + math.exp(-v))


def _norm_scale(st: dict, key: str, channel_scales: bool):
    """Scale of an RMSNorm output: one per tensor, or (channel_scales) one per channel, which
    costs nothing on chain (it folds into the norm gain and the next layer's weight columns)
    and gives each channel the whole int8 range instead of the largest channel's."""
    if channel_scales and key + "_ch" in st:
        return np.maximum(st[key + "_ch"], 1e-8) / 127
    return st[key] / 127


def activation_scales(stats: dict, channel_scales: bool = False) -> dict:
    """Calibrated magnitudes (calibrate) -> the scale of every stored activation (real value =
    integer * scale): "r" (int16 residual), "xn_final" and per layer "xn", "z", "x", "B", "C",
    "xa", "gz", "y", "gy" (int8). export builds the cartridge from these, and
    quantization-aware training (model.WorldModel.set_fake_quant) rounds to the same grids."""
    layers = []
    for st in stats["layers"]:
        s_x, s_z = st["x"] / 127, st["z"] / 127
        layers.append({
            "xn": _norm_scale(st, "xn", channel_scales), "z": s_z, "x": s_x,
            "B": st["B"] / 127, "C": st["C"] / 127,
            "xa": max(silu(127 * s_x), 0.2785) / 127,  # SiLU's range over the int8 input range
            "gz": max(silu(127 * s_z), 0.2785) / 127,
            "y": st["y"] / 127, "gy": st["gy"] / 127})
    return {"r": stats["r"] * 1.25 / 32767,  # headroom: the residual saturates at int16
            "xn_final": _norm_scale(stats, "xn_final", channel_scales), "layers": layers}


def export(model: WorldModel, stats: dict, channel_scales: bool = False) -> C.Cartridge:
    p = model.p
    e, n = p.d_inner, p.d_state
    sc = activation_scales(stats, channel_scales)
    s_r = sc["r"]
    s_feat = 1.0 / 128  # the model divides the int8 features by 128
    encoder, s_enc = _linear(model.encoder.weight, model.encoder.bias, s_feat,
                             np.full(model.encoder.out_features, s_r))
    layers = []
    for lay, st, sl in zip(model.layers, stats["layers"], sc["layers"]):
        s_xn, s_z, s_x, s_b, s_c = sl["xn"], sl["z"], sl["x"], sl["B"], sl["C"]
        s_xa, s_gz = sl["xa"], sl["gz"]
        s_out_rows = np.concatenate([
            np.full(e, s_z), np.full(e, s_x), np.full(n, s_b), np.full(n, s_c),
            np.full(p.n_heads, 1.0 / C.SOFTPLUS_STEP)])
        norm_gain, s_norm = _norm_gain(lay.norm_gain, s_xn)
        in_proj, s_in = _linear(lay.in_proj.weight, lay.in_proj.bias, s_xn, s_out_rows)
        s_h = st["h"] * 4 / (1 << 28)
        s_dbx = s_h / s_b
        # dbx_q = dt_q20 * xa_q * u_mult >> s_u  ==  dt * xa / s_dbx
        u_mult, s_u = _fixed_point(s_xa / s_dbx / C.Q20, 20)
        s_y = sl["y"]
        m_y, sh_y = _fixed_point(s_h * s_c / s_y, 19)
        d_skip = np.round(lay.d_skip.detach().double().numpy() * s_xa / s_y * 2.0 ** sh_y).astype(np.int64)
        s_gy = sl["gy"]
        m_g, s_g = _fixed_point(s_y * s_gz / s_gy, 23)
        out_proj, s_out = _linear(lay.out_proj.weight, lay.out_proj.bias, s_gy,
                                  np.full(p.d_model, s_r))
        a = torch.exp(lay.a_log).detach().double().numpy()
        layers.append(C.Layer(
            norm_gain=norm_gain, in_proj=in_proj,
            a_q16=np.clip(np.round(a * 65536), 0, (1 << 32) - 1).astype(np.uint32),
            d_skip=d_skip, u_mult=np.full(p.n_heads, u_mult, dtype=np.int32),
            silu_x=C.silu_lut(s_x, s_xa), silu_z=C.silu_lut(s_z, s_gz),
            out_proj=out_proj,
            quant=C.LayerQuant(eps=1, s_norm=s_norm, s_in=s_in, s_u=s_u, s_y=sh_y, s_g=s_g,
                               s_out=s_out, m_y=m_y, m_g=m_g)))
    s_xf = sc["xn_final"]
    final_gain, s_norm_f = _norm_gain(model.final_gain, s_xf)
    # head rows produce state units directly: out_q = out * FIELD_OUT_SCALE
    head, s_head = _linear(model.head.weight, model.head.bias, s_xf,
                           1.0 / model.fs.out_scale.double().numpy())
    cart = C.Cartridge(
        preset=p, fields=model.fs.fields, softplus_lut=C.softplus_lut(), exp_lut=C.exp_lut(),
        encoder=encoder, layers=layers, final_norm_gain=final_gain, head=head,
        s_enc=s_enc, s_head=s_head, s_norm_f=s_norm_f, eps_f=1, context=model.fs.context)
    C.validate(cart)
    return cart


@torch.no_grad()
def correct_head_bias(cart: C.Cartridge, model: WorldModel, state: np.ndarray, ctrl: np.ndarray,
                      context: np.ndarray | None = None) -> dict:
    """Bias correction: shift each regression row of the head so that the mean error of the
    INT8 output against the float output is zero on the calibration windows.

    Rounding and clipping in the integer network leave a small systematic offset in each
    head row; decoded as a per-frame DELTA it integrates over a long rollout into drift
    (fighters sinking through the stage). The head bias does not feed the hidden state, so
    one pass fixes the mean exactly up to rounding. Both models see the same true states
    (teacher forcing) with their own hidden states carried, as on chain.
    Returns {field name: mean error before, in state units per frame} (player-averaged)."""
    from .intbatch import BatchRef
    from .intref import sat16

    br = BatchRef(cart)
    hid = br.new_hidden(state.shape[0])
    xns = []  # the head's int8 inputs; the head bias changes nothing before them
    for t in range(state.shape[1] - 1):
        u = br.build_features(state[:, t], ctrl[:, t + 1], context)
        r = sat16(br.linear(cart.encoder, br.enc_w, u, cart.s_enc)).astype(np.int16)
        for i in range(len(cart.layers)):
            r, hid[:, i] = br.layer(i, r, hid[:, i])
        xns.append(br.rms_norm(r, cart.final_norm_gain, cart.eps_f, cart.s_norm_f))
    xn = np.concatenate(xns)
    s = torch.from_numpy(state.astype(np.int64))
    c = torch.from_numpy(ctrl.astype(np.int64))
    cx = None if context is None else torch.from_numpy(np.asarray(context, dtype=np.int64))
    out, _ = model(build_features(model.fs, s[:, :-1], c[:, 1:], cx), model.new_hidden(state.shape[0]))
    ref = (out * model.fs.out_scale).double().numpy().transpose(1, 0, 2).reshape(-1, out.shape[-1])
    head = cart.head
    unit = head.mult.astype(np.float64) / 2.0 ** cart.s_head  # output units per accumulator unit
    rows = [(o, C.FIELDS[f]) for _, f, o, spec in model.fs.out_slices
            if spec.dec_kind in (C.DEC_DELTA, C.DEC_ABSOLUTE)]
    before: dict = {}
    # the output is rounded to whole state units, so a shift of the bias moves the mean
    # error only about linearly: a few fixed-point passes settle it
    for k in range(6):
        q = sat16(br.linear(head, br.head_w, xn, cart.s_head)).astype(np.float64)
        err = (q - ref).mean(0)
        if k == 0:
            for o, name in rows:
                before[name] = before.get(name, 0.0) + float(err[o]) / 2
        bias = head.bias.astype(np.int64)
        for o, _ in rows:
            bias[o] -= int(round(err[o] / unit[o]))
        head.bias = np.clip(bias, -(1 << 31), (1 << 31) - 1).astype(np.int32)
    C.validate(cart)
    return {k: round(v, 4) for k, v in before.items()}


def calibration_windows(games, n_windows: int = 16, length: int = 256, seed: int = 7):
    """Windows (state, ctrl) of `length`+1 frames from the given games, fixed seed."""
    rng = np.random.default_rng(seed)
    games = [g for g in games if len(g) > length + 1]
    st, ct = [], []
    for i in range(n_windows):
        g = games[i % len(games)]
        t0 = int(rng.integers(0, len(g) - length - 1))
        st.append(g.state[t0:t0 + length + 1])
        ct.append(g.ctrl[t0:t0 + length + 1])
    return np.stack(st), np.stack(ct)


def calibration_context(games, n_windows: int = 16, length: int = 256) -> np.ndarray:
    """(n_windows, 3) stage and characters of calibration_windows' windows (same games)."""
    games = [g for g in games if len(g) > length + 1]
    return np.stack([games[i % len(games)].context() for i in range(n_windows)])


def with_dead_bands(fields: tuple[C.FieldSpec, ...], bands: dict[str, int]) -> tuple[C.FieldSpec, ...]:
    """The field spec with a dead band (cartridge.FieldSpec: |out| <= band is no change) on
    the named DEC_DELTA fields."""
    out = list(fields)
    for name, band in bands.items():
        if name not in C.FIELDS:
            raise ValueError(f"--dead-band: no field {name!r} (fields: {', '.join(C.FIELDS)})")
        f = out[C.FIELDS.index(name)]
        if f.dec_kind != C.DEC_DELTA:
            raise ValueError(f"--dead-band: {name} is not decoded as a delta")
        if not 0 <= band <= 255:
            raise ValueError(f"--dead-band: {name}={band}: 0..255 state units")
        out[C.FIELDS.index(name)] = C.FieldSpec(f.enc_kind, f.enc_arg, f.dec_kind, band)
    return tuple(out)


def parse_dead_bands(text: str) -> dict[str, int]:
    """'x=1,y=1' -> {'x': 1, 'y': 1}."""
    out = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        name, _, value = item.partition("=")
        if not value.strip().isdigit():
            raise ValueError(f"--dead-band: {item!r} is not FIELD=UNITS")
        out[name.strip()] = int(value)
    return out


def main(argv=None) -> None:
    from . import dataset as ds
    from .train import load_checkpoint

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--replays", required=True, help="calibration uses the training split")
    ap.add_argument("--out", required=True)
    ap.add_argument("--cache", default="build/cache/replays")
    ap.add_argument("--windows", type=int, default=16)
    ap.add_argument("--length", type=int, default=256)
    ap.add_argument("--percentile", type=float, default=100.0,
                    help="calibration percentile of |activation| for int8 tensors")
    ap.add_argument("--channel-scales", action="store_true",
                    help="one int8 scale per channel for RMSNorm outputs (folded into gains and weights)")
    ap.add_argument("--bias-correction", action="store_true",
                    help="zero the mean INT8-vs-float error of every regression head row "
                         "on the calibration windows (see correct_head_bias)")
    ap.add_argument("--dead-band", default="",
                    help="FIELD=UNITS,...: a dead band on delta fields, in state units (x=1,y=1: a head "
                         "output of +-1/16 game unit is no move, so a fighter at rest stays put)")
    ap.add_argument("--hit-floor", type=int, default=0,
                    help="a sampled-hit model (train --context ...+hit) draws no hit less likely than "
                         "N/4096 (0..255; manifest byte 138)")
    args = ap.parse_args(argv)
    try:
        bands = parse_dead_bands(args.dead_band)
    except ValueError as e:
        ap.error(str(e))
    torch.set_num_threads(1)
    model = load_checkpoint(args.ckpt)
    if args.hit_floor and not model.fs.hit:
        ap.error("--hit-floor: this checkpoint does not sample hits")
    if not 0 <= args.hit_floor <= 255:
        ap.error("--hit-floor: 0..255 (steps of 1/4096)")
    try:
        model.fs = FeatureSpec(with_dead_bands(model.fs.fields, bands), model.fs.context)
    except ValueError as e:
        ap.error(str(e))
    ck = torch.load(args.ckpt, weights_only=False)
    games = ds.load_folder(args.replays, args.cache)
    train_games, _ = ds.split_games(games, ck["val_fraction"], ck["seed"])
    state, ctrl = calibration_windows(train_games, args.windows, args.length)
    context = calibration_context(train_games, args.windows, args.length)
    cart = export(model, calibrate(model, state, ctrl, args.percentile, context), args.channel_scales)
    cart.hit_floor = model.fs.hit_floor = args.hit_floor
    corrected = correct_head_bias(cart, model, state, ctrl, context) if args.bias_correction else None
    if corrected:
        print("head bias correction, mean int8 error before (state units/frame):", corrected)
    out = cart.save(args.out)
    # The float twin travels with the cartridge so eval can compare the two.
    torch.save({"model": model.state_dict(), "preset": ck["preset"],
                "fields": [tuple(dataclasses.astuple(f)) for f in model.fs.fields],
                "context": ck.get("context", 0), "hit_floor": args.hit_floor}, out / "float.pt")
    (out / "train.json").write_text(json.dumps({
        "preset": ck["preset"], "seed": ck["seed"], "val_fraction": ck["val_fraction"],
        "steps": ck["step"], "train_minutes": round(ck["elapsed"] / 60, 2),
        "calibration": {"windows": args.windows, "length": args.length, "percentile": args.percentile,
                        "bias_correction": args.bias_correction,
                        "channel_scales": args.channel_scales},
        "dead_band": bands, "hit_floor": args.hit_floor,
    }, indent=2) + "\n")
    print(f"wrote {out} ({cart.param_count()} params, {cart.macs_per_frame()} MACs/frame)")


if __name__ == "__main__":
    main()
