"""Test vectors for the rules layer: Python (worldmodel.rules) computes, the crate's host test
(onchain/program/src/rules.rs) replays them and must agree bit for bit.

    python -m worldmodel.rules_vectors [--out tests/fixtures/rules_vectors.bin] [--check]

Per stage: scripted sequences (a KO on each blast zone for each player, a double KO on one
frame, last-stock KOs with a winner and a double one with a tie, the revival platform left by
acting and by timing out, the 8:00 timer with a stock win, a percent win and a tie, turns
the model stalls, flips itself and restarts, a fighter "dead" and "respawning" in play) and
random play (a model-like random walk that crosses blast zones, lands, runs on air, sinks
into the stage, and some fully random rows); plus one sequence per stage from random `st`
bytes. Deterministic (fixed seed).

File (little-endian): b"RULESV02" | u32 n_stages | n_stages x 21 i16 (stages.rules_table)
| u32 n_sequences | per sequence: u8 stage id, 3 x 0, u64 first frame, u32 n_frames,
[u8; 40] st before, then per frame: [i16; 32] fighters in (the model's output),
[u8; 6] outcome (ended, winner, kos, interventions, u16 fired), u64 FNV-1a of
(fighters after [i16; 32] | st after [u8; 40]).
"""
from __future__ import annotations

import argparse
import struct
import sys
from pathlib import Path

import numpy as np

from . import rules as R
from . import stages as S

MAGIC = b"RULESV02"
DEFAULT_OUT = Path("tests/fixtures/rules_vectors.bin")
FNV_OFFSET, FNV_PRIME = 0xCBF29CE484222325, 0x100000001B3


def fnv1a(data: bytes) -> int:
    h = FNV_OFFSET
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return h


def start_fighters(stocks=(4, 4)) -> np.ndarray:
    f = np.zeros((2, 16), dtype=np.int16)
    f[0, R.X], f[1, R.X] = -640, 640
    f[:, R.FACING] = (1, -1)
    f[:, R.ACTION] = 2  # idle
    f[:, R.STOCKS] = stocks
    f[:, R.SHIELD] = R.SHIELD_FULL
    f[:, R.JUMPS_LEFT] = 2
    return f


class Recorder:
    def __init__(self):
        self.seqs = []

    def run(self, stage: R.Stage, first_frame: int, st: bytearray, inputs: list[np.ndarray]):
        """Step the rules over the given model outputs; record everything."""
        st0 = bytes(st)
        rows = []
        for i, f_in in enumerate(inputs):
            f = f_in.astype(np.int16).copy()
            out = R.step_rules(stage, first_frame + i, f, st)
            rows.append((f_in.astype("<i2").tobytes(), out.as_bytes(), fnv1a(f.astype("<i2").tobytes() + bytes(st))))
        self.seqs.append((stage.id, first_frame, st0, rows))

    def play(self, stage, first_frame, st, policy, n, f0):
        """Closed loop: each frame's input is policy(previous output)."""
        st0 = bytes(st)
        rows, f = [], f0.copy()
        for i in range(n):
            f_in = policy(i, f.copy()).astype(np.int16)
            f = f_in.copy()
            out = R.step_rules(stage, first_frame + i, f, st)
            rows.append((f_in.astype("<i2").tobytes(), out.as_bytes(), fnv1a(f.astype("<i2").tobytes() + bytes(st))))
        self.seqs.append((stage.id, first_frame, st0, rows))

    def write(self, path: Path):
        out = bytearray(MAGIC)
        out += struct.pack("<I", len(S.STAGES))
        for s in S.STAGES:
            out += struct.pack("<21h", *S.rules_table(s))
        out += struct.pack("<I", len(self.seqs))
        for sid, first, st0, rows in self.seqs:
            out += struct.pack("<B3xQI", sid, first, len(rows)) + st0
            for f_in, oc, h in rows:
                out += f_in + oc + struct.pack("<Q", h)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bytes(out))
        return len(out), sum(len(r) for *_, r in self.seqs)


