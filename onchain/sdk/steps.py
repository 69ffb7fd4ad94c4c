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


# -- packing a frame's steps into transactions ------------------------------------------------

TX_CU_LIMIT = 1_400_000  # the most compute units one transaction may use
# What a packed transaction keeps free below the limit: a frame's CU varies a little with the data
# (a head whose states could saturate int32 takes the clamped scan, 2 CU more a state; the rules;
# argmax), by well under 1 % of a frame. A transaction that still runs out changes nothing on chain
# and its steps are split and sent again.
PACK_MARGIN = 30_000
PACK_BUDGET = TX_CU_LIMIT - PACK_MARGIN


def pack_steps(step_cu: list[int], budget: int = PACK_BUDGET, overhead: int = 0) -> list[int]:
    """Greedy plan: how many consecutive steps each transaction runs. `step_cu` are the steps'
    compute units measured one step per transaction, so each includes the fixed cost of a
    transaction (`overhead`: the compute-budget instruction, the account checks, parsing the
    manifest) once; a transaction of steps i..j costs overhead + sum(step_cu[i..j] - overhead).
    With overhead 0 (not yet known) the plan is conservative. A step alone always gets its own
    transaction."""
    plan: list[int] = []
    count = acc = 0
    for cu in step_cu:
        net = max(0, cu - overhead)
        if count and acc + net > budget:
            plan.append(count)
            count = acc = 0
        if not count:
            acc = overhead
        count += 1
        acc += net
    if count:
        plan.append(count)
    return plan


def tx_overhead(step_cu: list[int], plan: list[int], tx_cu: list[int]) -> int | None:
    """The fixed cost of a transaction, from the same frame's steps measured one per transaction
    (`step_cu`) and run packed as `plan` (`tx_cu`): each packed transaction saves it once per step
    beyond its first. None when the plan packs nothing."""
    saved_times = len(step_cu) - len(plan)
    if saved_times <= 0 or len(tx_cu) != len(plan):
        return None
    return max(0, (sum(step_cu) - sum(tx_cu)) // saved_times)
