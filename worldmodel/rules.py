"""Melee's rules after the model, every frame: the integer specification that
onchain/program/src/rules.rs follows bit for bit (same names, same order).

The model predicts physics; the rules own what a KO is, respawn, stocks and the end of the
game, and clamp a few things the model gets wrong. They work on the 16 i16 state fields of
each fighter (worldmodel.cartridge.FIELDS; x, y in 1/16 game unit, percent in 1/16 %) and
a small byte block `st` that persists between frames (kept in SessionState by the program).

Phases of a fighter (timings measured from the replays by `python -m worldmodel.measure_rules`):
  PLAY     the model drives it; the clamps below apply.
  DEAD     60 frames after a KO (Melee's death states 0x0-0xA; a star KO takes 176, not
           modelled): held at the KO point, action "dead", velocities 0.
  DESCENT  60 frames on the revival platform descending from `descent_top` to `respawn_y`
           (0xC ON_HALO_DESCENT), action "respawn".
  WAIT     on the platform at (respawn_x[p], respawn_y) (0xD ON_HALO_WAIT) until the model's
           output for the fighter is an action other than dead/respawn (it acted), or 240
           frames pass (descent + wait = 300 frames = 5 s, the most seen in the replays);
           on a timeout the fighter is let go as "fall", airborne.
  INVULN   120 frames of invincibility after leaving the platform (hurtbox_state != 0 for a
           median 120 frames in the replays): percent cannot rise, knockback and hitstun 0.
  OUT      no stocks left.
A fighter in PLAY or INVULN beyond a blast zone (x < left, x > right, y > top, y < bottom,
strictly) is KO'd that frame: stocks - 1, percent 0, shield full, velocities, hitlag and
hitstun 0, action "dead", and DEAD (or OUT on the last stock).

Clamps in PLAY/INVULN (each one that changes a value is an *intervention*, bit in `fired`):
  STOCKS    the stocks field is the rules' count (the model cannot add or lose stocks).
  PERCENT   percent stays in [percent so far, 999%] (it only rises within a stock).
  INVULN    while invincible: percent held, kb_vx, kb_vy, hitstun 0.
  ALIVE     a fighter in play is not dead nor on the revival platform: those actions are the
            rules' own (DEAD, DESCENT, WAIT), and Melee enters a death state only past a blast
            zone (every KO of the replays: `python -m worldmodel.measure_rules`). An output of the
            action "dead" or "respawn" becomes "fall", airborne, at action_frame 0. Left to
            itself `tiny-wide-v2` now and then says "dead" a few units short of a blast zone
            and then holds it, velocities 0: a fighter floated so under the stage for as long
            as anyone watched, and playtest bot games froze so until 8:00.
  FLOOR     a fighter inside the main platform's top band (|x| <= edge, -16 < y < 0 units)
            is put back on it: y = 0, self_vy >= 0; an airborne one lands there (airborne 0,
            and a jump/fall/special fall/tumble becomes "landing", action_frame 0).
  SNAP      a grounded fighter (airborne 0) within 4 units of a surface under it (ground or
            platform) stands on it: y = surface, self_vy = 0.
  AIRBORNE  a grounded fighter with no surface under it (running on air) becomes airborne;
            a fighter on the ledge (action "ledge") is left alone.
  ACTION_FRAME  a fighter whose action category differs from the last frame's starts it at
            action_frame 0 (unless the model already put it at 0 or 1, as the replays have it).
            Melee restarts the frame counter with every new action state; the model's delta
            seldom jumps back, and an action that starts at frame 67 is taken as over: a forward
            smash lasted 3 frames instead of ~40. The last category is kept in `st` (any phase).
  TURN      Melee's turn is a fixed animation: its frame counter goes up one a frame and the
            facing flips on its frame 6 or 8 (a fighter hit or hitting leaves the turn, so the
            counter's hold in hitlag is not modelled: the model's hitlag output drifts, -2 for
            frames on end, and would stop the clock). In the replays 99.86 % of a turn's
            frames step the counter by one, and every turn that reaches frame TURN_FLIP (10) has
            flipped by then: 3,744 of 3,744 (`python -m worldmodel.data_stats`: turn_clock).
            So while the action category stays "turn" the rules run the counter (a turn starts
            on the frame the category becomes "turn", or when the model puts the counter back
            at 0 or 1), and on frame TURN_FLIP a fighter still facing the way it faced before
            the turn is turned. Without it a model that holds "turn" with its counter stalled
            short of the flip never turns and never leaves the turn: a fighter told to walk away
            stood in "turn" for minutes, and bot games froze so until 8:00 (the playtest's
            turn_walk_out and bot_game).

Game end: when a fighter loses its last stock (winner the other; both on one frame: tie),
or after frame 28,799 (8:00 at 60 fps): more stocks wins, then lower percent, else a tie.
An ended game is never changed again: step_rules returns the recorded result.

`st` layout (RULES_LEN = 40 bytes, little-endian; all zero = not started, initialised on
the first step from the fighters' stocks and facing fields, 4 stocks if out of 1..4):
  0 u8 version (1) | 1 u8 ended | 2 u8 winner (0 p1, 1 p2, 2 tie or none) | 3 u8 0
  4 u32 end frame | 8 u32 interventions so far (saturating)
  12 + p, per player p: u8 the turn's frame counter (TURN; saturating) | 14..16 0
  16 + 12p, per player p: 0 u8 phase | 1 u8 stocks | 2 u16 frames in the phase
                          4 u16 percent floor | 6 i16 hold x | 8 i16 hold y
                          10 u8 last action category (& 0xFF)
                          11 u8 facings: bits 0-1 the last frame's facing, bits 2-3 the facing
                             before the turn the fighter is in (TURN); each 0 none/unknown,
                             1 right (+1), 2 left (-1); bits 4-7 0
Bytes 12..14 and 16 + 12p + 11 were 0 before the TURN rule, which reads 0 as "not in a turn":
a session started before it goes on unchanged, so the version stays 1.
"""
from __future__ import annotations

