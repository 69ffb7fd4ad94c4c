"""Weights larger than one account (10 MiB cap) are split into 8 MiB shards; the target
preset runs from three shard accounts in layout 1 (~19 MB of weights) and from eight in
layout 2 (~65 MB), bit-exact with the reference; `small` in layout 2 needs two."""
import re

import numpy as np
import pytest

from onchain.sdk import instructions as I
from onchain.backends.direct import DirectSession
from onchain.backends.svm import ProgramVM
from worldmodel import cartridge as C
from worldmodel import intref as IR
from worldmodel import randmodel as R


@pytest.fixture(scope="module")
def target(so_path):
    cart = R.random_cartridge("target", seed=11)
    cart.weight_layout = C.WEIGHT_LAYOUT_ROWMAJOR
    rng = np.random.default_rng(12)
    vm = ProgramVM(so_path)
    state = R.random_state(rng)
    ds = DirectSession(vm, cart, state)
    return cart, vm, ds, rng, state


@pytest.mark.parametrize("layout", C.WEIGHT_LAYOUTS)
def test_no_section_straddles_a_shard(layout):
    cart = R.random_cartridge("target", seed=11)
    w = cart.weights_bytes(layout)
    assert len(w) > C.SHARD_BYTES  # the test is about a blob that needs shards
    assert [len(s) for s in C.shards(w)][:-1] == [C.SHARD_BYTES] * (len(C.shards(w)) - 1)
    back = C.from_bytes(cart.manifest_bytes(w, layout), w)
    assert back.weight_layout == layout and back.weights_bytes() == w


def frames_match_reference(cart, ds, rng, state, plan, frames: int = 2):
    """Run `frames` frames with random controls, `plan` steps per transaction; after each, the
    program's fighters and hidden state equal the integer reference's."""
    hidden = IR.new_hidden(cart)
    for frame in range(frames):
        ctrl = R.random_controls(rng)
        ds.set_controls(ctrl)
        res = ds.step(plan)
        assert all(r.ok for r in res), next(r.error for r in res if not r.ok)
        state, _, hidden = IR.step(cart, state, ctrl, hidden)
        assert np.array_equal(ds.fighters(), state), f"frame {frame}: state differs"
        assert np.array_equal(ds.hidden_state(), hidden), f"frame {frame}: hidden differs"


def test_target_frames_bit_exact_across_shards(target):
    cart, vm, ds, rng, state = target
    assert len(ds.weights) == 3
    frames_match_reference(cart, ds, rng, state, [1] * ds.steps)


def test_shards_out_of_order_or_missing_are_rejected(target):
    cart, vm, ds, _, _ = target
    frame = ds.frame()
    swapped = I.run_inference(vm.program_id, vm.payer.pubkey(), ds.session, ds.hidden, ds.input, ds.manifest,
                              [ds.weights[1], ds.weights[0], ds.weights[2]], frame, 1)
    res = vm.send(swapped)
    assert not res.ok and re.search(r"Custom\(5\)", res.error)
    missing = I.run_inference(vm.program_id, vm.payer.pubkey(), ds.session, ds.hidden, ds.input, ds.manifest,
                              ds.weights[:2], frame, 1)
    res = vm.send(missing)
    assert not res.ok and re.search(r"Custom\(4\)", res.error)
    assert ds.frame() == frame and ds.next_step() == 0


def test_target_lane_layout_bit_exact_across_eight_shards(so_path):
    cart = R.random_cartridge("target", seed=13)
    assert cart.weight_layout == C.WEIGHT_LAYOUT_LANES
    rng = np.random.default_rng(14)
    vm = ProgramVM(so_path)
    state = R.random_state(rng)
    ds = DirectSession(vm, cart, state)
    assert len(ds.weights) == 8 == C.PROGRAM_MAX_SHARDS
    frames_match_reference(cart, ds, rng, state, [3] * (ds.steps // 3) + [ds.steps % 3] * (ds.steps % 3 > 0))


def test_small_lane_layout_bit_exact_across_two_shards(so_path):
    cart = R.random_cartridge("small", seed=21)
    assert cart.weight_layout == C.WEIGHT_LAYOUT_LANES
    rng = np.random.default_rng(22)
    vm = ProgramVM(so_path)
    state = R.random_state(rng)
    ds = DirectSession(vm, cart, state)
    assert len(ds.weights) == 2
    frames_match_reference(cart, ds, rng, state, [1] * ds.steps)
