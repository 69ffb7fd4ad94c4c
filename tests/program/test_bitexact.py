"""run_inference in LiteSVM equals the numpy integer reference (worldmodel.intref) bit for bit,
in both weight layouts (2: lane words and the SWAR kernel, the default; 1: row-major i8).

Frames run as one transaction where the preset fits (micro in layout 2) or split over
several (the step plan), controls change every frame, and fighter state plus every
hidden-state int32 are compared after every frame.
"""
import numpy as np
import pytest

from onchain.sdk import steps as S
from onchain.backends.direct import DirectSession
from onchain.backends.svm import ProgramVM
from worldmodel import cartridge as C
from worldmodel import intref as IR
from worldmodel import randmodel as R


def _fmt(res):
    return "; ".join(f"cu={r.cu} ok={r.ok} err={r.error}" for r in res) + "\n" + "\n".join(res[-1].logs[-8:])


def _random_plan(rng, total: int, max_chunk: int) -> list[int]:
    plan, left = [], total
    while left:
        k = int(rng.integers(1, min(max_chunk, left) + 1))
        plan.append(k)
        left -= k
    return plan


def _chunks(total: int, size: int) -> list[int]:
    return [size] * (total // size) + ([total % size] if total % size else [])


def _run_and_compare(so_path, cart, seed: int, n_frames: int, plan_for):
    """Run n_frames in the VM and in the reference, comparing after every frame.
    Returns the per-frame fighter states and the final hidden state (for liveness checks)."""
    rng = np.random.default_rng(seed)
    vm = ProgramVM(so_path)
    state = R.random_state(rng)
    ds = DirectSession(vm, cart, state)
    hidden = IR.new_hidden(cart)
    assert np.array_equal(ds.fighters(), state)
    history = [state.copy()]
    for frame in range(n_frames):
        ctrl = R.random_controls(rng)
        ds.set_controls(ctrl)
        plan = plan_for(frame, ds.steps, rng)
        res = ds.step(plan)
        assert len(res) == len(plan) and all(r.ok for r in res), f"frame {frame} plan {plan}: {_fmt(res)}"
        state, _, hidden = IR.step(cart, state, ctrl, hidden)
        assert ds.frame() == frame + 1, f"frame {frame}: session frame {ds.frame()}"
        assert ds.next_step() == 0, f"frame {frame}: next_step {ds.next_step()} after a full frame"
        got = ds.fighters()
        if not np.array_equal(got, state):
            bad = np.argwhere(got != state)
            pytest.fail(f"frame {frame} (plan {plan}): fighter state differs at (player, field) {bad.tolist()[:8]}: "
                        f"vm {got[tuple(bad.T)][:8].tolist()} ref {state[tuple(bad.T)][:8].tolist()}")
        got_h = ds.hidden_state()
        if not np.array_equal(got_h, hidden):
            bad = np.argwhere(got_h != hidden)
            pytest.fail(f"frame {frame} (plan {plan}): {len(bad)} hidden-state values differ, first "
                        f"(layer, e, n) {bad[:4].tolist()}: vm {got_h[tuple(bad[:4].T)].tolist()} "
                        f"ref {hidden[tuple(bad[:4].T)].tolist()}")
        history.append(state.copy())
    return np.stack(history), hidden


def _assert_lively(history: np.ndarray, hidden: np.ndarray):
    n = len(history) - 1
    # the state changes from frame to frame (not stuck in a fixed point)
    changed = sum(not np.array_equal(history[i], history[i + 1]) for i in range(n))
    assert changed >= 0.9 * n, f"fighter state changed in only {changed} of {n} frames"
    distinct_states = len({h.tobytes() for h in history})
    assert distinct_states >= 0.9 * n, f"only {distinct_states} distinct fighter states over {n} frames"
    # several fields take many values
    lively_fields = sum(len(np.unique(history[:, p, f])) > 5 for p in range(2) for f in range(16))
    assert lively_fields >= 8, f"only {lively_fields} of 32 fighter fields take more than 5 values"
    assert len(np.unique(history)) > 100, f"only {len(np.unique(history))} distinct state values"
    # hidden state is neither all zero nor saturated
    assert np.count_nonzero(hidden) > 0.5 * hidden.size, "hidden state mostly zero"
    assert len(np.unique(hidden)) > 1000, f"only {len(np.unique(hidden))} distinct hidden values"
    sat = np.count_nonzero(np.abs(hidden.astype(np.int64)) >= (1 << 31) - 1)
    assert sat < 0.5 * hidden.size, f"{sat} of {hidden.size} hidden values saturated"


def _micro_plan(frame: int, total: int, rng) -> list[int]:
    """Layout 2: micro's whole frame fits one transaction (~0.89M CU); mostly that, and
    every few frames another split."""
    kind = frame % 4
    if kind == 1:
        return [1] * total
    if kind == 2:
        return _random_plan(rng, total, total)
    return [total]


def _micro_plan_rowmajor(frame: int, total: int, rng) -> list[int]:
    # layout 1: micro's 26 steps do not fit one transaction's 1.4M CU (all-in-one aborts),
    # so the largest chunks used here are 6 steps (~0.76M CU).
    kind = frame % 5
    if kind == 0:
        return [1] * total
    if kind == 1:
        return _chunks(total, 4)
    if kind == 2:
        return _chunks(total, 3)
    if kind == 3:
        return _chunks(total, 6)
    return _random_plan(rng, total, 6)


def _tiny_plan(frame: int, total: int, rng) -> list[int]:
    """Layout 2: tiny's frame (~2.2M CU) takes two transactions; split near the middle."""
    if frame % 5 == 4:
        return [1] * total
    half = total // 2
    return [half, total - half] if frame % 2 else [half + 3, total - half - 3]


def _tiny_plan_rowmajor(frame: int, total: int, rng) -> list[int]:
    return [2] * (total // 2) + [1] * (total % 2) if frame % 4 == 3 else [1] * total


def _cart(preset: str, seed: int, layout: int, fields=None) -> C.Cartridge:
    cart = R.random_cartridge(preset, seed, fields=fields)
    cart.weight_layout = layout
    return cart


@pytest.mark.parametrize("seed", [0, 7])
def test_micro_bitexact_200_frames(so_path, seed):
    cart = R.random_cartridge("micro", seed)
    assert cart.weight_layout == C.WEIGHT_LAYOUT_LANES  # new cartridges get the fast layout
    history, hidden = _run_and_compare(so_path, cart, 1000 + seed, 200, _micro_plan)
    _assert_lively(history, hidden)


def test_micro_rowmajor_bitexact_100_frames(so_path):
    cart = _cart("micro", 0, C.WEIGHT_LAYOUT_ROWMAJOR)
    history, hidden = _run_and_compare(so_path, cart, 1000, 100, _micro_plan_rowmajor)
    _assert_lively(history, hidden)


def test_tiny_bitexact_200_frames(so_path):
    cart = R.random_cartridge("tiny", 3)
    history, hidden = _run_and_compare(so_path, cart, 2003, 200, _tiny_plan)
    _assert_lively(history, hidden)


def test_tiny_wide_bitexact_200_frames_in_one_transaction(so_path):
    """The 0.87M-parameter shape of issue 16: the whole frame in one transaction (the plan
    [total] runs every step in one run_inference), bit-exact over 200 frames, with a split
    frame every few frames."""
    cart = R.random_cartridge("tiny-wide", 5)
    assert cart.param_count() >= 800_000
    history, hidden = _run_and_compare(so_path, cart, 3005, 200, _micro_plan)
    _assert_lively(history, hidden)


def test_tiny_rowmajor_bitexact_30_frames(so_path):
    cart = _cart("tiny", 3, C.WEIGHT_LAYOUT_ROWMAJOR)
    history, hidden = _run_and_compare(so_path, cart, 2003, 30, _tiny_plan_rowmajor)
    assert len({h.tobytes() for h in history}) >= 27


@pytest.mark.parametrize("seed,layout", [(11, C.WEIGHT_LAYOUT_LANES), (12, C.WEIGHT_LAYOUT_ROWMAJOR)])
def test_micro_random_fields_30_frames(so_path, seed, layout):
    rng = np.random.default_rng(seed)
    fields = R.random_fields(rng)
    cart = _cart("micro", seed, layout, fields=fields)
    plan = _micro_plan if layout == C.WEIGHT_LAYOUT_LANES else _micro_plan_rowmajor
    history, hidden = _run_and_compare(so_path, cart, 3000 + seed, 30, plan)
    # a random spec may KEEP many fields; require only that something moves
    changed = sum(not np.array_equal(history[i], history[i + 1]) for i in range(30))
    assert changed >= 15, f"fighter state changed in only {changed} of 30 frames"
    assert np.count_nonzero(hidden) > 0.5 * hidden.size
    assert len(np.unique(hidden)) > 1000


def _ssm_step(preset, layer: int, layout: int) -> int:
    """Index of layer's selective-scan step (the step order documented in run_inference.rs:
    encoder, per layer in_proj chunks / ssm / out_proj chunks, head)."""
    steps = S.frame_steps(preset, layout)
    return next(i for i, s in enumerate(steps) if s.kind == "ssm" and s.layer == layer)


@pytest.mark.parametrize("layout", C.WEIGHT_LAYOUTS)
def test_micro_mid_frame_state(so_path, layout):
    """Within a frame of 1-step transactions: frame and fighters stay put until the head
    step, next_step counts up, and layer l's hidden state changes exactly at its scan step
    (to the reference's value)."""
    cart = _cart("micro", 5, layout)
    p = cart.preset
    rng = np.random.default_rng(4005)
    vm = ProgramVM(so_path)
    state = R.random_state(rng)
    ds = DirectSession(vm, cart, state)
    hidden = IR.new_hidden(cart)
    ssm_at = {_ssm_step(p, l, layout): l for l in range(p.n_layers)}
    assert len(ssm_at) == p.n_layers and max(ssm_at) < ds.steps - 1
    for frame in range(4):
        ctrl = R.random_controls(rng)
        ds.set_controls(ctrl)
        new_state, _, new_hidden = IR.step(cart, state, ctrl, hidden)
        expect_h = hidden.copy()
        for i in range(ds.steps):
            res = ds.vm.send(ds.run_ix(frame, 1))
            assert res.ok, f"frame {frame} step {i}: {res.error}"
            if i in ssm_at:
                expect_h[ssm_at[i]] = new_hidden[ssm_at[i]]
            if i < ds.steps - 1:
                assert ds.next_step() == i + 1, f"frame {frame} step {i}"
                assert ds.frame() == frame, f"frame {frame} step {i}: frame advanced early"
                assert np.array_equal(ds.fighters(), state), f"frame {frame} step {i}: fighters changed early"
            assert np.array_equal(ds.hidden_state(), expect_h), f"frame {frame} step {i}: hidden state"
        assert ds.next_step() == 0 and ds.frame() == frame + 1
        assert np.array_equal(ds.fighters(), new_state), f"frame {frame}"
        state, hidden = new_state, new_hidden


@pytest.mark.parametrize("preset", ["micro", "tiny", "tiny-wide", "small", "target"])
def test_lane_layout_steps_are_whole_blocks(preset):
    """Layout-2 row chunks start on the lanes kernel's 12-row blocks and cover every row."""
    p = C.PRESETS[preset]
    steps = S.frame_steps(p, C.WEIGHT_LAYOUT_LANES)
    assert len(steps) == S.steps_per_frame(p, C.WEIGHT_LAYOUT_LANES)
    for s in steps:
        if s.kind in ("in_proj", "out_proj"):
            assert s.row0 % S.LANE_BLOCK_ROWS == 0 and s.row1 > s.row0


@pytest.mark.parametrize("layout", C.WEIGHT_LAYOUTS)
def test_micro_saturating_scan_bit_exact(so_path, layout):
    """Heads whose state saturates at the int32 limits (decay ~1, huge dt * x * u_mult): the
    scan's clamping path, next to heads that take the unclamped path, still bit-exact."""
    cart = _cart("micro", 8, layout)
    for lay in cart.layers:
        lay.a_q16[::2] = 1  # decay ~ 1 on even heads
        lay.u_mult[::2] = (1 << 31) - 1  # dbx at the int32 limit on even heads
    history, hidden = _run_and_compare(so_path, cart, 5008, 12,
                                       lambda f, total, rng: [total] if layout == 2 else _chunks(total, 6))
    h = hidden.astype(np.int64)
    sat = np.count_nonzero(np.abs(h) >= (1 << 31) - 1)
    assert sat > 0.05 * h.size, f"only {sat} saturated hidden values: the clamping path is not exercised"
    assert np.count_nonzero(np.abs(h) < 1 << 30) > 0.3 * h.size, "odd heads should stay unsaturated"


def test_micro_delta_dead_band_bit_exact(so_path):
    """A DEC_DELTA field's dec_arg is a dead band (|out| <= dec_arg: no change): the program
    applies it as intref does. The bands are set at each field's median |head output| on
    these frames, so about half the outputs fall inside and the trajectory differs from the
    same cartridge without them (a program that ignored dec_arg would fail here)."""
    rng = np.random.default_rng(21)
    plain = _cart("micro", 21, C.WEIGHT_LAYOUT_LANES)
    state, hidden, outs = R.random_state(rng), IR.new_hidden(plain), []
    for _ in range(10):
        state, out, hidden = IR.step(plain, state, R.random_controls(rng), hidden)
        outs.append(out)
    mags = np.median(np.abs(np.stack(outs).astype(np.int64)), axis=0)
    fields, o = [], 0
    for p in range(2):
        for spec in plain.fields:
            if p == 0:
                band = int(min(255, mags[o])) if spec.dec_kind == C.DEC_DELTA else spec.dec_arg
                fields.append(C.FieldSpec(spec.enc_kind, spec.enc_arg, spec.dec_kind, band))
            o += spec.dec_width()
    banded = _cart("micro", 21, C.WEIGHT_LAYOUT_LANES, fields=tuple(fields))
    assert any(f.dec_kind == C.DEC_DELTA and f.dec_arg > 0 for f in banded.fields)
    history, _ = _run_and_compare(so_path, banded, 4021, 20, _micro_plan)
    without, _ = _run_and_compare(so_path, plain, 4021, 20, _micro_plan)
    assert not np.array_equal(history, without), "the dead band never changed a frame"