import dataclasses

from . import stages as S

RULES_LEN = 40
RULES_VERSION = 1
TIME_LIMIT_FRAMES = 28_800  # 8:00 at 60 frames per second
DEAD_FRAMES = 60
DESCENT_FRAMES = 60
WAIT_FRAMES = 240
INVULN_FRAMES = 120
DEFAULT_STOCKS = 4
MAX_STOCKS = 4  # the shipped field spec one-hot encodes stocks 0..4
PERCENT_MAX = 999 * 16
SHIELD_FULL = 60 * 16
FLOOR_DEPTH = 16 * 16  # 16 game units
SNAP = 4 * 16  # 4 game units
# A hit, as the playtest and data_stats count it: the percent rises by this much (1/16 %) from
# one frame to the next. Melee's moves deal whole per cent (a staled jab still about 1 %); a
# model's delta that wobbles by a state unit, which the PERCENT clamp lets rise and never fall,
# creeps up by 1/16 % at a time.
HIT_PERCENT = 8  # 0.5 %

# Field indices (worldmodel.cartridge.FIELDS).
X, Y, SELF_VX, SELF_VY, KB_VX, KB_VY, FACING, ACTION, ACTION_FRAME, PERCENT, STOCKS, SHIELD, \
    AIRBORNE, JUMPS_LEFT, HITLAG, HITSTUN = range(16)
# Action categories (worldmodel.dataset.ACTION_CATEGORIES).
ACT_DEAD, ACT_RESPAWN, ACT_TURN, ACT_JUMP, ACT_FALL, ACT_TUMBLE, ACT_LANDING, ACT_LEDGE = 0, 1, 4, 7, 8, 10, 12, 28
TURN_FLIP = 10  # a turn's frame by which the facing has flipped (TURN)

PLAY, DEAD, DESCENT, WAIT, INVULN, OUT = range(6)
PHASE_NAMES = ("play", "dead", "descent", "wait", "invuln", "out")

# Intervention bits (Outcome.fired).
R_STOCKS, R_PERCENT, R_INVULN, R_FLOOR, R_SNAP, R_AIRBORNE, R_ACTION_FRAME, R_TURN, R_ALIVE = (1 << i for i in range(9))
RULE_NAMES = ("stocks", "percent", "invuln", "floor", "snap", "airborne", "action_frame", "turn", "alive")
LAST_ACTION = 10  # offset of the last action category in a player's block
FACINGS = 11  # offset of the facings byte in a player's block
TURN_CLOCK = 12  # offset of player 1's turn counter (player 2's follows)

P_BASE, P_SIZE = 16, 12


