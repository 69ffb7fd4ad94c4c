"""Slippi replays -> integer arrays (worldmodel.dataset), on two real replays from
slippi-js's test data (tests/fixtures/replays/README.md) and on corrupt files."""
import lzma
import shutil
import warnings

import numpy as np
import pytest

from onchain.sdk.wire import ControllerInput
from worldmodel import cartridge as C
from worldmodel import dataset as ds

FIXTURES = ds.Path(__file__).parents[1] / "fixtures" / "replays"
OLD = FIXTURES / "slippi-js_v2_test.slp.xz"  # Slippi 2.0.1: no velocities, no hitlag
NEW = FIXTURES / "slippi-js_moveTest_id_2_to_21.slp.xz"  # 3.9.0
F = ds.F


@pytest.fixture(scope="module")
def games():
    return {p.name: ds.read_replay(p) for p in (OLD, NEW)}


def test_shapes_units_and_ranges(games):
    for name, g in games.items():
        n = {OLD.name: 3724, NEW.name: 5007}[name]  # frames -123.. end, as in manifest.csv
        assert g.state.shape == (n, 2, C.N_FIELDS) and g.state.dtype == np.int16
        assert g.ctrl.shape == (n, 2, 8) and g.ctrl.dtype == np.int16
        st = g.state.astype(np.int64)
        assert set(np.unique(st[:, :, F["facing"]])) <= {-1, 1}
        assert st[:, :, F["action"]].min() >= 0 and st[:, :, F["action"]].max() < ds.N_ACTIONS
        assert len(np.unique(st[:, :, F["action"]])) >= 10  # fighters do many things
        assert set(np.unique(st[:, :, F["stocks"]])) <= set(range(5))
        assert set(np.unique(st[:, :, F["airborne"]])) == {0, 1}
        # positions in 1/16 unit: players cross the stage (tens of units) but stay in blast zones
        assert 16 * 20 < np.ptp(st[:, :, F["x"]]) and np.abs(st[:, :, F["x"]]).max() < 16 * 300
        # the game starts at 0% with full shields (60 units = 960 sixteenths)
        assert np.all(st[0, :, F["percent"]] == 0) and np.all(st[0, :, F["shield"]] == 960)
        assert st[:, :, F["percent"]].max() > 16 * 10  # someone got hit
    assert not games[OLD.name].has_vel and games[NEW.name].has_vel
    old, new = games[OLD.name].state, games[NEW.name].state
    assert np.all(old[:, :, [F["self_vx"], F["kb_vx"], F["hitlag"]]] == 0)  # absent before 3.5 / 3.8
    assert np.abs(new[:, :, F["self_vx"]]).max() > 256  # > 1 unit/frame somewhere
    assert new[:, :, F["hitlag"]].max() > 0


def test_positions_follow_velocities(games):
    """x[t] - x[t-1] equals the recorded velocity on most airborne frames (units agree)."""
    st = games[NEW.name].state.astype(np.int64)
    dx = np.diff(st[:, :, F["x"]], axis=0) / 16
    v = (st[1:, :, F["self_vx"]] + st[1:, :, F["kb_vx"]]) / 256
    air = (st[1:, :, F["airborne"]] == 1) & (st[:-1, :, F["airborne"]] == 1)
    close = np.abs(dx - v)[air] < 0.1
    assert close.mean() > 0.8, close.mean()


