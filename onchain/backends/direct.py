"""A model and one session placed directly into LiteSVM (no upload or session
instructions), for bit-exact tests and benchmarks of `run_inference`."""
from __future__ import annotations

import numpy as np

from worldmodel import cartridge as C

from onchain.sdk import accounts as A
from onchain.sdk import instructions as I
from onchain.sdk import pda
from onchain.sdk import steps
from onchain.backends.svm import ProgramVM, TxResult


class DirectSession:
    def __init__(self, vm: ProgramVM, cart: C.Cartridge, fighters: np.ndarray,
                 model_id: int = 1, session_id: int = 1, stage: int = A.NO_STAGE, frame: int = 0):
        """`stage` NO_STAGE: run_inference runs the model alone (what worldmodel.intref.step
        computes); a Slippi stage id adds the rules, as in every created session. `frame`: the
        session's first frame (a session placed late in a game, e.g. near the 8:00 timer)."""
        self.vm, self.cart = vm, cart
        p = cart.preset
        self.shape = (p.n_layers, p.d_inner, p.d_state)
        weights = cart.weights_bytes()  # in cart.weight_layout
        pid = vm.program_id
        # Each account at its PDA with its bump: the program checks addresses against seeds.
        self.manifest = vm.put(A.manifest_account(model_id, bytes(32), cart.manifest_bytes(weights),
                                                  bump=pda.manifest_bump(pid, model_id)),
                               key=pda.manifest(pid, model_id))
        self.weights = [vm.put(A.weights_account(model_id, shard, len(weights), k, pda.weights_bump(pid, model_id, k)),
                               key=pda.weights(pid, model_id, k))
                        for k, shard in enumerate(C.shards(weights))]
        bumps = pda.session_bumps(pid, session_id)
        s, h, i = pda.session_accounts(pid, session_id)
        # The VM's payer sends every crank: it is the session's crank key.
        self.session = vm.put(A.session_account(session_id, model_id, frame, fighters, bumps=bumps,
                                                crank_key=bytes(vm.payer.pubkey()), stage=stage), key=s)
        self.hidden = vm.put(A.hidden_account(session_id, model_id, frame, p, np.zeros(self.shape, np.int32)), key=h)
        self.input = vm.put(A.input_account(session_id, np.zeros((2, 8), np.int64), bump=bumps[2]), key=i)
        self.input_bump = bumps[2]
        self.session_id = session_id
        self.steps = steps.steps_per_frame(p, cart.weight_layout)

    def set_controls(self, ctrl: np.ndarray) -> None:
        """Both controllers, submitted for the current frame (so they are in force)."""
        f = self.frame()
        self.vm.put(A.input_account(self.session_id, ctrl, (f, f), bump=self.input_bump), key=self.input)

    def run_ix(self, frame: int, step_count: int = I.ALL_STEPS):
        return I.run_inference(self.vm.program_id, self.vm.payer.pubkey(), self.session, self.hidden, self.input,
                               self.manifest, self.weights, frame, step_count)

    def step(self, plan: list[int]) -> list[TxResult]:
        """One frame as transactions of plan[i] steps each (sum(plan) == steps per frame);
        stops at the first failure."""
        assert sum(plan) == self.steps, (sum(plan), self.steps)
        frame = self.frame()
        results = []
        for count in plan:
            res = self.vm.send(self.run_ix(frame, count))
            results.append(res)
            if not res.ok:
                break
        return results

    def frame(self) -> int:
        return A.session_frame(self.vm.data(self.session))

    def fighters(self) -> np.ndarray:
        return A.session_fighters(self.vm.data(self.session))

    def hidden_state(self) -> np.ndarray:
        return A.hidden_state(self.vm.data(self.hidden), self.cart.preset)

    def next_step(self) -> int:
        return A.hidden_next_step(self.vm.data(self.hidden))
