"""The float twin (worldmodel.model): its chunked scan equals the step-by-step recurrence,
and its features are exactly intref's."""
import numpy as np
import torch

from worldmodel import cartridge as C
from worldmodel import intref
from worldmodel import randmodel as R
from worldmodel.model import MODEL_FIELDS, WorldModel, build_features, decode


def test_chunked_scan_equals_step_by_step():
    torch.manual_seed(0)
    model = WorldModel("micro")
    b, l = 3, 17
    u = torch.randint(-128, 128, (b, l, model.fs.in_dim)).float()
    h0 = 0.1 * torch.randn(model.new_hidden(b).shape)
    with torch.no_grad():
        out, h_last = model(u, h0)
        h, outs = h0, []
        for t in range(l):
            o, h = model(u[:, t:t + 1], h)
            outs.append(o)
    assert torch.allclose(torch.cat(outs, 1), out, atol=1e-5)
    assert torch.allclose(h, h_last, atol=1e-5)
    assert h_last.abs().max() > 1e-3  # the state carries something


def test_features_match_intref():
    rng = np.random.default_rng(3)
    for fields in (C.DEFAULT_FIELDS, R.random_fields(rng)):
        cart = R.random_cartridge("micro", seed=1, fields=fields)
        model = WorldModel("micro", fields)
        states = np.stack([R.random_state(rng) for _ in range(16)])
        states[:4, :, 7] = rng.integers(0, 32, (4, 2))  # one-hot fields hit their classes
        states[4:8] = rng.integers(-3, 9, (4, 2, 16))
        ctrls = np.stack([R.random_controls(rng) for _ in range(16)])
        got = build_features(model.fs, torch.from_numpy(states.astype(np.int64)), torch.from_numpy(ctrls))
        want = np.stack([intref.build_features(cart, s, c) for s, c in zip(states, ctrls)])
        assert np.array_equal(got.numpy().astype(np.int64), want)


def test_decode_matches_intref_on_integer_outputs():
    rng = np.random.default_rng(4)
    cart = R.random_cartridge("micro", seed=2, fields=MODEL_FIELDS)
    model = WorldModel("micro")
    scale = model.fs.out_scale.numpy()
    for _ in range(20):
        state = R.random_state(rng)
        state[:, 7] = rng.integers(0, 32, 2)
        out = rng.integers(-2000, 2000, cart.out_dim)
        want = intref.decode_outputs(cart, state, out)
        got = decode(model.fs, torch.from_numpy(state.astype(np.int64)), torch.from_numpy(out / scale).float())
        assert np.array_equal(got.numpy(), want)



def test_delta_dead_band_decodes_alike_everywhere():
    """A DEC_DELTA field's dec_arg is a dead band: |out| <= dec_arg leaves the field, a larger
    output moves it by all of out. intref, intbatch and the float twin's decode agree."""
    from worldmodel.intbatch import BatchRef

    rng = np.random.default_rng(5)
    fields = tuple(C.FieldSpec(f.enc_kind, f.enc_arg, f.dec_kind, 2 if f.dec_kind == C.DEC_DELTA else f.dec_arg)
                   for f in MODEL_FIELDS)
    cart = R.random_cartridge("micro", seed=2, fields=fields)
    model = WorldModel("micro", fields)
    scale = model.fs.out_scale.numpy()
    states = np.stack([R.random_state(rng) for _ in range(32)])
    states[:, :, 7] = rng.integers(0, 32, (32, 2))
    outs = rng.integers(-4, 5, (32, cart.out_dim))  # straddles the band of 2
    want = np.stack([intref.decode_outputs(cart, s, o) for s, o in zip(states, outs)])
    assert np.array_equal(BatchRef(cart).decode_outputs(states, outs), want)
    got = decode(model.fs, torch.from_numpy(states.astype(np.int64)), torch.from_numpy(outs / scale).float())
    assert np.array_equal(got.numpy(), want)
    x_col = 0  # player 1's x is the first head output
    small, big = np.abs(outs[:, x_col]) <= 2, np.abs(outs[:, x_col]) > 2
    assert small.any() and big.any()
    assert np.array_equal(want[small, 0, 0], states[small, 0, 0])
    assert np.array_equal(want[big, 0, 0].astype(np.int64), states[big, 0, 0] + outs[big, x_col])


def test_exact_term_is_zero_within_a_quarter_unit_and_l1_outside():
    """train --exact-weight: an output that rounds to the target by a margin costs nothing, one a
    third of a unit off (which a frame at rest rounds to a step now and then) costs its distance
    past the margin, in normalised units, weighted like the field's smooth L1."""
    from worldmodel.model import EXACT_MARGIN, REG_WEIGHT, FeatureSpec, loss_terms

    fs = FeatureSpec(MODEL_FIELDS)
    base = torch.zeros(1, 1, 2, 16, dtype=torch.long)
    target = base.clone()
    target[..., 0, 0] = 5  # P1's x moves 5 state units
    scale = fs.out_scale
    out = torch.zeros(1, 1, fs.out_dim)
    x_row = next(o for p, f, o, _ in fs.out_slices if p == 0 and C.FIELDS[f] == "x")
    has_vel = torch.ones(1, dtype=torch.bool)
    out[..., x_row] = (5 + 0.2) / scale[x_row]
    near = loss_terms(fs, out, base, target, has_vel, exact=1.0)
    assert near["x_exact"].item() == 0.0 and "x_exact" not in loss_terms(fs, out, base, target, has_vel)
    out[..., x_row] = (5 - 0.6) / scale[x_row]
    far = loss_terms(fs, out, base, target, has_vel, exact=2.0)
    want = 2.0 * (0.6 - EXACT_MARGIN) / scale[x_row] * REG_WEIGHT["x"] / 2  # a player's half of the field's term
    assert abs(far["x_exact"].item() - want.item()) < 1e-6, (far["x_exact"].item(), want.item())
    assert torch.equal(decode(fs, base, out)[..., 0, 0], torch.tensor([[4]]))  # 4.4 decodes to 4, not 5


