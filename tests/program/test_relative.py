"""Stage- and opponent-relative model inputs (manifest context bit 2, CONTEXT_RELATIVE): dx, dy
between the fighters and each fighter's gap above the ground below it (rules.ground_below). The
format carries the bit, the references (intref, intbatch, the float twin) build the same
features, and the program fed from SessionState matches worldmodel.sim frame by frame."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from solders.keypair import Keypair

from onchain.backends.embedded import EmbeddedBackend
from onchain.sdk import pda, steps
from onchain.sdk.wire import ControllerInput
from worldmodel import cartridge as C
from worldmodel import intref
from worldmodel import rules as R
from worldmodel.intbatch import BatchRef
from worldmodel.model import FeatureSpec, build_features
from worldmodel.randmodel import random_cartridge, random_controls, random_state
from worldmodel.sim import Simulator

BOTH = C.CONTEXT_ONEHOT | C.CONTEXT_RELATIVE
U = 16  # state units per game unit


def fighters(x1, y1, x2, y2) -> np.ndarray:
    s = np.zeros((2, 16), dtype=np.int16)
    s[0, :2], s[1, :2] = (x1, y1), (x2, y2)
    return s


def test_ground_below_on_battlefield():
    bf = R.stage_by_id(31)  # main stage edge 1094; platforms y 435 at -922..-320, y 870 at -301..301
    assert R.ground_below(bf, 0, 0) == 0  # on the main stage, under the top platform
    assert R.ground_below(bf, 0, 500) == 0  # between the main stage and the top platform
    assert R.ground_below(bf, 0, 870) == 870  # standing on the top platform
    assert R.ground_below(bf, 0, 870 - R.SNAP) == 870  # sunk into it by SNAP: still its ground
    assert R.ground_below(bf, 0, 870 - R.SNAP - 1) == 0  # deeper: it is below the platform
    assert R.ground_below(bf, -600, 2000) == 435  # high above the left platform
    assert R.ground_below(bf, 1200, 0) is None  # past the edge: nothing below
    assert R.ground_below(bf, 500, -R.FLOOR_DEPTH + 1) == 0  # in the FLOOR rule's band
    assert R.ground_below(bf, 500, -R.FLOOR_DEPTH) is None  # below it: under the stage


def test_relative_features_by_hand():
    # Battlefield; fighter 1 on the left platform, fighter 2 falling 10 units above the main stage
    s = fighters(-600, 435, 300, 10 * U)
    assert C.relative_features(31, s) == [(300 + 600) >> 3, (10 * U - 435) >> 3, 0, (10 * U) >> 2]
    # far apart and high up: saturated; a fighter in the stage body has a negative gap
    s = fighters(-3000, 3000, 300, -5 * U)
    assert C.relative_features(31, s) == [127, -128, C.NO_GROUND, -5 * U >> 2]
    # a stage without a rules table (the harness's 0): no ground anywhere
    assert C.relative_features(0, fighters(0, 0, 0, 0))[2:] == [C.NO_GROUND, C.NO_GROUND]
    # a fighter 40 units above the ground: its gap saturates at 127 too (32 units)
    assert C.relative_features(32, fighters(0, 40 * U, 0, 0)) == [0, -80, 127, 0]


def states_near_surfaces(rng, n: int) -> np.ndarray:
    """Random states, their positions spread over and around each stage's surfaces."""
    st = np.stack([random_state(rng) for _ in range(n)]).astype(np.int64)
    st[:, :, R.X] = rng.integers(-1700, 1700, size=(n, 2))
    st[:, :, R.Y] = rng.choice([0, 375, 400, 435, 482, 672, 684, 823, 870], size=(n, 2)) \
        + rng.integers(-300, 300, size=(n, 2))
    st[:n // 10, :, R.Y] = 0  # and some standing on the main stage (or off its edge)
    return st.astype(np.int16)


@pytest.mark.parametrize("flags", [C.CONTEXT_RELATIVE, BOTH])
def test_features_agree(flags):
    """intref, the batched reference and the float twin build the same int8 features."""
    cart = random_cartridge("micro", seed=3, context=flags)
    assert cart.in_dim == (144 if flags == C.CONTEXT_RELATIVE else 208)  # 142 + 4 -> 144; 198 + 4 -> 208
    rng = np.random.default_rng(11)
    n = 600
    st = states_near_surfaces(rng, n)
    ct = np.stack([random_controls(rng) for _ in range(n)])
    cx = np.stack([np.array([rng.choice([32, 31, 28, 2, 3, 8, 0, 14]), 2, 9]) for _ in range(n)])
    u = np.stack([intref.build_features(cart, st[i], ct[i], cx[i]) for i in range(n)])
    assert np.array_equal(BatchRef(cart).build_features(st, ct, cx), u)
    got = build_features(FeatureSpec(C.DEFAULT_FIELDS, flags), torch.from_numpy(st.astype(np.int64)),
                         torch.from_numpy(ct), torch.from_numpy(cx))
    assert np.array_equal(got.numpy().astype(np.int64), u)
    start = 140 + (C.CONTEXT_FEATURES if flags & C.CONTEXT_ONEHOT else 0)  # after states, controllers (, one-hot)
    rel = u[:, start:start + 4]
    assert [list(r) for r in rel] == [C.relative_features(c[0], s) for c, s in zip(cx, st)]
    gaps = rel[:, 2:]
    # the sample covers every kind of gap: on a surface, above one, below, saturated, none
    assert {0, C.NO_GROUND}.issubset(set(gaps.ravel())) and (gaps < 0).any() and (gaps > 0).any()
    assert len(np.unique(gaps)) > 100


@pytest.mark.parametrize("stage,flags", [(31, BOTH), (8, C.CONTEXT_RELATIVE)])
def test_program_matches_the_simulator(so_path, stage, flags):
    """A session of a relative-input model through the program and the Simulator side by side:
    fighters, rules block and hidden state equal every frame, while the features range widely."""
    cart = random_cartridge("micro", seed=29, context=flags)
    be = EmbeddedBackend(so_path)
    model = be.upload_model(cart)
    p1, p2 = Keypair(), Keypair()
    assert be.create_session(1, model, p1, stage=stage, characters=(2, 9)).ok
    assert be.join_session(1, p2).ok
    sim = Simulator(cart, stage=stage, characters=(2, 9))
    rng = np.random.default_rng(8)
    seen = set()
    off = steps.hidden_offsets(cart.preset)["h"]
    for f in range(120):
        seen.add(tuple(C.relative_features(stage, sim.state)))
        c1, c2 = (ControllerInput(*(int(v) for v in row[:7])) for row in random_controls(rng))
        assert be.submit_input(1, p1, f, c1).ok and be.submit_input(1, p2, f, c2).ok
        sim.step(c1, c2)
        out = be.run_inference(1, f)
        assert out.ok, (f, out.error)
        view = be.session(1)
        assert view.fighters == tuple(tuple(int(v) for v in row) for row in sim.state), f
        assert view.rules == bytes(sim.rules_state), f
        assert be.account_data(pda.hidden(be.program_id, 1))[off:] == sim.hidden[0].tobytes(), f
    # the comparison ran over different relative inputs, unsaturated ones among them
    assert len(seen) >= 8, seen
    assert any(-128 < v[0] < 127 for v in seen) and any(0 < g < 127 for v in seen for g in v[2:]), seen


def test_the_relative_inputs_reach_the_model():
    """The same model, state and inputs on two stages, no one-hot: fighter 1 stands 27 units up
    at x -37.5, on Battlefield's left platform (gap 0) and in the air over Final Destination (gap
    108). Only that feature differs, and the recurrent state after one frame differs with it."""
    cart = random_cartridge("micro", seed=29, context=C.CONTEXT_RELATIVE)
    s = fighters(-600, 435, 600, 0)
    assert C.relative_features(31, s)[2] == 0 and C.relative_features(32, s)[2] == 435 >> 2
    ctrl = random_controls(np.random.default_rng(1))
    hs = [intref.step(cart, s, ctrl, intref.new_hidden(cart), (stage, 2, 9))[2] for stage in (31, 32)]
    assert not np.array_equal(hs[0], hs[1])


def test_init_grows_a_model_into_relative_inputs(tmp_path):
    """`train --init` from a one-hot model into a one-hot + relative run: the new encoder columns
    start at 0, so the grown model computes exactly the checkpoint's function; a context that
    drops or swaps features is refused."""
    from worldmodel import train as T
    from worldmodel.model import WorldModel

    torch.manual_seed(0)
    old = WorldModel("micro", context=C.CONTEXT_ONEHOT)
    path = tmp_path / "old.pt"
    torch.save({"preset": "micro", "fields": [T.dataclasses_astuple(f) for f in old.fs.fields],
                "context": C.CONTEXT_ONEHOT, "model": old.state_dict()}, path)
    new = WorldModel("micro", context=BOTH)
    T.init_weights(new, path)
    rng = np.random.default_rng(4)
    st = torch.from_numpy(states_near_surfaces(rng, 32).astype(np.int64))[None]
    ct = torch.from_numpy(np.stack([random_controls(rng) for _ in range(32)]))[None]
    cx = torch.tensor([[31, 2, 9]])
    u_new = build_features(new.fs, st, ct, cx)
    assert u_new[..., 198:202].abs().sum() > 0  # the relative features are there, and ignored:
    with torch.no_grad():
        a, _ = old(build_features(old.fs, st, ct, cx), old.new_hidden(1))
        b, _ = new(u_new, new.new_hidden(1))
    assert torch.allclose(a, b, rtol=0, atol=1e-6)  # equal up to float summation order
    with pytest.raises(SystemExit):
        T.init_weights(WorldModel("micro", context=C.CONTEXT_RELATIVE), path)  # drops the one-hot
