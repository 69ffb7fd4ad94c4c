"""The rules layer (worldmodel/rules.py): KOs, the revival platform, invincibility, the end of the
game, the clamps; the stage table; the fixture the crate's host test replays."""
import numpy as np
import pytest

from worldmodel import rules as R
from worldmodel import rules_vectors
from worldmodel import stages as S


def fighters(stocks=(4, 4)):
    return rules_vectors.start_fighters(stocks)


def past(stage, zone):
    return rules_vectors.to_zone(stage, zone)


@pytest.mark.parametrize("key", [s.key for s in S.STAGES])
@pytest.mark.parametrize("zone", ["left", "right", "top", "bottom"])
def test_ko_on_each_blast_zone(key, zone):
    stage, st = R.Stage.of(key), R.new_state()
    f = fighters()
    f[1, R.PERCENT] = 1600
    f[1, R.X], f[1, R.Y] = past(stage, zone)
    out = R.step_rules(stage, 10, f, st)
    assert out.kos == 2 and not out.ended
    assert f[1, R.STOCKS] == 3 and f[1, R.PERCENT] == 0 and f[1, R.ACTION] == R.ACT_DEAD
    assert (f[1, R.X], f[1, R.Y]) == past(stage, zone)  # held where it died
    assert R.stocks(st, 1) == 3 and R.phase(st, 1) == R.DEAD and R.stocks(st, 0) == 4


def test_on_the_blast_line_is_not_a_ko():
    stage, st = R.Stage.of("battlefield"), R.new_state()
    f = fighters()
    f[0, R.X], f[0, R.AIRBORNE] = stage.blast_right, 1
    f[1, R.Y], f[1, R.AIRBORNE] = stage.blast_bottom, 1
    assert R.step_rules(stage, 0, f, st).kos == 0


def test_respawn_sequence_timeout():
    """60 frames dead, 60 descending to the respawn point, 240 waiting (model keeps 'respawn'),
    then let go as 'fall' with 120 frames of invincibility."""
    stage, st = R.Stage.of("final_destination"), R.new_state()
    f = fighters()
    f[0, R.X], f[0, R.Y] = past(stage, "left")
    R.step_rules(stage, 0, f, st)
    phases, pos = [], []
    for t in range(1, 1 + 60 + 60 + 240 + 121):
        R.step_rules(stage, t, f, st)  # the "model" returns the rules' own output unchanged
        phases.append(R.phase(st, 0))
        pos.append((int(f[0, R.X]), int(f[0, R.Y])))
    assert phases[:59] == [R.DEAD] * 59 and set(pos[:59]) == {past(stage, "left")}
    assert phases[59:119] == [R.DESCENT] * 60
    ys = [y for _, y in pos[59:119]]
    assert ys[0] == stage.descent_top and ys == sorted(ys, reverse=True) and ys[-1] > stage.respawn_y
    assert phases[119:359] == [R.WAIT] * 240
    assert set(pos[119:359]) == {(stage.respawn_x[0], stage.respawn_y)}
    assert phases[359:479] == [R.INVULN] * 120 and phases[479] == R.PLAY
    assert f[0, R.ACTION] == R.ACT_FALL and f[0, R.AIRBORNE] == 1


def test_acting_leaves_the_platform():
    stage, st = R.Stage.of("pokemon_stadium"), R.new_state()
    f = fighters()
    f[0, R.Y] = stage.blast_bottom - 5
    R.step_rules(stage, 0, f, st)
    for t in range(1, 121):
        R.step_rules(stage, t, f, st)
    assert R.phase(st, 0) == R.WAIT and f[0, R.Y] == stage.respawn_y
    f[0, R.ACTION], f[0, R.Y] = 7, stage.respawn_y + 30  # the model says: jump
    R.step_rules(stage, 121, f, st)
    assert R.phase(st, 0) == R.INVULN and f[0, R.ACTION] == 7 and f[0, R.Y] == stage.respawn_y + 30
    f[0, R.PERCENT], f[0, R.KB_VX] = 200, 500  # hit while invincible: no damage, no knockback
    out = R.step_rules(stage, 122, f, st)
    assert f[0, R.PERCENT] == 0 and f[0, R.KB_VX] == 0 and out.fired & R.R_INVULN


