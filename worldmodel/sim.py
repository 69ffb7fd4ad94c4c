"""Closed-loop stepping: the integer reference (bit-exact with the program) plus Melee's rules.

    from worldmodel.sim import Simulator
    sim = Simulator("assets/models/tiny-wide-v1", stage="final_destination", characters=("fox", "marth"))
    frame = sim.step(ctrl_p1, ctrl_p2)        # onchain.sdk.wire.ControllerInput (or None: neutral)
    frame.players[0].x, .y, .percent, .stocks, .airborne, .action   # game units, category name
    frame.ended, frame.winner                 # winner: 0 / 1 (player index), None (tie or running)

Each step is what run_inference does for one frame: the model (worldmodel.intbatch, identical
to worldmodel.intref.step) predicts the next state from the previous one and both controllers,
then worldmodel.rules.step_rules applies the rules to it. Stepping an ended game raises
GameEnded, as the program rejects it.

Session context (stage, characters) reaches the model when the cartridge says so
(`cartridge.CONTEXT_ONEHOT` in its manifest's context byte: one-hot features after the
controllers; `CONTEXT_RELATIVE`: the fighters' distance and heights above the stage's ground; fed
in `_model_input` as run_inference feeds them from SessionState), as the
default `tiny-wide-v1` does; for `micro-v2`, which is not fed it, the stage only reaches the rules.

    python -m worldmodel.sim [--model DIR] --stage battlefield --characters fox,marth \
        --script demo --frames 3600 [--json]
prints KOs, stocks, the winner and the rule interventions per 10,000 frames.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

from . import cartridge as C
from . import rules as R
from . import stages as S
from .dataset import ACTION_CATEGORIES
from .intbatch import BatchRef


class GameEnded(RuntimeError):
    """step() on a game that is over (the program rejects run_inference the same way)."""


@dataclasses.dataclass(frozen=True)
class PlayerFrame:
    x: float  # game units
    y: float
    percent: float
    stocks: int
    airborne: bool
    action: str  # action category name (worldmodel.dataset.ACTION_CATEGORIES)
    action_id: int
    facing: int
    phase: str  # rules phase: play, dead, descent, wait, invuln, out
    character: str
    fields: tuple[int, ...]  # the 16 raw i16 fields


@dataclasses.dataclass(frozen=True)
class Frame:
    frame: int  # the frame just computed (0-based)
    players: tuple[PlayerFrame, PlayerFrame]
    ended: bool
    winner: int | None  # 0 or 1 when a player won; None while running or on a tie
    tie: bool
    kos: tuple[bool, bool]  # KO'd on this frame
    interventions: int  # rule clamps that changed a value this frame
    timer_frames_left: int


IDLE_ACTION = 2  # "idle" in worldmodel.dataset.ACTION_CATEGORIES (0 is "dead")


def default_start_state(stocks: int = R.DEFAULT_STOCKS) -> np.ndarray:
    """Both fighters idle on the ground 40 units either side of the centre, facing each other,
    full shield (units of worldmodel.cartridge.FIELDS): how every session and scenario starts
    (the chain SDK's onchain.backends.embedded.default_start_state is this one)."""
    s = np.zeros((2, C.N_FIELDS), np.int16)
    for p, (x, facing) in enumerate(((-40 * 16, 1), (40 * 16, -1))):
        s[p, R.X], s[p, R.FACING], s[p, R.STOCKS] = x, facing, stocks
        s[p, R.SHIELD], s[p, R.JUMPS_LEFT], s[p, R.ACTION] = R.SHIELD_FULL, 2, IDLE_ACTION
    return s


def controller_row(c) -> list[int]:
    if c is None:
        return [0] * 8
    if hasattr(c, "as_row"):
        return list(c.as_row())
    row = [int(v) for v in c]
    return (row + [0] * 8)[:8]


class Simulator:
    def __init__(self, model_dir, stage="final_destination", characters=("fox", "fox"), stocks: int = 4,
                 start_state: np.ndarray | None = None, session_id: int = 0):
        self.cart = model_dir if isinstance(model_dir, C.Cartridge) else C.load(Path(model_dir))
        self.stage_data = S.stage(stage)
        self.stage = R.Stage.of(self.stage_data.slippi_id)
        if len(characters) != 2:
            raise ValueError("characters: two, one per player")
        self.character_ids = tuple(S.character_id(c) for c in characters)
        self.characters = tuple(S.CHARACTERS[i] for i in self.character_ids)
        if not 1 <= stocks <= R.MAX_STOCKS:
            raise ValueError(f"stocks: 1..{R.MAX_STOCKS}")
        self.ref = BatchRef(self.cart)
        self.session_id = session_id  # seeds a sampled-hit model's draws, as the session's id on-chain
        self._start = (start_state if start_state is not None else default_start_state(stocks)).astype(np.int16)
        self.reset()

    def reset(self) -> None:
        self.state = self._start.copy()
        self.hidden = self.ref.new_hidden(1)
        self.rules_state = R.new_state()
        R.init_state(self.state, self.rules_state)
        self.frame = 0  # the next frame to compute
        self.last: Frame | None = None
        self.ko_count = [0, 0]
        self.fired_count = {name: 0 for name in R.RULE_NAMES}

    def _model_input(self, state: np.ndarray, ctrl: np.ndarray):
        """The model's inputs for one frame: fighters, controllers and the session's context
        (stage, characters; used only by a cartridge that feeds it)."""
        context = np.array([[self.stage_data.slippi_id, *self.character_ids]], dtype=np.int64)
        return state[None], ctrl[None], context

    def step(self, ctrl_p1=None, ctrl_p2=None) -> Frame:
        if self.last is not None and self.last.ended:
            raise GameEnded(f"the game ended on frame {self.last.frame}")
        ctrl = np.array([controller_row(ctrl_p1), controller_row(ctrl_p2)], dtype=np.int64)
        s, c, cx = self._model_input(self.state, ctrl)
        draw = np.array([C.hit_draws(self.session_id, self.frame)])
        nxt, _, self.hidden = self.ref.step(s, c, self.hidden, cx, draw)
        fighters = nxt[0].astype(np.int16).copy()
        out = R.step_rules(self.stage, self.frame, fighters, self.rules_state)
        self.state = fighters
        for p in range(2):
            self.ko_count[p] += out.kos >> p & 1
        for i, name in enumerate(R.RULE_NAMES):
            # fired bits are per frame (either player); count frames a rule changed something
            self.fired_count[name] += out.fired >> i & 1
        self.last = self._frame(out)
        self.frame += 1
        return self.last

    def _frame(self, out: R.Outcome) -> Frame:
        players = []
        for p in range(2):
            f = [int(v) for v in self.state[p]]
            a = f[R.ACTION]
            players.append(PlayerFrame(
                x=f[R.X] / S.POS_SCALE, y=f[R.Y] / S.POS_SCALE, percent=f[R.PERCENT] / 16, stocks=f[R.STOCKS],
                airborne=f[R.AIRBORNE] != 0, action=ACTION_CATEGORIES[a] if 0 <= a < len(ACTION_CATEGORIES) else str(a),
                action_id=a, facing=-1 if f[R.FACING] < 0 else 1,
                phase=R.PHASE_NAMES[min(R.phase(self.rules_state, p), len(R.PHASE_NAMES) - 1)],
                character=self.characters[p], fields=tuple(f)))
        winner = out.winner if out.ended and out.winner < 2 else None
        return Frame(self.frame, (players[0], players[1]), out.ended, winner, out.ended and out.winner == 2,
                     (bool(out.kos & 1), bool(out.kos & 2)), out.interventions,
                     max(R.TIME_LIMIT_FRAMES - 1 - self.frame, 0))

    def stats(self) -> dict:
        n = self.frame
        total = R.interventions(self.rules_state)
        return {
            "stage": self.stage_data.key, "characters": list(self.characters), "frames": n,
            "kos": list(self.ko_count), "stocks": [int(v) for v in self.state[:, R.STOCKS]],
            "ended": bool(self.last and self.last.ended), "end_frame": R.end_frame(self.rules_state),
            "winner": None if not (self.last and self.last.ended) else
            ("tie" if self.last.tie else f"p{self.last.winner + 1}"),
            "interventions": total,
            "interventions_per_10k_frames": round(total * 10_000 / n, 1) if n else None,
            "frames_with_rule_per_10k": {k: round(v * 10_000 / n, 1) for k, v in self.fired_count.items()} if n else {},
        }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="model directory (default: the shipped default, assets/models/DEFAULT)")
    ap.add_argument("--stage", default="final_destination")
    ap.add_argument("--characters", default="fox,fox")
    ap.add_argument("--script", default="demo", help="worldmodel.scripts name: demo, idle, random, ko")
    ap.add_argument("--frames", type=int, default=3600)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    from . import scripts

    script = scripts.get(args.script)
    model = args.model or next(iter(C.shipped_models()), None)
    if model is None:
        ap.error("no model shipped in assets/models/: pass --model DIR")
    sim = Simulator(model, args.stage, tuple(args.characters.split(",")))
    for t in range(args.frames):
        c1, c2 = script(t)
        if sim.step(c1, c2).ended:
            break
    st = sim.stats()
    if args.json:
        print(json.dumps(st))
    else:
        for k, v in st.items():
            print(f"{k}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())


class FrameRef:
    """One run_inference frame of a created session in the reference: the model
    (worldmodel.intref.step), then the rules of `stage` (create_session's default: Final
    Destination), their state started from the session's start fighters as create_session starts
    it; the model is fed the stage and `characters` (create_session's default: Fox, Fox) when
    the cartridge takes them. For tests that step the reference beside the program frame by frame."""

    def __init__(self, cart, start_state, stage=32, characters=(2, 2), session_id: int = 0):
        from . import intref
        self._step, self.cart, self.stage = intref.step, cart, R.Stage.of(stage)
        self.context = (stage, *characters)
        self.session_id = session_id
        self.rules_state = R.new_state()
        R.init_state(np.asarray(start_state, dtype=np.int16), self.rules_state)
        self.frame = 0

    def step(self, state, ctrl, hidden):
        """(state, ctrl, hidden) -> (next state after the rules, model outputs, hidden)."""
        nxt, out, hidden = self._step(self.cart, state, ctrl, hidden, self.context,
                                      C.hit_draws(self.session_id, self.frame))
        fighters = np.asarray(nxt, dtype=np.int16).copy()
        R.step_rules(self.stage, self.frame, fighters, self.rules_state)
        self.frame += 1
        return fighters, out, hidden