def test_event_weight_counts_a_landing_frame_that_many_times():
    """train --event-weight: a frame on which a fighter lands (airborne 1 -> 0) is an event
    (model.event_frames) and weighs 1 + W in the mean of every term; an uneventful frame where
    the model is exact adds nothing but its share of the denominator."""
    from worldmodel.model import REG_WEIGHT, FeatureSpec, event_frames, loss_terms

    fs = FeatureSpec(MODEL_FIELDS)
    air, y = C.FIELDS.index("airborne"), C.FIELDS.index("y")
    base = torch.zeros(1, 2, 2, 16, dtype=torch.long)
    base[0, 0, 0, air] = 1  # frame 0: P1 in the air at y = 1 unit
    base[0, 0, 0, y] = 16
    target = base.clone()
    target[0, 0, 0, air], target[0, 0, 0, y] = 0, 0  # ... and lands; frame 1: nothing happens
    events = event_frames(base, target)
    assert events.tolist() == [[True, False]]
    y_row = next(o for p, f, o, _ in fs.out_slices if p == 0 and C.FIELDS[f] == "y")
    out = torch.zeros(1, 2, fs.out_dim)  # y's delta 0 on the landing frame: 16 state units short
    has_vel = torch.ones(1, dtype=torch.bool)
    plain = loss_terms(fs, out, base, target, has_vel)["y"].item()
    for w in (1.0, 9.0):
        weighted = loss_terms(fs, out, base, target, has_vel, weight=1.0 + w * events.float())["y"].item()
        # the one error averaged over (1 + w) + 1 frame weights instead of 2 frames
        assert abs(weighted - plain * 2 * (1 + w) / (2 + w)) < 1e-6, (w, weighted, plain)
    assert plain > 0 and REG_WEIGHT["y"] > 0


def test_a_turn_is_an_event():
    """A slow turn flips the facing on its frame 5-7, within one action category: that frame is
    an event too (a model that copies the facing never turns at a half tilt)."""
    from worldmodel.model import event_frames

    face = C.FIELDS.index("facing")
    base = torch.zeros(1, 2, 2, 16, dtype=torch.long)
    base[..., face] = -1
    target = base.clone()
    target[0, 1, 1, face] = 1  # frame 1: P2 turns
    assert event_frames(base, target).tolist() == [[False, True]]


def test_flip_and_land_weights_weigh_only_their_term_on_their_frames():
    """train --flip-weight / --land-weight: the facing term on the frame a fighter turns, and
    the y terms on the frame it lands, weigh 1 + W; the other terms and frames are untouched."""
    from worldmodel.model import FeatureSpec, loss_terms

    fs = FeatureSpec(MODEL_FIELDS)
    air, y, face = (C.FIELDS.index(n) for n in ("airborne", "y", "facing"))
    base = torch.zeros(1, 2, 2, 16, dtype=torch.long)
    base[..., face] = 1
    base[0, 0, 0, air], base[0, 0, 0, y] = 1, 16  # frame 0: P1 in the air at y = 1 unit ...
    target = base.clone()
    target[0, 0, 0, air], target[0, 0, 0, y] = 0, 0  # ... lands
    target[0, 1, 1, face] = -1  # frame 1: P2 turns
    out = torch.zeros(1, 2, fs.out_dim)  # every delta 0, every logit 0: wrong by a bit everywhere
    has_vel = torch.ones(1, dtype=torch.bool)
    plain = loss_terms(fs, out, base, target, has_vel, exact=1.0)
    both = loss_terms(fs, out, base, target, has_vel, exact=1.0, flip=9.0, land=4.0)
    # the landing's y error is the only y error: averaged over 2 frames, now (1 + 4) of (1 + 4) + 1
    for k in ("y", "y_exact"):
        assert abs(both[k].item() - plain[k].item() * 2 * 5 / 6) < 1e-6, k
    # facing: P2's BCE at logit 0 is ln 2 on both frames; the flip frame now weighs 10 of 11
    # (a mean over the two frames: unchanged, since the error is alike; so compare the weighted
    # mean of a facing logit right on frame 0 and wrong on frame 1)
    f2 = next(o for p, f, o, _ in fs.out_slices if p == 1 and C.FIELDS[f] == "facing")
    f1 = next(o for p, f, o, _ in fs.out_slices if p == 0 and C.FIELDS[f] == "facing")
    out2 = out.clone()
    out2[..., f1] = 20.0  # P1 faces right throughout: right
    out2[0, 0, f2] = 20.0  # P2: right on frame 0 (faces right), wrong on frame 1 (turned left)
    out2[0, 1, f2] = 20.0
    p = loss_terms(fs, out2, base, target, has_vel)["facing"].item()
    w = loss_terms(fs, out2, base, target, has_vel, flip=9.0)["facing"].item()
    assert p > 1.0 and abs(w / p - (10 / 11) / (1 / 2)) < 1e-3, (p, w)
    for k in plain:
        if k not in ("y", "y_exact"):
            assert abs(both[k].item() - plain[k].item()) < 1e-6 or k == "facing", k
