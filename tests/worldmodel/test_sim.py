"""worldmodel.sim.Simulator: the model (integer reference) then the rules, one frame per step."""
from pathlib import Path

import numpy as np
import pytest

from onchain.sdk.wire import ControllerInput
from worldmodel import cartridge as C
from worldmodel import intref
from worldmodel import rules as R
from worldmodel.sim import GameEnded, Simulator, default_start_state

MODEL = Path(__file__).resolve().parents[2] / "assets" / "models" / "micro-v2"


def test_each_step_is_intref_then_rules():
    cart = C.load(MODEL)
    sim = Simulator(cart, stage="battlefield", characters=("fox", "marth"))
    state, hidden, st = default_start_state(), intref.new_hidden(cart), R.new_state()
    stage = R.Stage.of("battlefield")
    rng = np.random.default_rng(1)
    for t in range(40):
        c = [ControllerInput(*(int(v) for v in rng.integers(-127, 128, 4)), 0, 0, int(rng.integers(0, 1 << 12)))
             for _ in range(2)]
        frame = sim.step(*c)
        ctrl = np.array([x.as_row() for x in c], dtype=np.int64)
        state, _, hidden = intref.step(cart, state, ctrl, hidden)
        R.step_rules(stage, t, state, st)
        assert frame.frame == t and np.array_equal(sim.state, state) and bytes(sim.rules_state) == bytes(st)
        assert frame.players[0].x == state[0, R.X] / 16 and frame.players[1].stocks == state[1, R.STOCKS]


def test_names_and_ids_ko_and_game_end():
    start = default_start_state(stocks=1)
    start[0, R.X] = (246 + 60) * 16  # already far past Final Destination's right blast zone
    sim = Simulator(MODEL, stage=32, characters=(2, "Marth"), stocks=1, start_state=start)
    assert sim.stage_data.key == "final_destination" and sim.characters == ("fox", "marth")
    frame = sim.step(None, None)
    assert frame.kos == (True, False) and frame.players[0].stocks == 0 and frame.players[0].action == "dead"
    assert frame.ended and frame.winner == 1 and not frame.tie
    assert sim.stats()["winner"] == "p2" and sim.stats()["end_frame"] == 0
    with pytest.raises(GameEnded):
        sim.step(None, None)


def test_unknown_stage_or_character_is_refused():
    with pytest.raises(ValueError):
        Simulator(MODEL, stage="corneria")
    with pytest.raises(ValueError):
        Simulator(MODEL, characters=("fox", "waluigi"))
