"""The models shipped in assets/models/ (what `make play` loads): each is a valid cartridge,
runs bit for bit like the integer reference in the compiled program on real replay frames,
and carries its evaluation report."""
import json
from pathlib import Path

import numpy as np
import pytest

from onchain.backends.direct import DirectSession
from onchain.sdk import accounts as A
from onchain.backends.svm import ProgramVM
from worldmodel import cartridge as C
from worldmodel import dataset as ds
from worldmodel import intref

MODELS = sorted(p for p in (Path(__file__).resolve().parents[2] / "assets" / "models").glob("*")
                if (p / "manifest.bin").is_file())
FIXTURE = Path(__file__).parents[1] / "fixtures" / "replays" / "slippi-js_moveTest_id_2_to_21.slp.xz"


def test_a_model_is_shipped():
    assert MODELS, "assets/models/ holds no model"


@pytest.mark.parametrize("model_dir", MODELS, ids=lambda p: p.name)
def test_shipped_model_is_valid_and_reported(model_dir):
    cart = C.load(model_dir)
    info = json.loads((model_dir / "model.json").read_text())
    assert info["preset"] == cart.preset.name and info["params"] == cart.param_count()
    rep = json.loads((model_dir / "eval.json").read_text())
    assert set(rep["results"]) >= {"int8", "persistence", "constant_velocity"}
    assert (model_dir / "eval.md").is_file() and (model_dir / "eval.png").is_file()
    assert "python -m worldmodel.train" in (model_dir / "README.md").read_text()


