"""worldmodel.turns: the held-out slow turns it finds and the frame a model's facing flips on,
teacher-forced and in closed loop, through a real cartridge (BatchRef)."""
import dataclasses

import numpy as np

from worldmodel import cartridge as C
from worldmodel import dataset as ds
from worldmodel import randmodel
from worldmodel import turns as TU
from worldmodel.intbatch import BatchRef


def turning_game(before: int) -> ds.Game:
    """P2 stands facing `before`, then turns for 11 frames from frame 150, flipping on turn frame 5."""
    T = 200
    st = np.zeros((T, 2, 16), dtype=np.int16)
    st[:, :, TU.FACING] = before
    st[150:161, 1, TU.ACTION] = ds.CAT["turn"]
    st[155:, 1, TU.FACING] = -before
    st[:, 0, TU.ACTION] = ds.CAT["idle"]
    return ds.Game("t", st, np.zeros((T, 2, 8), np.int16), True, 31, (2, 9))


def test_finds_the_slow_turn_and_scores_a_model_that_always_faces_right():
    games = [turning_game(-1), turning_game(1)]
    turns = TU.find_turns(games, 10)
    assert turns == [(0, 1, 150, 5), (1, 1, 150, 5)]
    # a head of zeros decodes the facing as +1 (sign of 0) whatever it is fed: facing left
    # before the turn it "flips" on the turn's first frame, facing right it never does
    cart = randmodel.random_cartridge(C.Preset("custom", 32, 64, 8, 16, 2), 3)
    cart = dataclasses.replace(cart, head=dataclasses.replace(cart.head, w=np.zeros_like(cart.head.w),
                                                              bias=np.zeros_like(cart.head.bias)))
    for closed in (False, True):
        flips = TU.flip_frames(BatchRef(cart), games, turns, closed)
        assert flips.tolist() == [0, -1], closed
    s = TU.score(np.array([0, -1, 6, 5]), np.array([5, 5, 5, 5]))
    assert s == {"flipped": 0.75, "on_the_frame": 0.25, "within_1": 0.5}