def to_zone(stage: R.Stage, zone: str) -> tuple[int, int]:
    """A point just past a blast zone (x, y)."""
    return {"left": (stage.blast_left - 1, 800), "right": (stage.blast_right + 1, 800),
            "top": (0, stage.blast_top + 1), "bottom": (0, stage.blast_bottom - 1)}[zone]


def scripted(rec: Recorder, stage: R.Stage):
    def ko_script(victims, zone, stocks=(4, 4), n=200, wait_policy="idle"):
        def policy(i, f):
            for p in victims:
                if i == 5:
                    f[p, R.X], f[p, R.Y] = to_zone(stage, zone)
                    f[p, R.PERCENT] = 1800
            # On the platform the model keeps "respawn" (times out) or acts at once.
            for p in range(2):
                if f[p, R.ACTION] == R.ACT_RESPAWN and wait_policy == "act":
                    f[p, R.ACTION] = 7  # jump
            return f
        rec.play(stage, 0, R.new_state(), policy, n, start_fighters(stocks))

    for zone in ("left", "right", "top", "bottom"):
        for p in (0, 1):
            ko_script((p,), zone, n=90)
    ko_script((0, 1), "bottom", n=450)  # double KO, full platform timeout + invulnerability
    ko_script((0, 1), "left", n=260, wait_policy="act")  # leaves the platform by acting
    ko_script((1,), "right", stocks=(4, 1), n=20)  # last stock: p1 wins
    ko_script((0,), "top", stocks=(1, 3), n=20)  # last stock: p2 wins
    ko_script((0, 1), "bottom", stocks=(1, 1), n=20)  # both last stocks on one frame: tie
    # The 8:00 timer: stocks decide, then percent, else a tie.
    for stocks, pct in (((3, 2), (0, 0)), ((2, 2), (500, 300)), ((2, 2), (160, 160))):
        f0 = start_fighters(stocks)
        f0[:, R.PERCENT] = pct

        def hold_still(i, f, f0=f0):
            return f0.copy()
        rec.play(stage, R.TIME_LIMIT_FRAMES - 40, R.new_state(), hold_still, 60, f0)
    # TURN: a turn whose counter stalls and whose facing the model never flips (P1), one the
    # model flips itself on frame 6 and restarts at frame 20 (P2); hitlag does not stop it.
    def turning(i, f):
        f[:, R.ACTION] = R.ACT_TURN if 3 <= i < 40 else 2
        f[0, R.ACTION_FRAME] = min(i, 7)
        f[1, R.ACTION_FRAME] = (i - 3 if i < 20 else i - 20) % 64
        if i == 9:
            f[1, R.FACING] = -f[1, R.FACING]
        f[:, R.HITLAG] = 2 if 25 <= i < 28 else 0
        return f
    rec.play(stage, 0, R.new_state(), turning, 50, start_fighters())

    # ALIVE: P2 "dead" (then "respawn") in play, held a few units above the bottom blast zone.
    def floating(i, f):
        if i >= 5:
            f[1, R.ACTION] = R.ACT_DEAD if i < 20 else R.ACT_RESPAWN
            f[1, R.X], f[1, R.Y], f[1, R.SELF_VY], f[1, R.AIRBORNE] = 100, stage.blast_bottom + 50, 0, 1
        return f
    rec.play(stage, 0, R.new_state(), floating, 30, start_fighters())


