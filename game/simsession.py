"""backend.kind = sim: a local game without a chain, on worldmodel.sim.Simulator (the integer
reference, bit-exact with the program, then the rules layer). It shows the rules (KOs, respawn,
stocks, timer, results) before the program runs them; the views it returns are SessionViews
like the chain's, plus the rules block and the match, so the loop and renderer do not care."""
from __future__ import annotations

import time

from solders.pubkey import Pubkey

from onchain.sdk.wire import STATUS_ACTIVE, STATUS_ENDED, SessionView

from .match import Match
from .session import Session, TickResult


class SimBackend:
    name = "sim (integer reference + rules, no chain)"

    def close(self) -> None:
        pass


class SimSession(Session):
    local_players = (0, 1)

    def __init__(self, cartridge, match: Match, session_id: int = 1, start_state=None):
        self.backend, self.cartridge, self._match = SimBackend(), cartridge, match
        self.session_id, self.start_state = session_id, start_state
        self.sim = None

    def start(self) -> None:
        from worldmodel.sim import Simulator
        self.sim = Simulator(self.cartridge, self._match.stage, self._match.characters, start_state=self.start_state,
                             session_id=self.session_id)  # a sampled-hit model draws as this session would

    def tick(self, ctrls) -> TickResult:
        if self.sim.last is not None and self.sim.last.ended:
            return TickResult(False, error="game over")
        t0 = time.perf_counter()
        self.sim.step(ctrls[0], ctrls[1])
        return TickResult(True, None, (time.perf_counter() - t0) * 1000)

    def view(self) -> SessionView | None:
        if self.sim is None:
            return None
        ended = self.sim.last is not None and self.sim.last.ended
        fighters = tuple(tuple(int(v) for v in row) for row in self.sim.state)
        return SessionView(self.session_id, 0, STATUS_ENDED if ended else STATUS_ACTIVE, self.sim.frame,
                           (Pubkey.default(), Pubkey.default()), (self.sim.frame, self.sim.frame), 0,
                           (fighters[0], fighters[1]))

    def rules(self) -> bytes | None:
        return bytes(self.sim.rules_state) if self.sim is not None else None

    def match(self) -> Match | None:
        return self._match

    def kos(self) -> list[int]:
        return list(self.sim.ko_count) if self.sim is not None else [0, 0]

    def restart(self) -> None:
        self.session_id += 1
        self.sim.reset()