def test_a_fighter_in_play_the_model_calls_dead_falls_and_is_kod_at_the_blast_zone():
    """ALIVE: a model that says "dead" a few units short of the bottom blast zone and then holds
    it (velocities 0, as tiny-wide-v2 froze bot games until 8:00) does not KO the fighter nor
    freeze it: the fighter is in "fall", airborne, and when it crosses the blast zone the rules
    KO it there. "respawn" in play goes the same way; the rules' own dead and respawn phases
    are not touched."""
    stage, st = R.Stage.of("dream_land"), R.new_state()
    f = fighters()
    R.init_state(f, st)
    f[1, R.ACTION], f[1, R.ACTION_FRAME], f[1, R.AIRBORNE] = R.ACT_DEAD, 12, 1
    f[1, R.X], f[1, R.Y], f[1, R.SELF_VY] = 1600, stage.blast_bottom + 64, 0
    out = R.step_rules(stage, 0, f, st)
    assert (f[1, R.ACTION], f[1, R.ACTION_FRAME], f[1, R.AIRBORNE]) == (R.ACT_FALL, 0, 1)
    assert out.fired == R.R_ALIVE and out.interventions == 1 and out.kos == 0 and R.phase(st, 1) == R.PLAY
    f[1, R.ACTION] = R.ACT_RESPAWN
    assert R.step_rules(stage, 1, f, st).fired == R.R_ALIVE and f[1, R.ACTION] == R.ACT_FALL
    f[1, R.Y] = stage.blast_bottom - 1  # it fell on
    out = R.step_rules(stage, 2, f, st)
    assert out.kos == 2 and R.phase(st, 1) == R.DEAD and f[1, R.ACTION] == R.ACT_DEAD  # the rules' own


def test_last_stock_ends_the_game():
    stage, st = R.Stage.of("dream_land"), R.new_state()
    f = fighters((1, 2))
    f[0, R.Y] = stage.blast_top + 1
    out = R.step_rules(stage, 500, f, st)
    assert out.ended and out.winner == 1 and R.end_frame(st) == 500 and R.phase(st, 0) == R.OUT
    before = (f.copy(), bytes(st))
    g = f.copy()
    g[1, R.X] = stage.blast_right + 10  # nothing happens after the end
    out2 = R.step_rules(stage, 501, g, st)
    assert out2.ended and out2.winner == 1 and out2.kos == 0 and bytes(st) == before[1]
    assert g[1, R.STOCKS] == 2


def test_double_last_stock_is_a_tie():
    stage, st = R.Stage.of("yoshis_story"), R.new_state()
    f = fighters((1, 1))
    f[0, R.X], f[1, R.X] = stage.blast_left - 1, stage.blast_right + 1
    out = R.step_rules(stage, 3, f, st)
    assert out.ended and out.winner == 2 and out.kos == 3


@pytest.mark.parametrize("stocks,percent,winner", [((3, 2), (900, 0), 0), ((2, 2), (500, 300), 1),
                                                   ((2, 2), (160, 160), 2)])
def test_timer(stocks, percent, winner):
    stage, st = R.Stage.of("fountain_of_dreams"), R.new_state()
    f = fighters(stocks)
    f[:, R.PERCENT] = percent
    assert not R.step_rules(stage, R.TIME_LIMIT_FRAMES - 2, f.copy(), st).ended
    out = R.step_rules(stage, R.TIME_LIMIT_FRAMES - 1, f.copy(), st)
    assert out.ended and out.winner == winner and R.end_frame(st) == R.TIME_LIMIT_FRAMES - 1


def test_clamps():
    stage, st = R.Stage.of("battlefield"), R.new_state()
    f = fighters()
    R.step_rules(stage, 0, f, st)
    f[0, R.Y], f[0, R.SELF_VY] = -40, -300  # sinking into the stage
    f[0, R.STOCKS] = 2  # the model may not take a stock
    f[1, R.X], f[1, R.AIRBORNE] = stage.edge + 200, 0  # running on air
    out = R.step_rules(stage, 1, f, st)
    assert f[0, R.Y] == 0 and f[0, R.SELF_VY] == 0 and f[0, R.STOCKS] == 4
    assert f[1, R.AIRBORNE] == 1
    assert out.fired == R.R_FLOOR | R.R_STOCKS | R.R_AIRBORNE and out.interventions == 3
    py, lo, hi = stage.platforms[0]
    f[0, R.X], f[0, R.Y], f[0, R.AIRBORNE] = (lo + hi) // 2, py - 20, 0  # standing just under a platform
    f[0, R.PERCENT] = 800
    R.step_rules(stage, 2, f, st)
    assert f[0, R.Y] == py
    f[0, R.PERCENT] = 700  # percent never falls within a stock
    out = R.step_rules(stage, 3, f, st)
    assert f[0, R.PERCENT] == 800 and out.fired & R.R_PERCENT
    assert R.interventions(st) >= 5