def random_play(rec: Recorder, stage: R.Stage, rng: np.random.Generator, n: int):
    """A model-like random walk: positions drift and sometimes jump far (past a blast zone,
    into the stage, onto a platform), actions and flags flip, some rows are pure noise."""
    def policy(i, f):
        g = f.astype(np.int64)
        g[:, R.X] += rng.integers(-40, 41, 2)
        g[:, R.Y] += rng.integers(-40, 41, 2)
        g[:, R.PERCENT] += rng.integers(-20, 60, 2)
        g[:, R.SELF_VY] = rng.integers(-900, 900, 2)
        g[:, R.KB_VX] = rng.integers(-300, 300, 2) * (rng.random(2) < 0.2)
        g[:, R.HITSTUN] = rng.integers(0, 30, 2) * (rng.random(2) < 0.2)
        for p in range(2):
            r = rng.random()
            if r < 0.01:
                g[p, R.X], g[p, R.Y] = to_zone(stage, ("left", "right", "top", "bottom")[rng.integers(4)])
                g[p, R.X] += rng.integers(0, 200) * np.sign(g[p, R.X])
            elif r < 0.04:
                g[p, R.X], g[p, R.Y] = rng.integers(-stage.edge, stage.edge + 1), rng.integers(-300, 40)
            elif r < 0.06 and stage.platforms:
                py, lo, hi = stage.platforms[rng.integers(len(stage.platforms))]
                g[p, R.X], g[p, R.Y] = rng.integers(lo, hi + 1), py + rng.integers(-80, 81)
            elif r < 0.08:
                g[p, R.X] = rng.choice((-1, 1)) * rng.integers(stage.edge, stage.edge + 400)
            if rng.random() < 0.1:
                g[p, R.AIRBORNE] = rng.integers(0, 2)
            if rng.random() < 0.05:
                g[p, R.STOCKS] = rng.integers(0, 5)
            if rng.random() < 0.1:
                g[p, R.ACTION] = rng.choice((0, 1, 1, 1, 2, 4, 4, 7, 8, 28))
            if rng.random() < 0.003:
                g[p] = rng.integers(-32768, 32768, 16)
        g[:, R.X] = np.clip(g[:, R.X], -32768, 32767)
        return np.clip(g, -32768, 32767).astype(np.int16)
    rec.play(stage, 0, R.new_state(), policy, n, start_fighters())


def random_st(rec: Recorder, stage: R.Stage, rng: np.random.Generator, n: int):
    """Arbitrary bytes in st and fighters (a tampered or corrupt account): must not crash, and
    both sides must agree. Phases are drawn 0..7 so unknown phase bytes are covered."""
    for k in range(4):
        st = bytearray(rng.integers(0, 256, R.RULES_LEN, dtype=np.uint8).tobytes())
        st[0], st[1] = R.RULES_VERSION, 0
        for p in range(2):
            b = R.P_BASE + R.P_SIZE * p
            st[b] = rng.integers(0, 8)
            if k == 0:  # counters at their limit: they saturate on both sides
                st[b], st[b + 2], st[b + 3] = (R.INVULN, R.WAIT)[p], 0xFF, 0xFF
        lim = 500 if k == 0 else 32768  # k == 0: on the stage, so the counters are reached
        inputs = [rng.integers(-lim, lim, (2, 16)).astype(np.int16) for _ in range(n)]
        rec.run(stage, int(rng.integers(0, 1 << 40)), st, inputs)


def build(random_frames: int = 1000) -> Recorder:
    rng = np.random.default_rng(13)
    rec = Recorder()
    for s in S.STAGES:
        stage = R.Stage.of(s.slippi_id)
        scripted(rec, stage)
        random_play(rec, stage, rng, random_frames)
        random_st(rec, stage, rng, 25)
    return rec


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--check", action="store_true", help="fail if --out differs from a fresh build")
    args = ap.parse_args(argv)
    rec = build()
    if args.check:
        tmp = args.out.with_suffix(".new")
        rec.write(tmp)
        same = tmp.read_bytes() == args.out.read_bytes()
        tmp.unlink()
        print("rules vectors:", "up to date" if same else "DIFFER")
        return 0 if same else 1
    size, frames = rec.write(args.out)
    print(f"{args.out}: {len(rec.seqs)} sequences, {frames} frames, {size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
