"""Many closed-loop games stepped together: what worldmodel.sim.Simulator does for one game
(the integer model, then worldmodel.rules.step_rules), for a batch, so the playtest's
scenarios on every stage and its replay games share one BatchRef call per frame.

`Games.step` returns the model's raw output (before the rules) beside the state after the
rules, since the playtest measures both. tests/worldmodel/test_playtest.py checks that one game here
equals the Simulator frame by frame.
"""
from __future__ import annotations

import numpy as np

from .. import cartridge as C
from .. import rules as R
from .. import stages as S
from ..intbatch import BatchRef


class Games:
    """n independent games. stage[i]: a stage name or Slippi id; start[i]: (2, 16) fighters;
    context[i]: (stage id, character 1, character 2); clock[i] False freezes the frame count
    the rules see just before 8:00, so a long scripted run is not ended by the timer;
    sessions[i]: the session id a sampled-hit model draws its hits from (default: i).
    `cart`: a Cartridge (played by BatchRef, = the program), or a stepper with BatchRef's
    new_hidden/step (worldmodel.floatbatch.FloatRef: the float twin)."""

    def __init__(self, cart, stages, starts, contexts, clocks, sessions=None):
        self.ref = cart if hasattr(cart, "step") else BatchRef(cart)
        self.n = len(stages)
        self.stage = [R.Stage.of(s) for s in stages]
        self.stage_data = [S.stage(s) for s in stages]
        self.state = np.stack([np.asarray(s, np.int16) for s in starts]).astype(np.int16)
        self.cx = np.asarray(contexts, dtype=np.int64).reshape(self.n, 3)
        self.clock = list(clocks)
        self.hidden = self.ref.new_hidden(self.n)
        self.rules = []
        for i in range(self.n):
            st = R.new_state()
            R.init_state(self.state[i], st)
            self.rules.append(st)
        self.frame = np.zeros(self.n, dtype=np.int64)  # the next frame each game computes
        self.session = np.arange(self.n, dtype=np.int64) if sessions is None else np.asarray(sessions, np.int64)
        if len(self.session) != self.n:
            raise ValueError(f"{len(self.session)} session ids for {self.n} games")

    def phases(self, i: int) -> tuple[int, int]:
        return R.phase(self.rules[i], 0), R.phase(self.rules[i], 1)

    def step(self, idx, ctrl):
        """Advance games `idx` (array of indices) one frame with ctrl (len(idx), 2, 8).
        -> raw model output (k, 2, 16), state after the rules (k, 2, 16), [rules.Outcome]."""
        idx = np.asarray(idx, dtype=np.int64)
        # a sampled-hit model draws per game, as the program does per session
        draw = C.hit_draw_array(self.session[idx], self.frame[idx])
        nxt, _, hid = self.ref.step(self.state[idx], np.asarray(ctrl, np.int64), self.hidden[idx], self.cx[idx], draw)
        self.hidden[idx] = hid
        raw = nxt.copy()
        outs = []
        for j, g in enumerate(idx):
            fr = int(self.frame[g]) if self.clock[g] else min(int(self.frame[g]), R.TIME_LIMIT_FRAMES - 2)
            outs.append(R.step_rules(self.stage[g], fr, nxt[j], self.rules[g]))
        self.state[idx] = nxt
        self.frame[idx] += 1
        return raw, nxt, outs
