"""The session's context as a model input (manifest context bit 1, CONTEXT_ONEHOT): one-hot stage
and characters after the controllers. The cartridge format carries the bit, the references
(intref, intbatch, the float twin) build the same features, and the program fed from
SessionState matches worldmodel.sim frame by frame, fighters, rules block and hidden state; the
stage and the characters reach the model (its recurrent state differs between them); a manifest
with a context bit nobody defines is refused."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from solders.keypair import Keypair

from onchain.sdk import accounts as A
from onchain.sdk import errors as E
from onchain.sdk import pda
from onchain.sdk import steps
from onchain.sdk import upload as U
from onchain.sdk.backend import BackendError
from onchain.sdk.wire import ControllerInput
from onchain.backends.embedded import EmbeddedBackend
from worldmodel import cartridge as C
from worldmodel import intref
from worldmodel import rules as R
from worldmodel import stages as WS
from worldmodel.intbatch import BatchRef
from worldmodel.model import FeatureSpec, build_features
from worldmodel.randmodel import random_cartridge, random_controls, random_state
from worldmodel.sim import FrameRef, Simulator, default_start_state

FRAMES = 150  # per session: 4 sessions, 600 frames


@pytest.fixture(scope="module")
def cart():
    return random_cartridge("micro", seed=23, context=C.CONTEXT_ONEHOT)


def test_stage_order_is_the_rules_table():
    """The one-hot stage order is stages.STAGES's, and rules.rs's STAGES (the program's)."""
    import re
    from pathlib import Path
    rs = (Path(__file__).parents[2] / "onchain/program/src/rules.rs").read_text()
    table = rs[rs.index("pub static STAGES"):]
    rust = tuple(int(v) for v in re.findall(r"Stage \{ id: (\d+),", table))
    assert C.CONTEXT_STAGES == tuple(s.slippi_id for s in WS.STAGES) == rust
    assert C.N_CHARACTERS == len(WS.CHARACTERS)


def test_manifest_round_trip(tmp_path, cart):
    assert cart.in_dim == C.in_dim_for(C.DEFAULT_FIELDS) + 56 == 200  # 198 features, padded
    cart = dataclasses.replace(cart, context=C.CONTEXT_ONEHOT | C.CONTEXT_SUPPORT, stage_mask=0b11,
                               character_mask=(1 << 2) | (1 << 9))
    m = cart.manifest_bytes()
    assert (m[136], m[137], m[140:144]) == (3, 3, ((1 << 2) | (1 << 9)).to_bytes(4, "little"))
    back = C.load(cart.save(tmp_path))
    assert (back.context, back.stage_mask, back.character_mask, back.in_dim) == (3, 3, 0x204, 200)
    assert back.manifest_bytes() == m
    # the supported sets added to it keep the feeding bit
    assert A.with_supported(m[:136] + bytes(8) + m[144:], [32])[136] == C.CONTEXT_SUPPORT
    assert A.with_supported(m, [32])[136] == 3


def test_old_cartridges_unchanged():
    """No context: the same bytes as before the field existed (byte 136.. zero, same weights)."""
    old = random_cartridge("micro", seed=23)
    assert old.context == 0 and old.in_dim == 144 and old.manifest_bytes()[136:160] == bytes(24)
    u = intref.build_features(old, random_state(np.random.default_rng(1)), random_controls(np.random.default_rng(2)))
    assert len(u) == 144


@pytest.mark.parametrize("flags", [C.CONTEXT_ONEHOT ^ C.CONTEXT_ONEHOT, 16, 0x80, C.CONTEXT_ONEHOT | 16, C.CONTEXT_ONEHOT | 8,
                                   C.CONTEXT_ONEHOT | C.CONTEXT_RELATIVE])
def test_manifest_with_wrong_context_refused(cart, flags):
    w = cart.weights_bytes()
    m = bytearray(cart.manifest_bytes(w))
    m[136] = flags  # 0: in_dim counts features the manifest no longer declares
    with pytest.raises(C.CartridgeError):
        C.from_bytes(bytes(m), w)


def test_features_agree(cart):
    rng = np.random.default_rng(5)
    ctx = [(32, 2, 9), (31, 9, 2), (8, 0, 25), (0, 2, 2), (0, 26, 255)]  # ids off the table: none hot
    st = np.stack([random_state(rng) for _ in ctx])
    ct = np.stack([random_controls(rng) for _ in ctx])
    u = np.stack([intref.build_features(cart, st[i], ct[i], c) for i, c in enumerate(ctx)])
    assert np.array_equal(BatchRef(cart).build_features(st, ct, np.array(ctx)), u)
    tail = u[:, C.in_dim_for(C.DEFAULT_FIELDS) - 4:]  # after the 140 state and controller features
    assert [list(np.flatnonzero(t)) for t in tail] == [[0, 8, 41], [1, 15, 34], [5, 6, 57], [8, 34], []]
    assert set(np.unique(tail)) <= {0, 127}
    fs = FeatureSpec(C.DEFAULT_FIELDS, C.CONTEXT_ONEHOT)
    got = build_features(fs, torch.from_numpy(st.astype(np.int64)), torch.from_numpy(ct), torch.tensor(ctx))
    assert np.array_equal(got.numpy().astype(np.int64), u)
    with pytest.raises(ValueError):
        intref.build_features(cart, st[0], ct[0])  # a context model needs its context


def hidden_h(be, sid, preset) -> bytes:
    return be.account_data(pda.hidden(be.program_id, sid))[steps.hidden_offsets(preset)["h"]:]


@pytest.fixture(scope="module")
def played(so_path, cart):
    """Four sessions of one context model (two stages x two character pairs), the same start and
    inputs, through the program and the Simulator side by side."""
    be = EmbeddedBackend(so_path)
    model = be.upload_model(cart)
    games = {}
    for sid, (stage, chars) in enumerate([(32, (2, 9)), (31, (2, 9)), (32, (20, 1)), (31, (20, 1))], 1):
        p1, p2 = Keypair(), Keypair()
        assert be.create_session(sid, model, p1, stage=stage, characters=chars).ok
        assert be.join_session(sid, p2).ok
        sim = Simulator(cart, stage=stage, characters=chars)
        rng = np.random.default_rng(7)  # the same inputs in every session
        first_h = None
        for f in range(FRAMES):
            c1, c2 = (ControllerInput(*(int(v) for v in row[:7])) for row in random_controls(rng))
            assert be.submit_input(sid, p1, f, c1).ok and be.submit_input(sid, p2, f, c2).ok
            sim.step(c1, c2)
            out = be.run_inference(sid, f)
            assert out.ok, (stage, chars, f, out.error)
            view = be.session(sid)
            assert view.fighters == tuple(tuple(int(v) for v in row) for row in sim.state), (stage, chars, f)
            assert view.rules == bytes(sim.rules_state), (stage, chars, f)
            assert hidden_h(be, sid, cart.preset) == sim.hidden[0].tobytes(), (stage, chars, f)
            if f == 0:
                first_h = np.frombuffer(hidden_h(be, sid, cart.preset), np.int32).copy()  # the program's
        games[(stage, chars)] = first_h
    return games


def test_program_matches_the_simulator(played):
    assert len(played) == 4  # every frame compared in the fixture


def test_context_reaches_the_model(played):
    """After one frame from the same start and inputs, the recurrent state (before any rule can
    act on it) differs with the stage and with the characters."""
    h = played
    assert not np.array_equal(h[(32, (2, 9))], h[(31, (2, 9))])
    assert not np.array_equal(h[(32, (2, 9))], h[(32, (20, 1))])
    assert not np.array_equal(h[(31, (2, 9))], h[(31, (20, 1))])


def test_without_the_bit_the_stage_does_not_reach_the_model():
    """The control: a model without context has the same state after a frame on any stage."""
    old = random_cartridge("micro", seed=23)
    hs = [Simulator(old, stage=s, characters=c) for s, c in ((32, (2, 9)), (31, (20, 1)))]
    for sim in hs:
        sim.step(ControllerInput(10, 20, 0, 0, 0, 0, 1), None)
    assert np.array_equal(hs[0].hidden, hs[1].hidden)


def test_frameref_feeds_context(cart):
    """FrameRef (intref.step per frame) = Simulator (intbatch) for a context model."""
    start = default_start_state().astype(np.int16)
    ref, sim = FrameRef(cart, start, stage=28, characters=(9, 2)), Simulator(cart, stage=28, characters=(9, 2))
    state, hid = start, intref.new_hidden(cart)
    rng = np.random.default_rng(3)
    for _ in range(20):
        ctrl = random_controls(rng)
        state, _, hid = ref.step(state, ctrl, hid)
        sim.step(ctrl[0], ctrl[1])
        assert np.array_equal(state, sim.state) and np.array_equal(hid, sim.hidden[0])


@pytest.mark.parametrize("flags", [16, 0x80, C.CONTEXT_ONEHOT | 16, C.CONTEXT_ONEHOT | 8, 0, C.CONTEXT_ONEHOT | C.CONTEXT_RELATIVE])
def test_program_refuses_a_wrong_context_byte(so_path, cart, flags):
    """An undefined context bit (or a context model whose bit is cleared, so in_dim no longer
    fits, or the sampled-hit bit on a head without a hit branch, so out_dim no longer fits)
    cannot be finalized (InvalidManifest)."""
    be = EmbeddedBackend(so_path)
    manifest, weights = U.load_cartridge_bytes(cart)
    m = bytearray(manifest)
    m[136] = flags
    a = Keypair()
    be.fund(a.pubkey())
    with pytest.raises(BackendError) as err:
        U.upload(be, a, 7, bytes(m), weights)
    assert E.custom_code(str(err.value)) == E.InvalidManifest, err.value


def test_program_refuses_the_bit_on_a_model_without_context(so_path):
    old = random_cartridge("micro", seed=23)
    manifest, weights = U.load_cartridge_bytes(old)
    be = EmbeddedBackend(so_path)
    a = Keypair()
    be.fund(a.pubkey())
    with pytest.raises(BackendError) as err:
        U.upload(be, a, 8, bytes(manifest[:136]) + bytes([C.CONTEXT_ONEHOT]) + manifest[137:], weights)
    assert E.custom_code(str(err.value)) == E.InvalidManifest, err.value


def test_training_with_context_exports_a_context_cartridge(tmp_path):
    """`train --context onehot` trains the float twin on each game's stage and characters (from
    the replays) and quantize exports them into the manifest; the float twin, intref and the
    batched reference build the same features from the game's context."""
    from pathlib import Path

    from worldmodel import dataset as ds
    from worldmodel import quantize as Q
    from worldmodel import train as T

    fixtures = Path(__file__).parents[1] / "fixtures" / "replays"
    args = ["--preset", "micro", "--replays", str(fixtures), "--batch", "4", "--seq", "16", "--val-fraction",
            "0.5", "--no-progress", "--threads", "1", "--max-steps", "20", "--context", "onehot",
            "--out", str(tmp_path / "run"), "--cache", str(tmp_path / "cache")]
    model = T.load_checkpoint(T.train(T.parse_args(args)))
    assert model.fs.context == C.CONTEXT_ONEHOT and model.fs.in_dim == 200
    games = ds.load_folder(fixtures, tmp_path / "cache")  # from the cache the run wrote: context kept
    assert [list(g.context()) for g in games] == [[14, 0, 9], [31, 2, 15]]  # stage 14: off the table
    state, ctrl = Q.calibration_windows(games, 4, 64)
    cx = Q.calibration_context(games, 4, 64)
    cart = Q.export(model, Q.calibrate(model, state, ctrl, context=cx))
    cart = C.load(cart.save(tmp_path / "model"))
    assert cart.context == C.CONTEXT_ONEHOT and cart.in_dim == 200
    g = games[1]  # Battlefield
    s = torch.from_numpy(g.state[100:130].astype(np.int64))
    c = torch.from_numpy(g.ctrl[101:131].astype(np.int64))
    ctx = torch.from_numpy(g.context())
    uf = build_features(model.fs, s[None], c[None], ctx[None])[0].numpy().astype(np.int64)
    ui = np.stack([intref.build_features(cart, g.state[100 + t], g.ctrl[101 + t], g.context()) for t in range(30)])
    ub = BatchRef(cart).build_features(g.state[100:130], g.ctrl[101:131], np.repeat(g.context()[None], 30, 0))
    assert np.array_equal(uf, ui) and np.array_equal(ub, ui)
    assert np.count_nonzero(ui[:, 140:]) == 3 * 30  # the stage and both characters, every frame
