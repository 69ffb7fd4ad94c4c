"""Does the model turn? Its facing on the held-out games' slow turns, teacher-forced and in
closed loop, against the replay's.

    python -m worldmodel.turns --model DIR --replays DIR [--events 64] [--json]

A slow turn (the turn action data_stats.SLOW_TURN frames or more: a walk's turn) flips the
facing on its frame 5 or 7 within one action category (`python -m worldmodel.data_stats`), so
a model that learnt "facing = the facing it was fed" scores well on every other frame and never
turns at a half tilt (playtest `turn_walk_out`). For each held-out slow turn whose facing flips
on frames 4-8, both ways run the model (INT8 cartridge, and the float twin) over WARMUP frames of
the replay before the turn and then the turn's first FRAMES frames with the replay's inputs:

- teacher-forced: every frame fed the replay's state; the model's flip frame is the first on
  which its predicted facing differs from the facing before the turn. A model that copies its
  input flips one frame after the replay;
- closed loop from the turn's first frame: fed the replay's first frame of the turn, then its
  own states.

Reports per way the share of turns it flipped at all, on the replay's frame, and within one
frame of it.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from . import cartridge as C
from . import dataset as ds
from . import probe
from .data_stats import turn_runs

ACTION, FACING = C.FIELDS.index("action"), C.FIELDS.index("facing")
WARMUP, FRAMES = 120, 14  # frames of replay before the turn; frames of the turn played


def find_turns(games: list[ds.Game], limit: int) -> list[tuple[int, int, int, int]]:
    """-> [(game index, player, first frame of the turn, frame of the turn its facing flips)]."""
    found = []
    for gi, g in enumerate(games):
        for p in range(2):
            for s, _, k in turn_runs(g, p):
                if s >= WARMUP and s + FRAMES + 1 < len(g) and 4 <= k <= 8:
                    found.append((gi, p, s, k))
                if len(found) >= limit:
                    return found
    return found


def flip_frames(ref, games, turns, closed_loop: bool) -> np.ndarray:
    """-> (n,) the turn frame on which the model's facing first differs from the facing before
    the turn (-1: never within FRAMES). ref: BatchRef or FloatRef."""
    n = len(turns)
    hidden = ref.new_hidden(n)
    context = np.stack([games[gi].context() for gi, *_ in turns])
    session = np.arange(n)
    before = np.array([games[gi].state[s - 1, p, FACING] for gi, p, s, _ in turns])
    player = np.array([p for _, p, _, _ in turns])
    flip = np.full(n, -1)
    state = np.stack([games[gi].state[s - WARMUP] for gi, _, s, _ in turns])
    for t in range(-WARMUP, FRAMES):  # computes the state of turn frame t + 1
        ctrl = np.stack([games[gi].ctrl[s + t + 1] for gi, _, s, _ in turns]).astype(np.int64)
        draw = C.hit_draw_array(session, np.full(n, t + WARMUP))
        nxt, _, hidden = ref.step(state, ctrl, hidden, context, draw)
        if t + 1 >= 0:
            turned = (nxt[np.arange(n), player, FACING] != before) & (flip < 0)
            flip[turned] = t + 1
        if closed_loop and t >= 0:  # the turn's first frame is the replay's, the rest its own
            state = nxt
        else:
            state = np.stack([games[gi].state[s + t + 1] for gi, _, s, _ in turns])
    return flip


def score(flip: np.ndarray, true: np.ndarray) -> dict:
    return {"flipped": round(float((flip >= 0).mean()), 3), "on_the_frame": round(float((flip == true).mean()), 3),
            "within_1": round(float(((flip >= 0) & (np.abs(flip - true) <= 1)).mean()), 3)}


def run(model_dir: Path, replays, events: int, cache) -> dict:
    from .playtest.replays import held_out

    games = held_out(replays, model_dir, False, cache)
    turns = find_turns(games, events)
    if not turns:
        raise SystemExit(f"no slow turns in the held-out games of {replays}")
    true = np.array([k for *_, k in turns])
    refs = probe.refs(model_dir)
    rep = {"model": model_dir.name, "turns": len(turns), "replay_flip_frame": dict(sorted(
        {int(k): int(v) for k, v in zip(*np.unique(true, return_counts=True))}.items()))}
    for name, ref in refs.items():
        rep[name] = {"teacher_forced": score(flip_frames(ref, games, turns, False), true),
                     "closed_loop": score(flip_frames(ref, games, turns, True), true)}
    return rep


def markdown(rep: dict) -> str:
    lines = [f"Turns of `{rep['model']}`: {rep['turns']} held-out slow turns (the replay's facing flips on turn frame "
             + ", ".join(f"{k}: {v}" for k, v in rep["replay_flip_frame"].items()) + ")", "",
             "| model | way | flipped | on the replay's frame | within 1 frame |", "|---|---|---|---|---|"]
    for name in ("int8", "float"):
        for way in ("teacher_forced", "closed_loop"):
            if name in rep:
                r = rep[name][way]
                lines.append(f"| {name} | {way.replace('_', ' ')} | {100 * r['flipped']:.1f} % "
                             f"| {100 * r['on_the_frame']:.1f} % | {100 * r['within_1']:.1f} % |")
    return "\n".join(lines)


def main(argv=None) -> int:
    return probe.main(argv, "worldmodel.turns", __doc__, run, markdown, 64, "slow turns to play (the first found)")


if __name__ == "__main__":
    sys.exit(main())
