"""How a frame is cut into steps and where its activations live in HiddenState;
mirrors `Dims` in onchain/program/src/model.rs (STEP_MACS and STEP_MACS_LANES are part
of the protocol: the step count depends on the cartridge's weight layout)."""
from __future__ import annotations

import dataclasses

STEP_MACS = 96 * 1024  # weight layout 1 (row-major i8, ~10 CU/MAC)
STEP_MACS_LANES = 512 * 1024  # weight layout 2 (lane words, ~1.3-1.8 CU/MAC)
LANE_BLOCK_ROWS = 12  # layout-2 row chunks are whole blocks of the lanes kernel
WEIGHT_LAYOUT_ROWMAJOR, WEIGHT_LAYOUT_LANES = 1, 2
HIDDEN_HEADER = 32


@dataclasses.dataclass(frozen=True)
class StepInfo:
    kind: str  # encode | in_proj | ssm | out_proj | head
    layer: int | None = None
    row0: int | None = None
    row1: int | None = None


def _pad8(x: int) -> int:
    return (x + 7) // 8 * 8


def r_rows(d_inner: int, d_state: int, n_heads: int) -> int:
    return 2 * d_inner + 2 * d_state + n_heads


def rows_per_step(cols: int, weight_layout: int = WEIGHT_LAYOUT_LANES) -> int:
    if weight_layout == WEIGHT_LAYOUT_LANES:
        return max(LANE_BLOCK_ROWS, STEP_MACS_LANES // cols // LANE_BLOCK_ROWS * LANE_BLOCK_ROWS)
    return max(1, STEP_MACS // cols)


def frame_steps(preset, weight_layout: int = WEIGHT_LAYOUT_LANES) -> list[StepInfo]:
    """Every step of a frame in order (Dims::step): encode, per layer the in_proj row
    chunks, the scan, the out_proj row chunks, then the head."""
    d, e, n, h = preset.d_model, preset.d_inner, preset.d_state, preset.n_heads
    rr = r_rows(e, n, h)
    ri, ro = rows_per_step(d, weight_layout), rows_per_step(e, weight_layout)
    out = [StepInfo("encode")]
    for layer in range(preset.n_layers):
        out += [StepInfo("in_proj", layer, r0, min(r0 + ri, rr)) for r0 in range(0, rr, ri)]
        out.append(StepInfo("ssm", layer))
        out += [StepInfo("out_proj", layer, r0, min(r0 + ro, d)) for r0 in range(0, d, ro)]
    out.append(StepInfo("head"))
    return out


def steps_per_frame(preset, weight_layout: int = WEIGHT_LAYOUT_LANES) -> int:
    d, e, n, h = preset.d_model, preset.d_inner, preset.d_state, preset.n_heads
    ri, ro = rows_per_step(d, weight_layout), rows_per_step(e, weight_layout)
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