@dataclasses.dataclass(frozen=True)
class Stage:
    """The integer row of rules.rs `Stage` (stages.rules_table)."""
    id: int
    blast_left: int
    blast_right: int
    blast_top: int
    blast_bottom: int
    edge: int
    ledge: int
    respawn_x: tuple[int, int]
    respawn_y: int
    descent_top: int
    platforms: tuple[tuple[int, int, int], ...]  # (y, left, right)

    @classmethod
    def of(cls, stage) -> "Stage":
        t = S.rules_table(S.stage(stage))
        n = t[11]
        plats = tuple(tuple(t[12 + 3 * i:15 + 3 * i]) for i in range(n))
        return cls(t[0], t[1], t[2], t[3], t[4], t[5], t[6], (t[7], t[8]), t[9], t[10], plats)


# Every stage with a rules table (rules.rs STAGES), built once: the model's relative inputs look
# a stage up every frame.
STAGE_TABLE = tuple(Stage.of(sid) for sid in S.STAGE_BY_ID)
_STAGE_BY_ID = {st.id: st for st in STAGE_TABLE}


def stage_by_id(sid: int) -> Stage | None:
    return _STAGE_BY_ID.get(sid)


@dataclasses.dataclass(frozen=True)
class Outcome:
    ended: bool
    winner: int  # 0 p1, 1 p2, 2 tie or none
    kos: int  # bit p: fighter p was KO'd this frame
    interventions: int  # clamps that changed a value this frame (both fighters)
    fired: int  # R_* bits of those clamps

    def as_bytes(self) -> bytes:
        return bytes((int(self.ended), self.winner, self.kos, self.interventions)) + self.fired.to_bytes(2, "little")


def new_state() -> bytearray:
    return bytearray(RULES_LEN)


def _u16(st, o):
    return st[o] | st[o + 1] << 8


def _put16(st, o, v):
    v &= 0xFFFF
    st[o], st[o + 1] = v & 0xFF, v >> 8


def _i16(st, o):
    v = _u16(st, o)
    return v - 0x10000 if v >= 0x8000 else v


def _u32(st, o):
    return int.from_bytes(bytes(st[o:o + 4]), "little")


def _put32(st, o, v):
    st[o:o + 4] = (v & 0xFFFFFFFF).to_bytes(4, "little")


def init_state(fighters, st) -> None:
    st[:] = bytes(RULES_LEN)
    st[0] = RULES_VERSION
    st[2] = 2
    for p in range(2):
        b = P_BASE + P_SIZE * p
        stocks = int(fighters[p][STOCKS])
        st[b + 1] = stocks if 1 <= stocks <= MAX_STOCKS else DEFAULT_STOCKS
        _put16(st, b + 4, min(max(int(fighters[p][PERCENT]), 0), PERCENT_MAX))
        st[b + LAST_ACTION] = int(fighters[p][ACTION]) & 0xFF
        st[b + FACINGS] = facing_code(int(fighters[p][FACING]))


def facing_code(facing: int) -> int:
    """A facing as st keeps it: 1 right, 2 left, 0 anything else."""
    return 1 if facing == 1 else 2 if facing == -1 else 0


def beyond_blast(stage: Stage, f) -> bool:
    x, y = int(f[X]), int(f[Y])
    return x < stage.blast_left or x > stage.blast_right or y > stage.blast_top or y < stage.blast_bottom


def hold(f, x: int, y: int, action: int, action_frame: int, stocks: int) -> None:
    """The fields of a fighter the rules hold (dead or on the revival platform)."""
    f[X], f[Y] = x, y
    f[SELF_VX] = f[SELF_VY] = f[KB_VX] = f[KB_VY] = 0
    f[ACTION], f[ACTION_FRAME] = action, min(action_frame, 32767)
    f[PERCENT], f[STOCKS], f[SHIELD] = 0, stocks, SHIELD_FULL
    f[AIRBORNE], f[HITLAG], f[HITSTUN] = 1, 0, 0


def surface_under(stage: Stage, x: int, y: int):
    """The height of the surface within SNAP of (x, y) whose x range holds x, else None
    (ground first, then platforms in table order)."""
    if -stage.edge <= x <= stage.edge and abs(y) <= SNAP:
        return 0
    for py, left, right in stage.platforms:
        if left <= x <= right and abs(y - py) <= SNAP:
            return py
    return None


