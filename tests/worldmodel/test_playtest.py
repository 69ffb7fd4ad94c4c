"""The playtest benchmark (worldmodel.playtest): its batched games equal the Simulator, a
scenario can pass and can fail, and `--quick --json` gives the report's structure."""
import dataclasses
import json

import numpy as np
import pytest

from worldmodel import cartridge as C
from worldmodel import dataset as ds
from worldmodel import randmodel
from worldmodel.playtest import bots
from worldmodel.playtest.__main__ import main
from worldmodel.playtest.batch import Games
from worldmodel.playtest.report import markdown
from worldmodel.playtest.run import combine, run_scenarios, scenario_session
from worldmodel.playtest.scenarios import NAMES, SESSIONS
from worldmodel.sim import Simulator, default_start_state

SMALL = C.Preset("custom", 32, 64, 8, 16, 2)  # fast: the structure does not need a big model
FIXTURES = "tests/fixtures/replays"


def still_cartridge() -> C.Cartridge:
    """A model whose head outputs 0 but for the "idle" action logit: every delta field (x, y,
    ...) keeps its value, so nobody moves whatever the controllers say, and both stand idle
    (with every logit 0 the argmax would be "dead", which the rules' ALIVE makes a fall)."""
    cart = randmodel.random_cartridge(SMALL, 3)
    bias = np.zeros_like(cart.head.bias)
    per_fighter = sum(f.dec_width() for f in cart.fields)
    action = sum(f.dec_width() for f in cart.fields[:C.FIELDS.index("action")])
    for p in range(2):
        bias[p * per_fighter + action + ds.CAT["idle"]] = 1 << 12
    head = dataclasses.replace(cart.head, w=np.zeros_like(cart.head.w), bias=bias)
    return dataclasses.replace(cart, head=head)


def test_buttons_match_the_wire_format():
    from onchain.sdk.wire import BUTTON_BIT

    assert bots.BUTTON_BIT == BUTTON_BIT


def test_batched_games_equal_the_simulator():
    cart = randmodel.random_cartridge(SMALL, 1)
    rng = np.random.default_rng(5)
    sim = Simulator(cart, "battlefield", ("fox", "marth"))
    games = Games(cart, ["final_destination", "battlefield"], [default_start_state()] * 2,
                  [(32, 2, 9), (31, 2, 9)], [True, True])
    for t in range(300):
        ctrl = randmodel.random_controls(rng)
        frame = sim.step(ctrl[0], ctrl[1])
        raw, post, outs = games.step(np.array([1]), ctrl[None])
        assert np.array_equal(post[0], sim.state), t
        assert outs[0].kos == (frame.kos[0] | frame.kos[1] << 1)
        if frame.ended:
            break
    assert games.rules[1] == sim.rules_state


def test_a_scenario_passes_and_another_fails():
    res, traj = run_scenarios(still_cartridge(), ["battlefield", "final_destination"], quick=True,
                              names=["walk_off_left", "idle", "drop_through", "turn_walk_out"])
    for stage in ("battlefield", "final_destination"):
        assert res["idle"][stage]["pass"] is True and res["idle"][stage]["value"] == 0.0
        walk = res["turn_walk_out"][stage]  # nobody walks (nor turns: the head's zero facing output is +1)
        assert walk["pass"] is False and walk["value"] == 0.0 and walk["checks"]["p1_walks_10"] is False
        assert walk["checks"]["p2_walks_10"] is False and walk["checks"]["p1_grounded"] is True
        assert walk["checks"]["p1_turned"] is False
        assert res["idle"][stage]["measured"]["still_frames"] == 1800  # the whole quick budget
        assert res["walk_off_left"][stage]["pass"] is False  # the stick moves nobody
    assert res["drop_through"]["final_destination"]["pass"] is None  # no platform
    assert res["drop_through"]["battlefield"]["checks"]["on_platform_at_tap"] is True
    assert traj["idle"]["battlefield"].shape == (1800, 2, 2)


def test_float_twin_plays_through_the_same_games():
    """FloatRef puts the float twin behind BatchRef's interface: batched games equal one game
    stepped alone with the model's own forward pass and decode."""
    import torch

    from worldmodel.floatbatch import FloatRef
    from worldmodel.model import WorldModel, build_features, decode

    torch.manual_seed(0)
    model = WorldModel("micro", context=C.CONTEXT_ONEHOT)
    rng = np.random.default_rng(2)
    cx = [(32, 2, 9), (31, 2, 9)]
    games = Games(FloatRef(model), ["final_destination", "battlefield"], [default_start_state()] * 2, cx,
                  [True, True])
    state, hid = torch.from_numpy(default_start_state().astype(np.int64))[None, None], model.new_hidden(1)
    for t in range(40):
        ctrl = randmodel.random_controls(rng)
        raw, _, _ = games.step(np.array([0, 1]), np.stack([ctrl, ctrl]))
        with torch.no_grad():
            out, hid = model(build_features(model.fs, state, torch.from_numpy(ctrl.astype(np.int64))[None, None],
                                            torch.tensor([cx[1]])), hid)
        state = decode(model.fs, state, out)
        assert np.array_equal(raw[1], state[0, 0].numpy()), t
        state = torch.from_numpy(games.state[1].astype(np.int64))[None, None]  # the rules' output