def test_zeroed_state_starts_from_the_fighters():
    stage, st = R.Stage.of(32), bytearray(R.RULES_LEN)
    f = fighters((3, 7))  # 7 is outside the model's one-hot: the default 4
    R.step_rules(stage, 0, f, st)
    assert st[0] == R.RULES_VERSION and R.stocks(st, 0) == 3 and R.stocks(st, 1) == 4


def test_stage_and_character_names_and_ids():
    assert S.stage(32).key == "final_destination" and S.stage("Pokémon Stadium").slippi_id == 3
    assert S.stage("battlefield") is S.stage("31") is S.stage("BF")
    assert [s.slippi_id for s in S.STAGES] == [32, 31, 28, 2, 3, 8]
    assert S.character_id("fox") == 2 and S.character_id("Captain Falcon") == 0 and S.character_id(20) == 20
    assert S.CHARACTERS[S.character_id("marth")] == "marth"
    with pytest.raises(ValueError):
        S.stage("hyrule_temple")
    with pytest.raises(ValueError):
        S.character_id(26)
    assert R.stage_by_id(2).platforms == ((684, -228, 228),) and R.stage_by_id(99) is None


def test_stage_assets_agree_with_the_table():
    from game import stage as G

    for s in S.STAGES:
        g = G.load(s.key)
        assert (g.blast_zones.left, g.blast_zones.right, g.blast_zones.top, g.blast_zones.bottom) == s.blast
        assert g.ground.right == pytest.approx(s.edge, abs=1e-3)
        table = sorted((p.y, p.left, p.right) for p in s.platforms)
        drawn = sorted((p.y, p.left, p.right) for p in g.platforms if not p.moving)
        assert np.allclose(drawn, table, atol=0.01) if table else not drawn, s.key


def test_fixture_is_up_to_date(tmp_path):
    """The file the crate's host test replays is what worldmodel/rules.py computes today."""
    out = tmp_path / "v.bin"
    rules_vectors.build().write(out)
    assert out.read_bytes() == rules_vectors.DEFAULT_OUT.read_bytes(), \
        "run: python -m worldmodel.rules_vectors"


def test_falling_onto_the_stage_lands():
    stage, st = R.Stage.of("dream_land"), R.new_state()
    f = fighters()
    f[0, R.Y], f[0, R.SELF_VY], f[0, R.AIRBORNE], f[0, R.ACTION], f[0, R.ACTION_FRAME] = -30, -500, 1, R.ACT_FALL, 9
    f[1, R.X], f[1, R.Y], f[1, R.AIRBORNE], f[1, R.ACTION] = stage.edge + 100, -30, 1, R.ACT_FALL  # off-stage: falls on
    out = R.step_rules(stage, 0, f, st)
    assert (f[0, R.Y], f[0, R.SELF_VY], f[0, R.AIRBORNE], f[0, R.ACTION], f[0, R.ACTION_FRAME]) == \
        (0, 0, 0, R.ACT_LANDING, 0)
    assert (f[1, R.Y], f[1, R.AIRBORNE], f[1, R.ACTION]) == (-30, 1, R.ACT_FALL) and out.fired == R.R_FLOOR


def _turn_frames(f, st, stage, frames, p1_frame, p2_frame=lambda i: 0, p2_facing=None, hitlag=lambda i: 0):
    """Step the rules over `frames` model outputs in which both fighters are in "turn"; the
    model's action frame and facing per frame come from the callables. -> the outcomes."""
    outs = []
    for i in range(frames):
        f[:, R.ACTION] = R.ACT_TURN
        f[0, R.ACTION_FRAME], f[1, R.ACTION_FRAME] = p1_frame(i), p2_frame(i)
        if p2_facing is not None:
            f[1, R.FACING] = p2_facing(i)
        f[:, R.HITLAG] = hitlag(i)
        outs.append(R.step_rules(stage, i, f, st))
    return outs


def test_a_stalled_turn_runs_its_clock_and_turns_by_frame_10():
    """TURN: a model that holds "turn" with its counter stuck at 6 and the facing unchanged (the
    freeze the playtest's bot games stood in until 8:00) gets Melee's turn: the counter steps
    one a frame and on frame TURN_FLIP the fighter faces the other way, then stays so."""
    stage, st = R.Stage.of("final_destination"), R.new_state()
    f = fighters()  # P1 faces right
    R.init_state(f, st)
    outs = _turn_frames(f, st, stage, 8, lambda i: min(i, 6), lambda i: i)
    assert f[0, R.ACTION_FRAME] == 7 and f[0, R.FACING] == 1 and outs[-1].fired == R.R_TURN
    outs = _turn_frames(f, st, stage, 3, lambda i: 6, lambda i: 8 + i)
    assert f[0, R.ACTION_FRAME] == 10 and f[0, R.FACING] == -1 and outs[-1].fired == R.R_TURN
    outs = _turn_frames(f, st, stage, 2, lambda i: 6, lambda i: 11 + i)
    assert f[0, R.ACTION_FRAME] == 12 and f[0, R.FACING] == -1  # the model's facing (+1) is turned again
    assert outs[-1].interventions == 1  # P2 counts on by itself: only P1 is clamped


