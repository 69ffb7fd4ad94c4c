"""How a frame is cut into steps and where its activations live in HiddenState;
mirrors `Dims` in onchain/program/src/model.rs (STEP_MACS is part of the protocol)."""
from __future__ import annotations

STEP_MACS = 96 * 1024
HIDDEN_HEADER = 32


def _pad8(x: int) -> int:
    return (x + 7) // 8 * 8


def r_rows(d_inner: int, d_state: int, n_heads: int) -> int:
    return 2 * d_inner + 2 * d_state + n_heads


def steps_per_frame(preset) -> int:
    d, e, n, h = preset.d_model, preset.d_inner, preset.d_state, preset.n_heads
    ri, ro = max(1, STEP_MACS // d), max(1, STEP_MACS // e)
    in_chunks = -(-r_rows(e, n, h) // ri)
    out_chunks = -(-d // ro)
    return 2 + preset.n_layers * (in_chunks + 1 + out_chunks)


def hidden_offsets(preset) -> dict[str, int]:
    d, e = preset.d_model, preset.d_inner
    r = HIDDEN_HEADER
    xn = r + _pad8(2 * d)
    acc = xn + _pad8(d)
    gy = acc + _pad8(4 * r_rows(e, preset.d_state, preset.n_heads))
    h = gy + _pad8(e)
    return {"r": r, "xn": xn, "acc": acc, "gy": gy, "h": h}


def hidden_len(preset) -> int:
    return hidden_offsets(preset)["h"] + 4 * preset.n_layers * preset.d_inner * preset.d_state