def test_scenarios_option_runs_only_those(tmp_path, capsys):
    d = still_cartridge().save(tmp_path / "model")
    assert main(["--model", str(d), "--scenarios", "idle", "--quick", "--json", "--replays", "",
                 "--stages", "battlefield"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert list(rep["scenarios"]) == ["idle"]
    assert rep["scenarios"]["idle"]["battlefield"]["measured"]["still_frames"] == 1800
    with pytest.raises(SystemExit):
        main(["--model", str(d), "--scenarios", "idle,nap", "--quick", "--replays", ""])


def test_float_needs_the_float_twin(tmp_path):
    d = randmodel.random_cartridge(SMALL, 2).save(tmp_path / "model")
    with pytest.raises(SystemExit):
        main(["--model", str(d), "--float", "--quick", "--replays", ""])


def test_quick_json(tmp_path, capsys):
    d = randmodel.random_cartridge(SMALL, 2).save(tmp_path / "model")
    assert main(["--model", str(d), "--quick", "--json", "--replays", FIXTURES, "--all-games", "--games", "1",
                 "--stages", "battlefield,yoshis_story", "--report", str(tmp_path / "rep")]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert set(rep["scenarios"]) == set(NAMES)
    for name in NAMES:
        for stage in ("battlefield", "yoshis_story"):
            r = rep["scenarios"][name][stage]
            assert r["pass"] in (True, False) and set(r) >= {"value", "unit", "checks", "measured", "frames"}
    rp = rep["replay"]
    assert rp["overall"]["games"] == 1 and rp["per_stage"].keys() == {"battlefield"}
    assert 0 < rp["overall"]["frames"] <= 1800
    for k in ("violations_raw_per_10k", "violations_post_per_10k", "violations_replay_per_10k", "kos_per_min",
              "kos_per_min_replay", "airborne_share", "x_w1", "interventions_per_10k", "pass_invariants"):
        assert k in rp["overall"]
    o = rp["overall"]
    for suffix, kos in (("", o["kos"]), ("_replay", o["kos_replay"])):
        assert sum(o["ko_zones" + suffix].values()) == kos and 0 <= o["kos_no_hit" + suffix] <= kos
    assert set(rep["acceptance"]) == {"scenarios", "replay_invariants", "replay_ko_rate"}
    assert (tmp_path / "rep" / "playtest.png").stat().st_size > 0
    assert "walk_off_left" in (tmp_path / "rep" / "playtest.md").read_text()


def test_a_game_draws_from_its_session_not_its_place_in_the_batch():
    """A sampled-hit model: a game played alone equals the same session played second in a
    batch, and another session id plays another game (its hits are drawn elsewhere)."""
    from worldmodel.model import MODEL_FIELDS

    hit = C.CONTEXT_ONEHOT | C.CONTEXT_RELATIVE | C.CONTEXT_SAMPLED_HIT
    cart = randmodel.random_cartridge("micro", 4, fields=MODEL_FIELDS, context=hit)
    cx = [(31, 2, 9)]
    sid = scenario_session("bot_game", "battlefield", 0)
    alone = Games(cart, ["battlefield"], [default_start_state()], cx, [True], [sid])
    second = Games(cart, ["battlefield"] * 2, [default_start_state()] * 2, cx * 2, [True] * 2, [7, sid])
    other = Games(cart, ["battlefield"], [default_start_state()], cx, [True], [sid + 1])
    rng = np.random.default_rng(3)
    differ = False
    for t in range(120):
        ctrl = randmodel.random_controls(rng)
        a, _, _ = alone.step(np.array([0]), ctrl[None])
        b, _, _ = second.step(np.array([0, 1]), np.stack([ctrl, ctrl]))
        o, _, _ = other.step(np.array([0]), ctrl[None])
        assert np.array_equal(a[0], b[1]), t
        differ |= not np.array_equal(a[0], o[0])
    assert differ
    with pytest.raises(ValueError):
        Games(cart, ["battlefield"], [default_start_state()], cx, [True], [1, 2])


def test_a_fight_is_played_in_several_sessions_and_passes_only_if_each_does():
    res, _ = run_scenarios(still_cartridge(), ["battlefield"], quick=True, names=["bot_game"])
    r = res["bot_game"]["battlefield"]
    sessions = r["measured"]["sessions"]
    assert [s["session"] for s in sessions] == [scenario_session("bot_game", "battlefield", k) for k in range(SESSIONS)]
    assert r["pass"] is False and r["passed_sessions"] == 0 and r["frames"] == SESSIONS * 1800
    one = {"pass": True, "value": 10.0, "unit": "u", "checks": {"a": True}, "measured": {"m": 1}}
    bad = {"pass": False, "value": None, "unit": "u", "checks": {"a": False}, "measured": {"m": 2}}
    both = combine([one, dict(one, value=30.0)], [1, 2])
    assert both["pass"] is True and both["value"] == 30.0 and both["passed_sessions"] == 2
    mixed = combine([one, bad], [1, 2])
    assert mixed["pass"] is False and mixed["value"] is None and mixed["checks"] == {"a": False}
    assert [s["m"] for s in mixed["measured"]["sessions"]] == [1, 2]
    rep = {"model": "m", "quick": True, "stages": ["battlefield"], "seconds": 0,
           "scenarios": {"bot_game": {"battlefield": mixed}},
           "scenario_summary": {"bot_game": {"passed": 0, "failed": 1}}, "acceptance": {"scenarios": False}}
    assert "FAIL - (1/2)" in markdown(rep)


@pytest.mark.parametrize("name", ["walk_off_left", "turn_walk_in", "turn_walk_out", "jump", "approach_smash"])
def test_inputs_are_valid_controllers(name):
    """Every scripted row is a valid ControllerInput (the program would reject others)."""
    from onchain.sdk.wire import ControllerInput

    from worldmodel.playtest.scenarios import SCENARIOS
    from worldmodel import stages as S

    sc = next(s for s in SCENARIOS if s.name == name)
    s, mem = default_start_state(), {}
    for t in range(60):
        for row in sc.policy(t, s, (0, 0), mem, S.stage("battlefield")):
            ControllerInput(*row[:7]).validate()


def test_a_hit_is_a_jump_in_percent_not_a_creep():
    """approach_smash counts a hit where P2's percent rises by 0.5 % or more in one frame: a
    model whose percent wobbles by a state unit (1/16 %), which the rules' PERCENT clamp only
    lets rise, reaches tens of per cent in a minute without ever being hit."""
    from worldmodel import rules as R
    from worldmodel.playtest.scenarios import HIT_PERCENT, Rec, smash_score

    def rec_with(percents):
        rec = Rec(len(percents))
        for v in percents:
            post = default_start_state().astype(np.int16)
            post[1, R.PERCENT] = v
            rec.append(post, post, (R.PLAY, R.PLAY), (False, False))
        return rec

    creep = rec_with(list(range(0, 60 * 16)))  # 1/16 % a frame: 60 % in 960 frames
    r = smash_score(creep, None, {})
    assert r["measured"]["p2_percent_before_ko"] > 50 and r["measured"]["p2_hits"] == 0
    assert r["checks"]["hit_before_ko"] is False
    smashed = rec_with([0] * 10 + [16 * 17] * 10 + [16 * 17 + HIT_PERCENT] * 10)  # a 17 % smash, then 0.5 %
    assert smash_score(smashed, None, {})["measured"]["p2_hits"] == 2


def test_a_bot_on_a_platform_leaves_it_for_an_opponent_below():
    """bots.fighter: standing on a platform with the opponent under it, a bot runs off the
    platform's nearer end (two bots used to stand one above the other until 8:00); the one
    below does not run away, it waits under the other."""
    from worldmodel import rules as R
    from worldmodel import stages as S

    st = S.stage("battlefield")
    plat = min(st.platforms, key=lambda p: p.left)  # the left platform
    s = default_start_state()
    s[0, R.X], s[0, R.Y], s[0, R.AIRBORNE] = round(16 * (plat.left + 2)), round(16 * plat.y), 0  # near its left end
    s[1, R.X], s[1, R.Y] = round(16 * (plat.left + 4)), 0
    play = (R.PLAY, R.PLAY)
    assert bots.fighter(s, play, 0, 0, {}, st)[0] == -bots.FULL  # off the nearer (left) end
    s[0, R.X] = round(16 * (plat.right - 2))
    assert bots.fighter(s, play, 0, 0, {}, st)[0] == bots.FULL  # off the right end
    below = bots.fighter(s, play, 1, 0, {}, st)
    assert abs(below[0]) < bots.FULL and below[2] == 0  # P2 walks under P1 (no dash away, no smash)
    assert bots.platform_under(st, 0.0, 0.0) is None


def test_ko_zone_by_hand():
    from worldmodel import rules as R
    from worldmodel.playtest.replays import zone

    st = R.Stage.of("battlefield")
    f = default_start_state()[0]
    assert zone(st, f) == "inside"
    for x, y, want in ((0, st.blast_bottom - 1, "bottom"), (0, st.blast_top + 1, "top"),
                       (st.blast_left - 1, 0, "side"), (st.blast_right + 1, 0, "side"),
                       (st.blast_right + 1, st.blast_bottom - 1, "bottom"), (st.blast_right, st.blast_bottom, "inside")):
        f[R.X], f[R.Y] = x, y
        assert zone(st, f) == want, (x, y)