def test_a_turn_the_model_plays_right_is_left_alone():
    """A turn whose counter steps by one and whose facing the model flips on frame 6 (as
    Melee's slow turn) fires nothing; P2 faced left before it, so it is turned to the right."""
    stage, st = R.Stage.of("battlefield"), R.new_state()
    f = fighters()
    R.init_state(f, st)
    outs = _turn_frames(f, st, stage, 14, lambda i: i, lambda i: i, p2_facing=lambda i: 1 if i >= 6 else -1)
    assert f[1, R.FACING] == 1 and f[0, R.FACING] == -1  # P1 (no flip by the model) turned on frame 10
    assert [o.fired for o in outs[:10]] == [0] * 10
    assert all(not o.fired & R.R_TURN or o.interventions == 1 for o in outs)


def test_a_turn_clock_runs_through_any_hitlag_and_restarts_with_a_new_turn():
    """The model's hitlag output drifts (-2 for frames on end in a bot game): it does not stop
    the turn's clock. A counter the model puts back at 0 after frame 1 starts a new turn."""
    stage, st = R.Stage.of("final_destination"), R.new_state()
    f = fighters()
    R.init_state(f, st)
    _turn_frames(f, st, stage, 5, lambda i: 3, hitlag=lambda i: -2 if i >= 3 else 0)
    assert f[0, R.ACTION_FRAME] == 4 and st[R.TURN_CLOCK] == 4  # 0 (the new category), then 1..4
    _turn_frames(f, st, stage, 1, lambda i: 0)  # the model starts a new turn (0 after 4)
    assert f[0, R.ACTION_FRAME] == 0 and st[R.TURN_CLOCK] == 0
    f[:, R.ACTION], f[:, R.ACTION_FRAME], f[:, R.HITLAG] = 2, 0, 0  # idle: out of the turn
    assert R.step_rules(stage, 9, f, st).fired == 0
    assert st[R.TURN_CLOCK] == 0 and st[R.P_BASE + R.FACINGS] == R.facing_code(int(f[0, R.FACING]))


def test_an_unknown_facing_is_never_turned():
    """A facing field that is neither +1 nor -1 (a corrupt or tampered row) gives the rule no
    side to turn from: it runs the clock and leaves the facing as it is."""
    stage, st = R.Stage.of("final_destination"), R.new_state()
    f = fighters()
    f[0, R.FACING] = 0
    R.init_state(f, st)
    _turn_frames(f, st, stage, 14, lambda i: 0)
    assert f[0, R.FACING] == 0


def test_a_new_action_starts_at_frame_zero():
    """ACTION_FRAME: when the model changes a fighter's action category but keeps counting its
    frames (idle at frame 67 -> smash at 68), the rules restart the count; the same category,
    or a new one the model already put at frame 0 or 1, is left alone. The last category
    carries over in `st`, whatever the phase."""
    stage, st = R.Stage.of("final_destination"), R.new_state()
    f = fighters()
    R.init_state(f, st)
    f[0, R.ACTION_FRAME] = f[1, R.ACTION_FRAME] = 67
    out = R.step_rules(stage, 0, f, st)  # both still idle
    assert f[0, R.ACTION_FRAME] == 67 and not out.fired & R.R_ACTION_FRAME
    smash = 17
    f[0, R.ACTION], f[0, R.ACTION_FRAME] = smash, 68
    f[1, R.ACTION], f[1, R.ACTION_FRAME] = smash, 1
    out = R.step_rules(stage, 1, f, st)
    assert f[0, R.ACTION_FRAME] == 0 and f[1, R.ACTION_FRAME] == 1
    assert out.fired == R.R_ACTION_FRAME and out.interventions == 1
    f[0, R.ACTION_FRAME] = 1
    R.step_rules(stage, 2, f, st)  # still the smash: counting on
    f[0, R.ACTION_FRAME] = 2
    assert not R.step_rules(stage, 3, f, st).fired & R.R_ACTION_FRAME and f[0, R.ACTION_FRAME] == 2
