"""worldmodel.landings: the held-out landings it finds and how a model lands on them,
teacher-forced and in closed loop, through a real cartridge (BatchRef)."""
import dataclasses

import numpy as np

from worldmodel import cartridge as C
from worldmodel import dataset as ds
from worldmodel import landings as LA
from worldmodel import randmodel
from worldmodel.intbatch import BatchRef


def falling_game(last_height: float) -> ds.Game:
    """P2 falls 8, 6, 4, 2 units, then `last_height`, and lands at y 0 on frame 150 (x 0)."""
    T = 200
    st = np.zeros((T, 2, 16), dtype=np.int16)
    st[:, :, LA.ACTION] = ds.CAT["idle"]
    st[:150, 1, LA.AIRBORNE] = 1
    st[:145, 1, LA.Y] = 10 * 16
    st[145:150, 1, LA.Y] = np.array([8, 6, 4, 2, last_height]) * 16
    st[151:153, 1, LA.ACTION] = ds.CAT["dead"]  # a later "landing" (frame 152) in a death is none
    st[151, 1, LA.AIRBORNE] = 1
    return ds.Game("f", st, np.zeros((T, 2, 8), np.int16), True, 31, (2, 9))


def test_finds_the_landings_and_scores_a_model_that_never_moves():
    games = [falling_game(2), falling_game(0.5)]
    assert LA.find_landings(games, 10) == [(0, 1, 150), (1, 1, 150)]
    assert LA.find_landings(games, 1) == [(0, 1, 150)]
    # a head of zeros: every delta 0 (y stays what it was fed), airborne the argmax of equal
    # logits, 0: grounded on every frame
    cart = randmodel.random_cartridge(C.Preset("custom", 32, 64, 8, 16, 2), 3)
    cart = dataclasses.replace(cart, head=dataclasses.replace(cart.head, w=np.zeros_like(cart.head.w),
                                                              bias=np.zeros_like(cart.head.bias)))
    landings = LA.find_landings(games, 10)
    tf = LA.score_teacher_forced(LA.play(BatchRef(cart), games, landings, False), games, landings)
    # fed the frame before the landing (2 units up; 0.5 units up): grounded both, y within 1 unit once
    assert tf["grounded"] == 1.0 and tf["y_within_1"] == 0.5 and tf["both"] == 0.5
    assert tf["y_error_mean"] == 1.25  # (2 + 0.5) / 2
    # closed loop from 4 frames before (fed frame 146: 6 units up), it says grounded on its first
    # own frame, 6 units above the stage: landed, not on a surface
    cl = LA.score_closed_loop(LA.play(BatchRef(cart), games, landings, True), games, landings)
    assert cl == {"landed": 1.0, "on_surface_1": 0.0, "gap_median": 6.0}