def ground_below(stage: Stage, x: int, y: int):
    """The highest surface under x that a fighter at (x, y) is on or above: the main stage
    (height 0) down to FLOOR_DEPTH below it (the FLOOR rule's band), a platform down to SNAP
    below it; None when there is none. The CONTEXT_RELATIVE model input (cartridge.py)."""
    best = None
    if -stage.edge <= x <= stage.edge and y > -FLOOR_DEPTH:
        best = 0
    for py, left, right in stage.platforms:
        if left <= x <= right and y >= py - SNAP and (best is None or py > best):
            best = py
    return best


def turn(f, st, p: int) -> int:
    """The TURN clamp (after ACTION_FRAME, which reads the same last category); R_TURN or 0."""
    b = P_BASE + P_SIZE * p
    fired, facings = 0, st[b + FACINGS]
    if f[ACTION] != ACT_TURN:
        st[b + FACINGS], st[TURN_CLOCK + p] = facings & 3, 0
        return 0
    before, clock, af = facings >> 2 & 3, st[TURN_CLOCK + p], int(f[ACTION_FRAME])
    if st[b + LAST_ACTION] != ACT_TURN or before == 0 or (af in (0, 1) and clock > 1):
        before, clock = facings & 3, min(max(af, 0), 255)  # a turn starts, from the last frame's facing
    else:
        clock = min(clock + 1, 255)
        if af != clock:
            f[ACTION_FRAME] = clock
            fired = R_TURN
    if before != 0 and clock >= TURN_FLIP and facing_code(int(f[FACING])) == before:
        f[FACING] = -1 if before == 1 else 1
        fired = R_TURN
    st[b + FACINGS], st[TURN_CLOCK + p] = facings & 3 | before << 2, clock
    return fired


def clamps(stage: Stage, f, st, p: int, invuln: bool) -> int:
    """Player p's PLAY/INVULN clamps; returns the R_* bits that changed a value."""
    b = P_BASE + P_SIZE * p
    fired = 0
    stocks = st[b + 1]
    if f[STOCKS] != stocks:
        f[STOCKS] = stocks
        fired |= R_STOCKS
    floor = _i16(st, b + 4)  # <= PERCENT_MAX unless st was tampered with
    pct = int(f[PERCENT])
    hi = floor if invuln else PERCENT_MAX
    new = min(max(pct, floor), hi)
    if new != pct:
        f[PERCENT] = new
        fired |= R_INVULN if invuln and pct > floor else R_PERCENT
    _put16(st, b + 4, new)
    if invuln and (f[KB_VX] != 0 or f[KB_VY] != 0 or f[HITSTUN] != 0):
        f[KB_VX] = f[KB_VY] = f[HITSTUN] = 0
        fired |= R_INVULN
    if f[ACTION] == ACT_DEAD or f[ACTION] == ACT_RESPAWN:
        f[ACTION], f[ACTION_FRAME], f[AIRBORNE] = ACT_FALL, 0, 1
        fired |= R_ALIVE
    x, y = int(f[X]), int(f[Y])
    if -stage.edge <= x <= stage.edge and -FLOOR_DEPTH < y < 0:
        f[Y] = y = 0
        if f[SELF_VY] < 0:
            f[SELF_VY] = 0
        if f[AIRBORNE] != 0:  # it fell onto the stage: it lands
            f[AIRBORNE] = 0
            if ACT_JUMP <= f[ACTION] <= ACT_TUMBLE:
                f[ACTION], f[ACTION_FRAME] = ACT_LANDING, 0
        fired |= R_FLOOR
    if f[AIRBORNE] == 0 and f[ACTION] != ACT_LEDGE:
        sy = surface_under(stage, x, y)
        if sy is None:
            f[AIRBORNE] = 1
            fired |= R_AIRBORNE
        elif y != sy or f[SELF_VY] != 0:
            f[Y], f[SELF_VY] = sy, 0
            fired |= R_SNAP
    if int(f[ACTION]) & 0xFF != st[b + LAST_ACTION] and f[ACTION_FRAME] not in (0, 1):
        f[ACTION_FRAME] = 0
        fired |= R_ACTION_FRAME
    return fired | turn(f, st, p)


