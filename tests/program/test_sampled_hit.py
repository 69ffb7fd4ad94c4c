"""Sampled hits (manifest context bit 3, CONTEXT_SAMPLED_HIT): the head ends in a hit branch
(per fighter a hit logit and what a hit sets), and the decode draws each fighter's hit at the
model's odds from a draw the session's id and the frame fix (cartridge.hit_draw). The format
carries the bit, the references (intref, intbatch, the float twin) decode alike, and the
program matches the Simulator frame by frame while hits are drawn and not drawn."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from solders.keypair import Keypair

from onchain.backends.embedded import EmbeddedBackend
from onchain.sdk import errors as E
from onchain.sdk import pda, steps
from onchain.sdk import upload as U
from onchain.sdk.backend import BackendError
from onchain.sdk.wire import ControllerInput
from worldmodel import cartridge as C
from worldmodel import dataset as ds
from worldmodel import intref
from worldmodel.intbatch import BatchRef
from worldmodel.model import FeatureSpec, MODEL_FIELDS, decode
from worldmodel.randmodel import random_cartridge, random_controls, random_state
from worldmodel.sim import Simulator

HIT = C.CONTEXT_ONEHOT | C.CONTEXT_RELATIVE | C.CONTEXT_SAMPLED_HIT


def test_hit_constants_name_the_right_fields_and_actions():
    assert [C.FIELDS[f] for f in C.hit_field_indices()] == list(C.HIT_FIELDS)
    assert [ds.ACTION_CATEGORIES[a] for a in C.HIT_ACTIONS] == ["tumble", "damage", "downed", "grabbed_thrown"]


def test_hit_draws():
    """The same values as the program's unit test (forward.rs), scalar and batched alike, and
    uniform enough: 20,000 draws fill 16 bins evenly and do not repeat across fighters/frames."""
    want = {(0, 0, 0): 22162, (0, 0, 1): 56274, (7, 123, 0): 44399, (7, 123, 1): 29098,
            ((1 << 64) - 1, (1 << 64) - 1, 1): 13157}
    for args, v in want.items():
        assert C.hit_draw(*args) == v
    sid, fr = np.repeat(np.arange(10), 1000), np.tile(np.arange(1000), 10)
    arr = C.hit_draw_array(sid, fr)
    assert arr[123].tolist() == list(C.hit_draws(int(sid[123]), int(fr[123])))
    counts = np.bincount(arr.ravel() >> 12, minlength=16)
    assert counts.min() > 0.9 * 1250 and counts.max() < 1.1 * 1250, counts
    assert abs(np.corrcoef(arr[:, 0], arr[:, 1])[0, 1]) < 0.05


def test_hit_probability_is_the_sigmoid():
    lut = C.exp_lut()
    for logit in range(-32768, 32768, 97):
        p = C.hit_probability_q16(lut, logit) / 65536
        assert abs(p - 1 / (1 + math.exp(-logit / 256))) < 0.005, logit
    assert C.hit_probability_q16(lut, 0) == 32768
    assert C.hit_probability_q16(lut, -32768) == 0 and C.hit_probability_q16(lut, 32767) == 65536
    logits = np.arange(-32768, 32768, 13)
    br = BatchRef(random_cartridge("micro", seed=1, fields=MODEL_FIELDS, context=HIT))
    assert br.hit_probability_q16(logits).tolist() == [C.hit_probability_q16(lut, int(v)) for v in logits]


def test_out_dim_counts_the_hit_branch():
    cart = random_cartridge("micro", seed=2, fields=MODEL_FIELDS, context=HIT)
    assert cart.out_dim == C.out_dim_for(MODEL_FIELDS) + 2 * C.HIT_WIDTH == 104 + 14
    w = cart.weights_bytes()
    assert C.from_bytes(cart.manifest_bytes(w), w).context == HIT


def assert_refused(so_path, cart, model_id: int) -> None:
    """The cartridge's manifest is refused by the parser and by the program (InvalidManifest, at
    finalize)."""
    w = cart.weights_bytes()
    with pytest.raises(C.CartridgeError):
        C.from_bytes(cart.manifest_bytes(w), w)
    be = EmbeddedBackend(so_path)
    a = Keypair()
    be.fund(a.pubkey())
    with pytest.raises(BackendError) as err:
        U.upload(be, a, model_id, cart.manifest_bytes(w), w)
    assert E.custom_code(str(err.value)) == E.InvalidManifest, err.value


def test_a_hit_floor_without_sampled_hits_is_refused(so_path):
    cart = random_cartridge("micro", seed=2, fields=MODEL_FIELDS, context=C.CONTEXT_ONEHOT)
    cart.hit_floor = 3
    assert_refused(so_path, cart, 10)


def test_a_hit_branch_over_a_non_scalar_field_is_refused(so_path):
    """A sampled-hit manifest whose hitlag is kept (not decoded): the parser, the float twin and
    the program (InvalidManifest, at finalize) all refuse it."""
    fields = list(MODEL_FIELDS)
    fields[C.FIELDS.index("hitlag")] = C.FieldSpec(C.ENC_SCALAR, 0, C.DEC_KEEP, 0)
    cart = random_cartridge("micro", seed=2, fields=tuple(fields), context=HIT)
    with pytest.raises(C.CartridgeError):
        FeatureSpec(tuple(fields), HIT)
    assert_refused(so_path, cart, 9)


def decode_cases(cart, n: int, seed: int):
    """Random states and head outputs, the hit logits spread so that some draws hit."""
    rng = np.random.default_rng(seed)
    st = np.stack([random_state(rng) for _ in range(n)])
    st[:, :, C.FIELDS.index("action")] = rng.integers(0, 32, size=(n, 2))
    outs = rng.integers(-3000, 3000, size=(n, cart.out_dim)).astype(np.int16)
    draws = C.hit_draw_array(np.arange(n), np.full(n, 5))
    return st, outs, draws


@pytest.mark.parametrize("floor", [0, 255])
def test_references_decode_alike(floor):
    """intref, the batched reference and the float twin (given the same outputs in its units)
    decode the same next states; hits are drawn on some of them, and where one is, the hit
    fields come from the hit branch and the action is one of HIT_ACTIONS. With a hit floor, no
    hit less likely than it is drawn."""
    cart = random_cartridge("micro", seed=5, fields=MODEL_FIELDS, context=HIT)
    cart.hit_floor = floor
    st, outs, draws = decode_cases(cart, 400, 6)
    want = np.stack([intref.decode_outputs(cart, s, o, d) for s, o, d in zip(st, outs, draws)])
    assert np.array_equal(BatchRef(cart).decode_outputs(st, outs, draws), want)
    fs = FeatureSpec(MODEL_FIELDS, HIT)
    fs.hit_floor = floor
    norm = torch.from_numpy(outs.astype(np.float32)) / fs.out_scale
    got = decode(fs, torch.from_numpy(st.astype(np.int64)), norm, torch.from_numpy(draws))
    prob = np.array([[C.hit_probability_q16(cart.exp_lut, int(o[fs.hit_slot(p)])) for p in range(2)] for o in outs])
    hit = (draws < prob) & (prob >= floor * C.HIT_FLOOR_UNIT)
    pct = C.FIELDS.index("percent")
    pct_hit = np.array([[intref.decode_scalar(cart.fields[pct], int(s[p, pct]), int(o[fs.hit_slot(p) + 4]))
                         for p in range(2)] for s, o in zip(st, outs)])
    assert np.array_equal(want[:, :, pct][hit], pct_hit[hit])  # a drawn hit's percent is the branch's
    if floor:  # the floor removed draws that would have hit
        assert ((draws < prob) & ~hit).any()
    # the float twin's sigmoid may round the other way right at a draw's edge: compare the rest
    edge = np.stack([[abs(d[p] / 65536 - 1 / (1 + math.exp(-int(o[fs.hit_slot(p)]) / 256))) < 1e-2
                      for p in range(2)] for o, d in zip(outs, draws)])
    keep = ~edge.any(axis=1)
    assert keep.sum() > 300
    assert np.array_equal(got.numpy()[keep], want[keep].astype(np.int64))
    assert 20 < hit.sum() < 780, hit.sum()
    act = C.FIELDS.index("action")
    assert set(want[hit][:, act]) <= set(C.HIT_ACTIONS)
    no_hit = intref.decode_outputs(cart, st[0], outs[0], (65535, 65535))  # a draw above every odds but 1
    assert np.array_equal(no_hit, np.stack([intref.decode_outputs(cart, s, o, (65535, 65535))
                                            for s, o in [(st[0], outs[0])]])[0])
    with pytest.raises(ValueError):
        intref.decode_outputs(cart, st[0], outs[0])  # a sampled-hit model needs its draws


def test_a_drawn_hit_uses_the_hit_branch():
    """By hand: fighter 1's hit logit certain, fighter 2's impossible; fighter 1's percent rises
    by the hit branch's delta and its action is the best-scored of HIT_ACTIONS, fighter 2 follows
    the field outputs."""
    cart = random_cartridge("micro", seed=5, fields=MODEL_FIELDS, context=HIT)
    fs = FeatureSpec(MODEL_FIELDS, HIT)
    out = np.zeros(cart.out_dim, np.int16)
    pct, act = C.FIELDS.index("percent"), C.FIELDS.index("action")
    for p in range(2):
        o_pct = next(o for q, f, o, _ in fs.out_slices if q == p and f == pct)
        out[o_pct] = 3  # no hit: +3 / 16 %
        out[fs.action_out[p] + 2] = 500  # idle, the field's argmax
        out[fs.action_out[p] + 26] = 40  # grabbed_thrown beats damage among HIT_ACTIONS
        out[fs.action_out[p] + 18] = 30
        out[fs.hit_slot(p) + 1 + C.HIT_FIELDS.index("percent")] = 160  # a hit: +10 %
    out[fs.hit_slot(0)], out[fs.hit_slot(1)] = 32767, -32768
    state = np.zeros((2, 16), np.int16)
    nxt = intref.decode_outputs(cart, state, out, (65535, 0))
    assert nxt[0, pct] == 160 and nxt[0, act] == 26
    assert nxt[1, pct] == 3 and nxt[1, act] == 2


@pytest.mark.parametrize("session_id,floor", [(1, 0), (0xDEADBEEF, 255)])
def test_program_matches_the_simulator(so_path, session_id, floor):
    """A session of a sampled-hit model through the program and the Simulator side by side:
    fighters, rules block and hidden state equal every frame, with hits drawn on some frames and
    not on others (the draws are the session id's)."""
    cart = random_cartridge("micro", seed=31, fields=MODEL_FIELDS, context=HIT)
    cart.hit_floor = floor
    be = EmbeddedBackend(so_path)
    model = be.upload_model(cart)
    p1, p2 = Keypair(), Keypair()
    assert be.create_session(session_id, model, p1, stage=31, characters=(2, 9)).ok
    assert be.join_session(session_id, p2).ok
    sim = Simulator(cart, stage=31, characters=(2, 9), session_id=session_id)
    rng = np.random.default_rng(8)
    off = steps.hidden_offsets(cart.preset)["h"]
    br = BatchRef(cart)
    hits = 0
    for f in range(90):
        c1, c2 = (ControllerInput(*(int(v) for v in row[:7])) for row in random_controls(rng))
        assert be.submit_input(session_id, p1, f, c1).ok and be.submit_input(session_id, p2, f, c2).ok
        before = sim.state.copy()
        hidden = sim.hidden.copy()
        sim.step(c1, c2)
        s, c, cx = sim._model_input(before, np.array([c1.as_row(), c2.as_row()], np.int64))
        _, out, _ = br.step(s, c, hidden, cx, np.array([C.hit_draws(session_id, f)]))
        prob = [int(br.hit_probability_q16(out[0, FeatureSpec(MODEL_FIELDS, HIT).hit_slot(p)])) for p in range(2)]
        hits += sum(C.hit_draws(session_id, f)[p] < prob[p] and prob[p] >= floor * C.HIT_FLOOR_UNIT for p in range(2))
        res = be.run_inference(session_id, f)
        assert res.ok, (f, res.error)
        view = be.session(session_id)
        assert view.fighters == tuple(tuple(int(v) for v in row) for row in sim.state), f
        assert view.rules == bytes(sim.rules_state), f
        assert be.account_data(pda.hidden(be.program_id, session_id))[off:] == sim.hidden[0].tobytes(), f
    assert 5 <= hits <= 175, hits


def test_the_session_id_changes_the_draws():
    cart = random_cartridge("micro", seed=31, fields=MODEL_FIELDS, context=HIT)
    runs = []
    for sid in (1, 2):
        sim = Simulator(cart, stage=31, characters=(2, 9), session_id=sid)
        for _ in range(60):
            sim.step(None, None)
        runs.append(sim.state.copy())
    assert not np.array_equal(*runs)


def test_init_grows_a_model_into_sampled_hits(tmp_path):
    """`train --init` into a sampled-hit run: the field outputs are the checkpoint's, the hit
    branch starts at 0 with the logit at the replays' hit rate."""
    from worldmodel import train as T
    from worldmodel.model import WorldModel, build_features

    torch.manual_seed(0)
    old_ctx = C.CONTEXT_ONEHOT | C.CONTEXT_RELATIVE
    old = WorldModel("micro", context=old_ctx)
    path = tmp_path / "old.pt"
    torch.save({"preset": "micro", "fields": [T.dataclasses_astuple(f) for f in old.fs.fields],
                "context": old_ctx, "model": old.state_dict()}, path)
    new = WorldModel("micro", context=HIT)
    T.init_weights(new, path)
    rng = np.random.default_rng(4)
    st = torch.from_numpy(np.stack([random_state(rng) for _ in range(16)]).astype(np.int64))[None]
    ct = torch.from_numpy(np.stack([random_controls(rng) for _ in range(16)]))[None]
    cx = torch.tensor([[31, 2, 9]])
    with torch.no_grad():
        a, _ = old(build_features(old.fs, st, ct, cx), old.new_hidden(1))
        b, _ = new(build_features(new.fs, st, ct, cx), new.new_hidden(1))
    n = old.fs.out_dim
    assert torch.equal(a, b[..., :n])
    prior = torch.sigmoid(b[..., new.fs.hit_slot(0)])
    assert torch.allclose(prior, torch.full_like(prior, T.HIT_PRIOR))
    assert torch.equal(b[..., new.fs.hit_slot(0) + 1:new.fs.hit_slot(0) + C.HIT_WIDTH], torch.zeros(1, 16, C.HIT_WIDTH - 1))


def test_eval_counts_hits_against_the_odds():
    """eval.hit_calibration by hand: two windows of three predicted frames; fighter 2 of window 0
    is hit on frame 2 (percent +1 %), window 1's fighters stand 100 units apart."""
    from worldmodel.eval import hit_calibration

    cart = random_cartridge("micro", seed=5, fields=MODEL_FIELDS, context=HIT)
    cart.hit_floor = 100  # 1,600 / 65536
    st = np.zeros((2, 4, 2, 16), np.int16)
    st[0, 2:, 1, C.FIELDS.index("percent")] = 16
    st[1, :, 1, C.FIELDS.index("x")] = 100 * 16
    probs = np.full((2, 3, 2), 1000)  # below the floor
    probs[0, 1, 1] = 32768  # the hit frame: even odds
    rep = hit_calibration(cart, st, probs)
    assert rep["hit_floor_q16"] == 1600
    assert rep["all"] == {"fighter_frames": 12, "hits": 1, "expected": round((11 * 1000 + 32768) / 65536, 1),
                          "expected_above_floor": 0.5, "hits_above_floor": 1}
    assert rep["far"] == {"fighter_frames": 6, "hits": 0, "expected": round(6 * 1000 / 65536, 1),
                          "expected_above_floor": 0.0, "hits_above_floor": 0}
