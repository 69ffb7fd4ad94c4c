"""A short real training run on the fixture replays, its export to a cartridge, and that
the exported model runs bit for bit the same in the compiled program (LiteSVM) as in the
integer reference, and close to its float twin."""
from pathlib import Path

import numpy as np
import pytest
import torch

from onchain.backends.direct import DirectSession
from onchain.backends.svm import ProgramVM
from worldmodel import cartridge as C
from worldmodel import dataset as ds
from worldmodel import eval as E
from worldmodel import intref
from worldmodel import quantize as Q
from worldmodel import train as T
from worldmodel.intbatch import BatchRef
from worldmodel.model import build_features

FIXTURES = Path(__file__).parents[1] / "fixtures" / "replays"
ARGS = ["--preset", "micro", "--replays", str(FIXTURES), "--batch", "8", "--seq", "16",
        "--val-fraction", "0.5", "--no-progress", "--lr", "3e-3", "--threads", "1"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("train")
    args = ARGS + ["--out", str(out / "run"), "--cache", str(out / "cache"), "--max-steps", "60"]
    ckpt = T.train(T.parse_args(args))
    return out, ckpt, args


def test_training_lowers_the_loss_and_writes_artifacts(trained):
    out, ckpt, _ = trained
    ck = torch.load(ckpt, weights_only=False)
    hist = ck["history"]
    assert ck["step"] == 60 and len(hist) == 60
    first = np.mean([h["loss_tf"] for h in hist[:10]])
    last = np.mean([h["loss_tf"] for h in hist[-10:]])
    assert np.isfinite(last) and last < 0.85 * first, (first, last)
    assert hist[-1]["val"] is not None and np.isfinite(hist[-1]["val"])
    assert (out / "run" / "loss.png").stat().st_size > 1000
    assert (out / "run" / "history.json").exists()


def test_resume_continues_from_the_checkpoint(trained, capsys):
    out, ckpt, args = trained
    before = torch.load(ckpt, weights_only=False)
    resumed = T.train(T.parse_args([a if a != "60" else "64" for a in args]))
    assert "resumed from" in capsys.readouterr().out
    after = torch.load(resumed, weights_only=False)
    assert after["step"] == 64 and [h["step"] for h in after["history"]][:60] == list(range(1, 61))
    assert after["history"][:60] == before["history"]


@pytest.fixture(scope="module")
def exported(trained):
    out, ckpt, _ = trained
    model = T.load_checkpoint(ckpt)
    games = ds.load_folder(FIXTURES, out / "cache")
    state, ctrl = Q.calibration_windows(games, 4, 96)
    cart = Q.export(model, Q.calibrate(model, state, ctrl))
    return model, cart, games, out


def test_export_roundtrip_and_int8_tracks_float(exported):
    model, cart, games, out = exported
    d = cart.save(out / "model")
    loaded = C.load(d)
    assert loaded.weights_bytes() == cart.weights_bytes()
    assert loaded.manifest_bytes() == cart.manifest_bytes()
    # teacher-forced over 120 real frames: the integer head outputs follow the float ones
    g = games[1]
    t0, n = 1500, 120
    s = torch.from_numpy(g.state[t0:t0 + n + 1].astype(np.int64))[None]
    c = torch.from_numpy(g.ctrl[t0:t0 + n + 1].astype(np.int64))[None]
    with torch.no_grad():
        out_f, _ = model(build_features(model.fs, s[:, :-1], c[:, 1:]), model.new_hidden(1))
    out_f = (out_f[0] * model.fs.out_scale).numpy()
    hid, out_i = intref.new_hidden(cart), []
    for t in range(n):
        _, o, hid = intref.step(cart, g.state[t0 + t], g.ctrl[t0 + t + 1].astype(np.int64), hid)
        out_i.append(o)
    out_i = np.array(out_i, dtype=np.float64)
    corr = np.corrcoef(out_f.ravel(), out_i.ravel())[0, 1]
    assert corr > 0.98, corr
    assert np.abs(out_i).max() < 32767  # nothing saturates the head


def test_exported_model_is_bit_exact_in_the_program(exported, so_path):
    _, cart, games, _ = exported
    g = games[0]
    t0 = 2000
    vm = ProgramVM(so_path)
    session = DirectSession(vm, cart, g.state[t0])
    state, hidden = g.state[t0].copy(), intref.new_hidden(cart)
    for k in range(1, 6):
        ctrl = g.ctrl[t0 + k].astype(np.int64)
        session.set_controls(ctrl)
        plan = [4] * (session.steps // 4) + ([session.steps % 4] if session.steps % 4 else [])
        res = session.step(plan)
        assert all(r.ok for r in res), [r.error for r in res]
        state, _, hidden = intref.step(cart, state, ctrl, hidden)
        assert np.array_equal(session.fighters(), state), k
        assert np.array_equal(session.hidden_state(), hidden), k
    assert np.count_nonzero(hidden) > hidden.size // 2


def test_batched_reference_equals_intref_step(exported):
    _, cart, games, _ = exported
    br = BatchRef(cart)
    starts = [(0, 300), (1, 900), (1, 3000)]
    state = np.stack([games[i].state[t] for i, t in starts])
    hb = br.new_hidden(len(starts))
    ref = [(games[i].state[t].copy(), intref.new_hidden(cart)) for i, t in starts]
    for k in range(1, 8):
        ctrl = np.stack([games[i].ctrl[t + k] for i, t in starts]).astype(np.int64)
        state, out_b, hb = br.step(state, ctrl, hb)  # autoregressive: its own predictions
        for j, (s, h) in enumerate(ref):
            s, o, h = intref.step(cart, s, ctrl[j], h)
            ref[j] = (s, h)
            assert np.array_equal(s, state[j]) and np.array_equal(o, out_b[j])
            assert np.array_equal(h, hb[j])


def test_eval_report_shape(exported, tmp_path):
    model, cart, _, out = exported
    d = cart.save(tmp_path / "m")
    torch.save({"model": model.state_dict(), "preset": "micro",
                "fields": [[f.enc_kind, f.enc_arg, f.dec_kind, f.dec_arg] for f in cart.fields]},
               d / "float.pt")
    rep = E.evaluate(d, str(FIXTURES), n_games=2, per_game=2, warmup=16, all_games=True,
                     cache=str(out / "cache"))
    assert rep["games"] == 2 and rep["windows"] == 4 and rep["frames"] > 0
    assert set(rep["results"]) == {"float", "int8", "persistence", "constant_velocity"}
    for res in rep["results"].values():
        assert list(res) == ["h1", "h5", "h10", "h20", "h60"]
        for m in res.values():
            assert set(m) == {"pos_mae", "vel_mae", "action_acc", "percent_mae", "stock_acc"}
    # persistence is exact at nothing that moves: its h60 position error exceeds its h1 error
    p = rep["results"]["persistence"]
    assert p["h60"]["pos_mae"] > p["h1"]["pos_mae"]
    md = E.markdown(rep)
    assert "| int8 |" in md and "## pos_mae" in md
    E.plot(rep, tmp_path / "e.png")
    assert (tmp_path / "e.png").stat().st_size > 1000


def _head_outputs(model, cart, state, ctrl) -> tuple[np.ndarray, np.ndarray]:
    """INT8 and float head outputs (frames, rows) in state units, teacher-forced."""
    br = BatchRef(cart)
    hid, outs = br.new_hidden(state.shape[0]), []
    for t in range(state.shape[1] - 1):
        _, o, hid = br.step(state[:, t], ctrl[:, t + 1], hid)
        outs.append(o.astype(np.float64))
    s = torch.from_numpy(state.astype(np.int64))
    c = torch.from_numpy(ctrl.astype(np.int64))
    with torch.no_grad():
        ref, _ = model(build_features(model.fs, s[:, :-1], c[:, 1:]), model.new_hidden(state.shape[0]))
    rows = cart.head.bias.shape[0]
    return np.stack(outs, 1).reshape(-1, rows), (ref * model.fs.out_scale).numpy().reshape(-1, rows)


def _mean_head_error(model, cart, state, ctrl) -> np.ndarray:
    q, f = _head_outputs(model, cart, state, ctrl)
    return (q - f).mean(0)


def test_head_bias_correction_zeroes_the_mean_int8_error(exported):
    model, _, games, _ = exported
    state, ctrl = Q.calibration_windows(games, 4, 96)
    cart = Q.export(model, Q.calibrate(model, state, ctrl))
    rows = [o for _, _, o, spec in model.fs.out_slices if spec.dec_kind == C.DEC_DELTA]
    before = np.abs(_mean_head_error(model, cart, state, ctrl)[rows])
    report = Q.correct_head_bias(cart, model, state, ctrl)
    after = np.abs(_mean_head_error(model, cart, state, ctrl)[rows])
    assert set(report) >= {"x", "y", "self_vy"}
    # what remains comes from rounding outputs to whole state units
    assert after.max() < 0.05 and after.sum() < 0.2 * before.sum(), (before, after)


def test_channel_scales_export_tracks_float(exported):
    """Per-channel RMSNorm output scales fold into gains and weights: same format, and the
    integer head follows the float head."""
    model, per_tensor, games, _ = exported
    state, ctrl = Q.calibration_windows(games, 4, 96)
    per_channel = Q.export(model, Q.calibrate(model, state, ctrl), channel_scales=True)
    assert per_channel.manifest_bytes() != per_tensor.manifest_bytes() or \
        per_channel.weights_bytes() != per_tensor.weights_bytes()
    C.validate(per_channel)
    q, f = _head_outputs(model, per_channel, state, ctrl)
    assert np.corrcoef(q.ravel(), f.ravel())[0, 1] > 0.98


def test_training_throughput_bench(tmp_path, capsys):
    """worldmodel.bench_train times train.train_step itself, one configuration after another."""
    from worldmodel import bench_train as BT

    out = tmp_path / "bt.json"
    assert BT.main(["--replays", str(FIXTURES), "--configs", "micro:1:4,tiny-wide:1:4", "--seq", "16",
                    "--steps", "2", "--warmup", "1", "--rollout", "--cache", str(tmp_path / "cache"),
                    "--out", str(out)]) == 0
    rows = __import__("json").loads(out.read_text())["configs"]
    assert [(r["preset"], r["threads"], r["batch"]) for r in rows] == [("micro", 1, 4), ("tiny-wide", 1, 4)]
    assert all(r["frames_per_s"] > 0 and r["step_ms_p90"] >= r["step_ms_p50"] > 0 for r in rows)
    assert rows[1]["params"] > 3 * rows[0]["params"]
    assert "tiny-wide" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        BT.main(["--replays", str(FIXTURES), "--configs", "nano:1:4"])


def test_fake_quant_forward_follows_the_cartridge(exported):
    """Quantization-aware training rounds the float forward pass to the cartridge's grids: the
    encoder's output is the program's int16 residual to the unit, and over 96 teacher-forced
    frames the head follows the INT8 head much closer than the plain float twin does."""
    import copy

    model, _, games, _ = exported
    state, ctrl = Q.calibration_windows(games, 4, 96)
    stats = Q.calibrate(model, state, ctrl)
    cart = Q.export(model, stats, channel_scales=True)
    scales = Q.activation_scales(stats, channel_scales=True)
    fq = copy.deepcopy(model)
    fq.set_fake_quant(scales)
    br = BatchRef(cart)
    u = br.build_features(state[:, 0], ctrl[:, 1])
    r_int = br.linear(cart.encoder, br.enc_w, u, cart.s_enc)
    taps = {}
    with torch.no_grad():
        fq(torch.from_numpy(u).float()[:, None], fq.new_hidden(u.shape[0]), taps)
    assert np.abs(taps["r0"][:, 0].numpy() / scales["r"] - r_int).max() <= 1.01  # float32 rounding
    q, f = _head_outputs(model, cart, state, ctrl)
    _, g = _head_outputs(fq, cart, state, ctrl)
    err_float, err_fq = np.abs(q - f).mean(), np.abs(q - g).mean()
    assert err_fq < 0.6 * err_float, (err_fq, err_float)
    fq.set_fake_quant(None)  # off again: the plain float model
    _, f2 = _head_outputs(fq, cart, state, ctrl)
    assert np.array_equal(f2, f)


def test_qat_fine_tune_starts_from_init(trained, tmp_path, capsys):
    """--init copies a checkpoint's weights into a fresh run (which then starts at the trained
    loss, not a random model's), --qat trains through the fake-quantized forward pass and
    recalibrates every --qat-every steps; the checkpoint holds plain float weights."""
    out, ckpt, _ = trained
    args = ARGS + ["--out", str(tmp_path / "qat"), "--cache", str(out / "cache"), "--max-steps", "4",
                   "--init", str(ckpt), "--qat", "--qat-every", "2", "--lr", "1e-4"]
    path = T.train(T.parse_args(args))
    assert "initialised from" in capsys.readouterr().out
    ck = torch.load(path, weights_only=False)
    first_run = torch.load(ckpt, weights_only=False)["history"]
    assert ck["step"] == 4
    assert ck["history"][0]["loss_tf"] < np.mean([h["loss_tf"] for h in first_run[:5]])
    model = T.load_checkpoint(path)
    assert model.fq is None and all(layer.fq is None for layer in model.layers)
    with pytest.raises(SystemExit, match="do not match"):
        T.train(T.parse_args([a if a != "micro" else "tiny-wide" for a in ARGS]
                             + ["--out", str(tmp_path / "bad"), "--cache", str(out / "cache"),
                                "--init", str(ckpt), "--max-steps", "1"]))


def test_quantize_dead_band_goes_into_the_cartridge_only(trained, tmp_path, capsys):
    """quantize --dead-band x=1,y=1 writes the same weights with dec_arg 1 on x and y (the
    decode's dead band) into the manifest, float.pt and train.json; a field that is not a
    delta or does not exist is refused; --init from the banded float.pt still trains."""
    out, ckpt, _ = trained
    base = ["--ckpt", str(ckpt), "--replays", str(FIXTURES), "--cache", str(out / "cache"), "--windows", "2",
            "--length", "16"]
    Q.main(base + ["--out", str(tmp_path / "plain")])
    Q.main(base + ["--out", str(tmp_path / "band"), "--dead-band", "x=1,y=1"])
    plain, band = C.load(tmp_path / "plain"), C.load(tmp_path / "band")
    assert (tmp_path / "plain" / "weights.bin").read_bytes() == (tmp_path / "band" / "weights.bin").read_bytes()
    x, y = C.FIELDS.index("x"), C.FIELDS.index("y")
    assert band.fields[x].dec_arg == band.fields[y].dec_arg == 1
    assert [f for i, f in enumerate(band.fields) if i not in (x, y)] == \
        [f for i, f in enumerate(plain.fields) if i not in (x, y)]
    assert T.load_checkpoint(tmp_path / "band" / "float.pt").fs.fields == band.fields
    import json
    assert json.loads((tmp_path / "band" / "train.json").read_text())["dead_band"] == {"x": 1, "y": 1}
    for bad in ("action=1", "speed=2", "x=one", "x=300"):
        with pytest.raises(SystemExit):
            Q.main(base + ["--out", str(tmp_path / "bad"), "--dead-band", bad])
        assert "--dead-band" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
    ck = torch.load(tmp_path / "band" / "float.pt", weights_only=False)
    ck.update(step=0, elapsed=0.0, history=[], seed=0, val_fraction=0.5)
    torch.save(ck, tmp_path / "band.pt")
    path = T.train(T.parse_args(ARGS + ["--out", str(tmp_path / "ft"), "--cache", str(out / "cache"),
                                        "--max-steps", "1", "--init", str(tmp_path / "band.pt")]))
    assert torch.load(path, weights_only=False)["step"] == 1


def test_focus_streams_jump_to_windows_holding_the_focus_actions():
    """train --focus: a share of the windows hold a frame of the focus actions (here all of
    them: share 1), each such jump starts a fresh hidden state; without it streams walk on."""
    games = ds.load_folder(FIXTURES, None)
    corpus = T.Corpus(games)
    walk = ds.CAT["walk"]
    focus = T.focus_frames(corpus, [walk])
    act = corpus.state[:, :, C.FIELDS.index("action")]
    assert len(focus) and (act[focus] == walk).any(axis=1).all()
    assert len(focus) == int((act == walk).any(axis=1).sum())
    rng = np.random.default_rng(0)
    streams = T.Streams(corpus, 6, 16, rng, focus, 1.0)
    for _ in range(5):
        state, _, _, restarted, _ = streams.next()
        assert restarted.all()
        assert (state[:, :, :, C.FIELDS.index("action")] == walk).any(axis=(1, 2)).all()
    plain = T.Streams(corpus, 6, 16, np.random.default_rng(0))
    plain.next()
    _, _, _, restarted, _ = plain.next()
    assert not restarted.all()


def test_focus_names_are_checked(tmp_path):
    with pytest.raises(SystemExit, match="unknown action categories"):
        T.train(T.parse_args(ARGS + ["--out", str(tmp_path / "f"), "--cache", str(tmp_path / "c"),
                                     "--max-steps", "1", "--focus", "walk,moonwalk"]))