def step_player(stage: Stage, p: int, f, st) -> tuple[int, int]:
    """One fighter's rules for one frame: (KO'd 0/1, R_* bits)."""
    b = P_BASE + P_SIZE * p
    phase, stocks, elapsed = st[b], st[b + 1], _u16(st, b + 2)
    if phase in (PLAY, INVULN):
        if beyond_blast(stage, f):
            stocks = max(stocks - 1, 0)
            st[b], st[b + 1] = (OUT if stocks == 0 else DEAD), stocks
            _put16(st, b + 2, 0)
            _put16(st, b + 4, 0)
            _put16(st, b + 6, int(f[X]))
            _put16(st, b + 8, int(f[Y]))
            hold(f, int(f[X]), int(f[Y]), ACT_DEAD, 0, stocks)
            return 1, 0
        fired = clamps(stage, f, st, p, phase == INVULN)
        if phase == INVULN:
            elapsed = min(elapsed + 1, 0xFFFF)  # saturates only in a tampered block
            if elapsed >= INVULN_FRAMES:
                phase, elapsed = PLAY, 0
        st[b] = phase
        _put16(st, b + 2, elapsed)
        return 0, fired
    elapsed = min(elapsed + 1, 0xFFFF)
    if phase == DEAD and elapsed >= DEAD_FRAMES:
        phase, elapsed = DESCENT, 0
    elif phase == DESCENT and elapsed >= DESCENT_FRAMES:
        phase, elapsed = WAIT, 0
    if phase == DESCENT:
        drop = max(stage.descent_top - stage.respawn_y, 0)
        y = stage.respawn_y + drop * (DESCENT_FRAMES - min(elapsed, DESCENT_FRAMES)) // DESCENT_FRAMES
        hold(f, stage.respawn_x[p], y, ACT_RESPAWN, elapsed, stocks)
    elif phase == WAIT:
        acted = f[ACTION] != ACT_DEAD and f[ACTION] != ACT_RESPAWN
        if acted or elapsed >= WAIT_FRAMES:
            if not acted:
                f[ACTION], f[ACTION_FRAME], f[AIRBORNE] = ACT_FALL, 0, 1
            st[b] = INVULN
            _put16(st, b + 2, 0)
            _put16(st, b + 4, 0)
            return 0, clamps(stage, f, st, p, True)
        hold(f, stage.respawn_x[p], stage.respawn_y, ACT_RESPAWN, elapsed, stocks)
    else:  # DEAD, OUT, or a phase byte no step writes (held like OUT)
        hold(f, _i16(st, b + 6), _i16(st, b + 8), ACT_DEAD, elapsed, stocks)
    st[b] = phase
    _put16(st, b + 2, elapsed)
    return 0, 0


def _popcount(v: int) -> int:
    return bin(v).count("1")


def step_rules(stage: Stage, frame: int, fighters, st) -> Outcome:
    """Apply the rules to both fighters (modified in place) after the model computed `frame`
    (0-based). fighters: (2, 16) int16 array or lists; st: bytearray(RULES_LEN)."""
    if st[0] != RULES_VERSION:
        init_state(fighters, st)
    if st[1]:
        return Outcome(True, st[2], 0, 0, 0)
    kos = count = fired = 0
    for p in range(2):
        ko, bits = step_player(stage, p, fighters[p], st)
        b = P_BASE + P_SIZE * p
        st[b + LAST_ACTION] = int(fighters[p][ACTION]) & 0xFF
        st[b + FACINGS] = st[b + FACINGS] & 0xFC | facing_code(int(fighters[p][FACING]))
        kos |= ko << p
        fired |= bits
        count += _popcount(bits)
    _put32(st, 8, min(_u32(st, 8) + count, 0xFFFFFFFF))
    out = [st[P_BASE + P_SIZE * p + 1] == 0 for p in range(2)]
    ended, winner = False, 2
    if out[0] or out[1]:
        ended, winner = True, (2 if out[0] and out[1] else (1 if out[0] else 0))
    elif frame >= TIME_LIMIT_FRAMES - 1:
        ended = True
        s0, s1 = st[P_BASE + 1], st[P_BASE + P_SIZE + 1]
        p0, p1 = int(fighters[0][PERCENT]), int(fighters[1][PERCENT])
        if s0 != s1:
            winner = 0 if s0 > s1 else 1
        elif p0 != p1:
            winner = 0 if p0 < p1 else 1
    if ended:
        st[1], st[2] = 1, winner
        _put32(st, 4, min(frame, 0xFFFFFFFF))
    return Outcome(ended, winner, kos, count, fired)


def phase(st, p: int) -> int:
    return st[P_BASE + P_SIZE * p]


def stocks(st, p: int) -> int:
    return st[P_BASE + P_SIZE * p + 1]


def interventions(st) -> int:
    return _u32(st, 8)


def end_frame(st) -> int | None:
    return _u32(st, 4) if st[1] else None