def test_controls_are_valid_controller_inputs(games):
    for g in games.values():
        rows = g.ctrl.reshape(-1, 8).astype(int)
        for row in rows[:: max(1, len(rows) // 500)]:
            ControllerInput(*row[:7]).validate()
        assert np.all(rows[:, 7] == 0)
        assert np.abs(rows[:, :4]).max() > 100  # sticks get pushed to the rim
        assert rows[:, 6].max() > 0  # buttons get pressed


def test_button_mapping():
    phys = np.array([0x0100, 0x0200, 0x0400, 0x0800, 0x0010, 0x0040, 0x0020, 0x1000,
                     0x0008, 0x0004, 0x0001, 0x0002, 0x0100 | 0x0040 | 0x0001, 0x0080])
    want = [1 << i for i in range(12)] + [(1 << 0) | (1 << 5) | (1 << 10), 0]
    assert ds.map_buttons(phys).tolist() == want
    assert ds.stick(np.array([-1.0, -0.5, 0.0, 0.5, 1.0, 1.2])).tolist() == [-127, -64, 0, 64, 127, 127]


def test_rollback_keeps_the_last_row_per_frame():
    ids = np.array([-123, -122, -121, -120, -121, -120, -119, -118, -119, -118, -117])
    keep = ds.last_row_per_frame(ids)
    assert ids[keep].tolist() == list(range(-123, -116))
    assert keep.tolist() == [0, 1, 4, 5, 8, 9, 10]


def test_action_categories():
    assert len(ds.ACTION_CATEGORIES) <= 32
    t = ds.ACTION_TABLE
    assert t[14] == ds.CAT["idle"] and t[20] == ds.CAT["dash_run"] and t[65] == ds.CAT["aerial"]
    assert t[0] == ds.CAT["dead"] and t[179] == ds.CAT["shield"] and t[400] == ds.CAT["special"]


def test_folder_skips_bad_files_with_one_warning_each_and_caches(tmp_path):
    folder = tmp_path / "replays"
    folder.mkdir()
    shutil.copy(OLD, folder)
    shutil.copy(NEW, folder)
    (folder / "garbage.slp").write_bytes(b"not a replay at all" * 10)
    (folder / "truncated.slp.xz").write_bytes(OLD.read_bytes()[:5000])
    with lzma.open(NEW) as f:
        (folder / "cut.slp").write_bytes(f.read()[:20000])
    cache = tmp_path / "cache"
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        games = ds.load_folder(folder, cache)
    bad = sorted(str(x.message).split(": ")[1] for x in w)
    assert bad == ["cut.slp", "garbage.slp", "truncated.slp.xz"], [str(x.message) for x in w]
    assert [g.name for g in games] == [NEW.name, OLD.name]
    assert len(list(cache.glob("*.npz"))) == 2
    with pytest.warns(UserWarning):  # the bad files warn again; the good ones come from the cache
        again = ds.load_folder(folder, cache)
    for a, b in zip(games, again):
        assert np.array_equal(a.state, b.state) and np.array_equal(a.ctrl, b.ctrl)
        assert a.has_vel == b.has_vel


def test_split_is_by_game_and_fixed():
    games = [ds.Game(f"g{i}", np.zeros((3, 2, 16), np.int16), np.zeros((3, 2, 8), np.int16), True)
             for i in range(40)]
    tr, va = ds.split_games(games, 0.1, seed=0)
    assert len(va) == 4 and len(tr) == 36
    assert not {g.name for g in tr} & {g.name for g in va}
    tr2, va2 = ds.split_games(games, 0.1, seed=0)
    assert [g.name for g in va] == [g.name for g in va2]
    assert [g.name for g in ds.split_games(games, 0.1, seed=1)[1]] != [g.name for g in va]


def test_data_stats_counts_every_fighter_frame(games, tmp_path, capsys):
    from worldmodel import data_stats

    games = list(games.values())
    stats = data_stats.count(games)
    assert stats["fighter_frames"] == 2 * sum(len(g) for g in games)
    assert sum(r["fighter_frames"] for r in stats["actions"].values()) == stats["fighter_frames"]
    assert abs(sum(r["share"] for r in stats["actions"].values()) - 1.0) < 1e-3
    assert 0.0 <= stats["airborne_share"] <= 1.0 and sum(stats["stages"].values()) == stats["frames"]
    out = tmp_path / "s.json"
    assert data_stats.main(["--replays", str(FIXTURES), "--cache", str(tmp_path / "c"), "--out", str(out)]) == 0
    assert "| action category |" in capsys.readouterr().out and out.is_file()


def test_hit_odds_tell_a_predictable_hit_from_a_coin_flip():
    """Fighter 1 smashes every 40 frames from 10 units away. In game A fighter 2 is hit on the
    smash's frame 12 every time; in game B, from the same frames, only every other time: the
    cell's rate is 1/2, not over it, so a deterministic decode predicts none of B's hits."""
    from worldmodel import data_stats as D

    def game(every_other: bool) -> ds.Game:
        T = 40 * 30
        st = np.zeros((T, 2, 16), dtype=np.int16)
        st[:, 1, D.X] = 160
        for k, t0 in enumerate(range(0, T, 40)):  # 30 smashes
            st[t0:t0 + 30, 0, D.ACTION] = ds.CAT["smash"]
            st[t0:t0 + 30, 0, D.ACTION_FRAME] = np.arange(30)
            if not every_other or k % 2 == 0:
                st[t0 + 13:, 1, D.PERCENT] += 16 * 14  # 14 % from the smash, on the next frame
        return ds.Game("g", st, np.zeros((T, 2, 8), np.int16), True, 32, (2, 9))

    sure, coin = D.hit_odds([game(False)]), D.hit_odds([game(True)])
    assert sure["hits"] == 30 and sure["hits_where_rate_over_half"] == 30 and sure["max_rate"] == 1.0
    assert coin["hits"] == 15 and coin["hits_where_rate_over_half"] == 0 and coin["hits_where_rate_over_quarter"] == 15


def test_x_steps_and_slow_turns_by_hand():
    """data_stats.x_steps counts |dx| per frame, grounded and airborne apart; slow_turns finds a
    turn of 11 frames whose facing flips on its frame 6, and leaves a 1-frame dash-back alone."""
    from worldmodel import data_stats as D

    T = 40
    st = np.zeros((T, 2, 16), dtype=np.int16)
    st[:, :, D.FACING] = -1
    st[:, 0, D.X] = np.arange(T) * 2  # P1 walks 2 state units a frame, grounded
    st[20:, 1, D.AIRBORNE] = 1  # P2 in the air from frame 20, not moving
    st[5:16, 1, D.ACTION] = ds.CAT["turn"]  # P2: an 11-frame turn, facing flips on its frame 6
    st[11:, 1, D.FACING] = 1
    st[30, 0, D.ACTION] = ds.CAT["turn"]  # P1: a 1-frame turn
    g = ds.Game("t", st, np.zeros((T, 2, 8), np.int16), True)
    xs = D.x_steps([g])
    assert xs["grounded"]["fighter_frames"] == 39 + 19 and xs["airborne"]["fighter_frames"] == 20
    assert xs["grounded"]["share"]["2"] == round(39 / 58, 5) and xs["grounded"]["share"]["0"] == round(19 / 58, 5)
    assert xs["airborne"]["share"]["0"] == 1.0
    tu = D.slow_turns([g])
    assert tu["runs"] == 1 and tu["flip_frame"] == {6: 1} and tu["length"] == {11: 1}
    # every facing flip counts, of any action: P2's one, over 2 x 39 fighter-frames
    assert tu["facing_flips"] == 1 and tu["facing_flip_share"] == round(1 / 78, 5)


def test_turn_clock_by_hand():
    """data_stats.turn_clock: steps within a turn that count by one (a new turn at a counter
    back to 0 is not a step), and the turns reaching rules.TURN_FLIP that faced the other way."""
    from worldmodel import data_stats as D
    from worldmodel import rules as R

    T = 40
    st = np.zeros((T, 2, 16), dtype=np.int16)
    st[:, :, D.FACING] = 1
    st[5:17, 0, D.ACTION] = ds.CAT["turn"]  # P1: 12 frames, counter 0..11 but stuck on 3 twice
    st[5:17, 0, D.ACTION_FRAME] = [0, 1, 2, 3, 3, 3, 4, 5, 6, 7, 8, 9]
    st[11:, 0, D.FACING] = -1  # turned on its frame 4 (the counter read 4 there)
    st[20:34, 1, D.ACTION] = ds.CAT["turn"]  # P2: a turn 0..5, then a new one 0..7 that stays
    st[20:34, 1, D.ACTION_FRAME] = [0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5, 6, 7]
    g = ds.Game("t", st, np.zeros((T, 2, 8), np.int16), True)
    tc = D.turn_clock([g])
    assert tc["steps"] == 11 + 12 and tc["steps_by_one"] == 9 + 12
    assert tc["flip_frame"] == R.TURN_FLIP and tc["turns_reaching_flip_frame"] == 0
    st[17:20, 0, D.ACTION] = ds.CAT["turn"]  # P1's turn goes on to frame 12
    st[17:20, 0, D.ACTION_FRAME] = [10, 11, 12]
    tc = D.turn_clock([ds.Game("t", st, np.zeros((T, 2, 8), np.int16), True)])
    assert tc["turns_reaching_flip_frame"] == 1 and tc["flipped_by_then"] == 1


def test_tilt_turns_by_hand():
    """data_stats.tilt_turns: P1 stands facing P2 (right) and tilts the stick left at 50 from
    frame 10 (turns on frame 15); at frame 30 it tilts right, against its new facing, and does
    not turn (it faces away from P2 then). A full tilt and a fighter in the air do not count."""
    from worldmodel import data_stats as D

    T = 60
    st = np.zeros((T, 2, 16), dtype=np.int16)
    st[:, 0, D.X], st[:, 1, D.X] = -640, 640
    st[:, 0, D.FACING], st[:, 1, D.FACING] = 1, -1
    st[:, :, D.ACTION] = ds.CAT["idle"]
    st[15:, 0, D.FACING] = -1
    ctrl = np.zeros((T, 2, 8), np.int16)
    ctrl[10:20, 0, 0] = -50
    ctrl[30:35, 0, 0] = 50
    ctrl[40:45, 1, 0] = 127  # P2: a full tilt, not a half one
    st[48:, 1, D.AIRBORNE] = 1
    ctrl[50:55, 1, 0] = 50  # in the air
    tt = D.tilt_turns([ds.Game("t", st, ctrl, True)])
    assert tt["facing_the_other"] == {"onsets": 1, "turned": 1, "share": 1.0}
    assert tt["facing_away"] == {"onsets": 1, "turned": 0, "share": 0.0}