@pytest.mark.parametrize("model_dir", MODELS, ids=lambda p: p.name)
def test_shipped_model_bitexact_on_replay_frames(model_dir, so_path):
    cart = C.load(model_dir)
    game = ds.read_replay(FIXTURE)
    t0 = 1200
    session = DirectSession(ProgramVM(so_path), cart, game.state[t0])
    state, hidden = game.state[t0].copy(), intref.new_hidden(cart)
    # a placed session without a stage (the model alone) feeds a context model no stage and its
    # default characters, as the program reads them from SessionState
    context = (A.NO_STAGE, *A.DEFAULT_CHARACTERS)
    for k in range(1, 5):
        ctrl = game.ctrl[t0 + k].astype(np.int64)
        session.set_controls(ctrl)
        res = session.step([4] * (session.steps // 4) + ([session.steps % 4] if session.steps % 4 else []))
        assert all(r.ok for r in res), [r.error for r in res]
        # a sampled-hit model draws from the session's id and the frame, as the program does
        state, _, hidden = intref.step(cart, state, ctrl, hidden, context, C.hit_draws(session.session_id, k - 1))
        assert np.array_equal(session.fighters(), state) and np.array_equal(session.hidden_state(), hidden)
    # the model moves the fighters like the replay did (positions within 2 game units after 4 frames)
    assert np.abs(state[:, :2].astype(int) - game.state[t0 + 4, :, :2]).max() < 32


@pytest.mark.parametrize("model_dir", MODELS, ids=lambda p: p.name)
def test_drift_check_runs_the_game_start(model_dir):
    """worldmodel.drift rolls the model out from the game's start state; with neutral inputs
    the float twin of a shipped model keeps both fighters standing where they started, within
    half a game unit over the first second. (tiny-wide-v1's and micro-v2's stay exactly on the
    ground; tiny-wide-v2's sinks 0.12-0.19 units, the start of the drift its playtest's idle
    scenario measures. The failure this guards against is the first models': sinking to y = -90
    and running off within seconds.)"""
    from worldmodel import drift
    from worldmodel.sim import default_start_state

    rep = drift.check(model_dir, "idle", 60)
    assert rep["frames"] == 60 and len(rep["int8"]["y_min"]) == 2
    x0 = default_start_state()[:, 0] / 16
    r = rep["float"]
    assert all(abs(v) <= 0.5 for v in r["y_min"] + r["y_last"]), r
    assert all(abs(x - x0[p]) <= 0.5 for p, x in enumerate(r["x_last"])), r


def test_default_model_file_orders_the_shipped_models(tmp_path):
    """assets/models/DEFAULT names the model `auto` plays; without it (or naming nothing shipped)
    the first by name."""
    from worldmodel.shipped import resolve

    for name in ("a-model", "b-model", "not-a-model"):
        (tmp_path / name).mkdir()
    for name in ("a-model", "b-model"):
        for f in ("manifest.bin", "weights.bin"):
            (tmp_path / name / f).write_bytes(b"")
    assert [p.name for p in C.shipped_models(tmp_path)] == ["a-model", "b-model"]
    (tmp_path / "DEFAULT").write_text("b-model\n")
    assert [p.name for p in C.shipped_models(tmp_path)] == ["b-model", "a-model"]
    (tmp_path / "DEFAULT").write_text("gone\n")
    assert [p.name for p in C.shipped_models(tmp_path)] == ["a-model", "b-model"]
    shipped = C.shipped_models()
    assert resolve("auto").source == str(shipped[0])


def test_the_default_model_never_creeps_a_fighters_percent():
    """The default's percent decodes with a dead band: P1 walks up to an idle P2 and forward-smashes
    (the playtest's approach_smash, 20 s on Final Destination), and P2's percent only ever moves by
    a hit's size (0.5 % or more in a frame) or while P2 is being hit (in hitlag: a move's later
    hits, +0.25 % under P1's special). Before the band, the model's ±1/16 % wobble during the
    smash, kept by the rules' PERCENT clamp and never given back, took P2 to 40-70 % in a minute
    without a hit (its first +1/16 % on frame 69, P2 standing). Its only fall is a KO's reset to 0 %."""
    from worldmodel import rules as R
    from worldmodel import shipped
    from worldmodel import stages as S
    from worldmodel.playtest.batch import Games
    from worldmodel.playtest.scenarios import HIT_PERCENT, SCENARIOS
    from worldmodel.sim import default_start_state

    cart = shipped.resolve("auto").cartridge
    smash = next(s for s in SCENARIOS if s.name == "approach_smash")
    stage = S.stage("final_destination")
    context = (stage.slippi_id, S.character_id("fox"), S.character_id("marth"))
    games = Games(cart, [stage.key], [default_start_state()], [context], [True])
    mem, percents, stocks, hitlag, smashing = {}, [0], [R.DEFAULT_STOCKS], [], 0
    for t in range(1200):
        rows = smash.policy(t, games.state[0], games.phases(0), mem, stage)
        _, post, _ = games.step(np.array([0]), np.asarray([rows], np.int64))
        percents.append(int(post[0][1][R.PERCENT]))
        stocks.append(int(post[0][1][R.STOCKS]))
        hitlag.append(int(post[0][1][R.HITLAG]) > 0)
        smashing += int(post[0][0][R.ACTION]) == ds.CAT["smash"]
    steps = np.diff(percents)
    # a KO (a model that hits, tiny-wide-v2, takes P2's stock) resets the percent to 0
    ko = (np.diff(stocks) < 0) & (np.array(percents[1:]) == 0)
    assert smashing > 100  # the scenario did what it says: P1 smashed next to P2
    assert (steps >= HIT_PERCENT).sum() >= 3  # it hits
    assert ((steps == 0) | (steps >= HIT_PERCENT) | ((steps > 0) & np.array(hitlag)) | ko).all(), \
        [(t, int(s)) for t, s in enumerate(steps) if 0 < s < HIT_PERCENT and not hitlag[t]]


def test_default_model_stands_still():
    """The default model (assets/models/DEFAULT), left alone, stands where it started on every
    stage: the playtest's idle scenario over its --quick budget (30 s) through the integer model
    and the rules, raw output and after the rules within 2 units. (tiny-wide-v2 quantized with a
    dead band of one state unit on x walked away 1/8 unit at a time: 2-13.5 units in 30 s on 5
    stages of 6.)"""
    from worldmodel import stages as S
    from worldmodel.playtest.run import run_scenarios
    from worldmodel.shipped import resolve

    cart = resolve("auto").cartridge
    res, _ = run_scenarios(cart, [s.key for s in S.STAGES], quick=True, names=["idle"])
    for stage, r in res["idle"].items():
        assert r["pass"] is True and r["measured"]["still_frames"] == 1800, (stage, r["value"], r["measured"])


def test_default_model_drops_through_battlefields_platform():
    """The stick held down on a platform (playtest drop_through: 8 frames, as a player holds it
    until the fighter drops; Melee drops a crouching fighter only while the stick is down) takes
    the default model's fighter through Battlefield's platform. (With the 3-frame tap the
    scenario used to play, it crouched and stood up again: a tap too short for Melee, too.)"""
    from worldmodel.playtest.run import run_scenarios
    from worldmodel.shipped import resolve

    res, _ = run_scenarios(resolve("auto").cartridge, ["battlefield"], names=["drop_through"])
    r = res["drop_through"]["battlefield"]
    assert r["checks"]["on_platform_at_tap"] and r["checks"]["falls_below"] and r["checks"]["lands"], r


def test_default_model_turns_away_from_the_other_and_walks():
    """Told to walk away from the other at a half tilt (playtest turn_walk_out), the default
    model's fighters go into "turn" and, left to themselves, hold it with a stalled counter and
    never face the other way. The rules' TURN (Melee's turn: the counter runs, the facing has
    flipped by frame 10) turns them, and the model then walks each away from the other."""
    from worldmodel.playtest.run import run_scenarios
    from worldmodel.shipped import resolve

    res, _ = run_scenarios(resolve("auto").cartridge, ["final_destination"], names=["turn_walk_out"])
    r = res["turn_walk_out"]["final_destination"]
    assert r["checks"]["p1_turned"] and r["checks"]["p2_turned"], r
    assert r["checks"]["p1_grounded"] and r["checks"]["p2_grounded"], r
    assert min(r["measured"]["p1_walked"], r["measured"]["p2_walked"]) >= 3.0, r["measured"]



def test_default_model_fighter_said_dead_in_play_falls_and_is_kod():
    """A fighter in play that the default model calls "dead" 12.5 units above the bottom blast
    zone (as it does now and then just short of a zone) used to float there, velocities 0, for
    as long as anyone watched: no KO, no respawn, a bot game frozen until 8:00. With the rules'
    ALIVE it falls, is KO'd at the blast zone, respawns and is back in play."""
    import numpy as np

    from worldmodel import rules as R
    from worldmodel import stages as S
    from worldmodel.playtest.batch import Games
    from worldmodel.shipped import resolve
    from worldmodel.sim import default_start_state

    keys = ["final_destination", "battlefield"]
    starts = []
    for key in keys:
        s = default_start_state()
        s[1, R.X], s[1, R.Y] = 1600, R.Stage.of(key).blast_bottom + 200
        s[1, R.ACTION], s[1, R.ACTION_FRAME], s[1, R.AIRBORNE], s[1, R.SELF_VY] = R.ACT_DEAD, 0, 1, 0
        starts.append(s)
    chars = (S.character_id("fox"), S.character_id("marth"))
    games = Games(resolve("auto").cartridge, keys, starts, [(S.stage(k).slippi_id, *chars) for k in keys], [True] * 2)
    ko_frame = [None, None]
    for t in range(600):
        _, post, outs = games.step(np.arange(2), np.zeros((2, 2, 8), np.int64))
        for g in range(2):
            if outs[g].kos & 2 and ko_frame[g] is None:
                ko_frame[g] = t
            if R.phase(games.rules[g], 1) in (R.PLAY, R.INVULN):
                assert post[g, 1, R.ACTION] != R.ACT_DEAD, (keys[g], t)
    assert all(k is not None and k < 120 for k in ko_frame), ko_frame
    assert [R.stocks(games.rules[g], 1) for g in range(2)] == [3, 3]
    assert all(R.phase(games.rules[g], 1) in (R.PLAY, R.INVULN) for g in range(2))  # back from the platform
