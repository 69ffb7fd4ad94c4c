//! Account layouts (little-endian, fixed offsets). Every account starts with a
//! discriminator byte and a version byte.
//!
//! Addresses: every account is a PDA of this program. The instruction that creates an
//! account checks its address against the seeds below (`find_program_address`). Every later
//! instruction checks each account it trusts against its seeds too, not only owner +
//! discriminator + ids: the stored bump and the ids re-derive the address with one `sol_sha256`
//! (sys::check_address, a few hundred CU instead of `create_program_address`'s 1,500).
//! HiddenState has no spare header byte, so its bump lives in SessionState (byte 5).
//!
//! ModelManifest (`[b"manifest", model_id u64 LE]`), 64 + manifest_len + 48 bytes:
//!   0 u8 disc=1 | 1 u8 version | 2 u8 finalized | 3 u8 bump | 4 u32 0
//!   8 u64 model_id | 16 [32] authority | 48 u32 0 | 52 u32 manifest_len | 56 u64 0
//!   64.. manifest bytes (worldmodel/cartridge.py; u32 weights_len at +28, sha256 at +32)
//!   then the hash progress of a multi-transaction finalize (finalize_weights.rs):
//!   +0 u64 bytes hashed so far | +8 [u32; 8] SHA-256 state | +40 u64 0
//!
//! ModelWeights (`[b"weights", model_id u64 LE, shard u16 LE]`), one per 8 MiB shard of
//! the blob; grows with the upload (at most 10,240 bytes per instruction) up to
//! 64 + shard_len:
//!   0 u8 disc=2 | 1 u8 version | 2 u8 0 | 3 u8 bump | 4..8 0 | 8 u64 model_id
//!   16 u32 weights_len (whole blob) | 20 u16 shard index | 22..64 0
//!   64.. this shard's bytes of the weights blob
//!
//! SessionState (`[b"session", session_id u64 LE]`), 296 bytes:
//!   0 u8 disc=3 | 1 u8 version | 2 u8 status (0 waiting, 1 active, 2 ended) | 3 u8 bump
//!   4 u8 crank (0: none, 1: the ER's scheduler runs it, see schedule_crank.rs)
//!   5 u8 HiddenState's bump | 6 u8 InputBuffer's bump | 7 u8 0
//!   8 u64 session_id | 16 u64 model_id | 24 u64 frame (next frame to compute)
//!   32 [32] player 1 (the creator; receives the rent on close)
//!   64 [32] player 2 (while waiting: the invited key, or zero for anyone; set by join)
//!   96 u64 last_input_frame[0] | 104 u64 last_input_frame[1] (copied from InputBuffer
//!   when a frame starts) | 112 i64 last_active (Clock unix_timestamp, seconds: create, join,
//!   each computed frame; wall-clock time, so it means the same on the base chain and in the ER)
//!   120 [i16; 16] fighter 1 | 152 [i16; 16] fighter 2   (worldmodel.cartridge.FIELDS)
//!   184 [32] ER validator: the only identity delegate_session delegates to, and the only signer
//!            of the scheduled crank's run_inference(NEXT_FRAME) (zero: the session stays on the
//!            chain it was created on)
//!   216 [32] crank key: who may crank besides the players (zero: the players only)
//!   248 u8 stage (Slippi stage id, rules::STAGES) | 249 u8 character 1 | 250 u8 character 2
//!            (Slippi external character ids) | 251..256 0
//!   256 [40] the rules' state (rules.rs: phases, stocks, end frame, winner, interventions)
//!
//! HiddenState (`[b"hidden", session_id u64 LE]`), grown by create_session to
//! `full_len` = Dims::hidden_len():
//!   0 u8 disc=4 | 1 u8 version | 2 u16 next_step (0: no frame in flight) | 4 u32 full_len
//!   8 u64 session_id | 16 u64 model_id | 24 u64 frame
//!   then, each padded to 8 bytes (model::Dims::hidden_offsets):
//!   [i16; D] residual r | [i8; D] xn | [i32; R] in_proj acc | [i8; E] gy   (a frame's
//!   activations between transactions) | [i32; L * E * N] selective-scan state h
//!
//! InputBuffer (`[b"input", session_id u64 LE]`), 48 bytes:
//!   0 u8 disc=5 | 1 u8 version | 2 u8 0 | 3 u8 bump | 4..8 0 | 8 u64 session_id
//!   16 ControllerInput player 1 | 24 ControllerInput player 2
//!   32 u64 input frame player 1 | 40 u64 input frame player 2
//!   ControllerInput: i8 stick_x, i8 stick_y, i8 cstick_x, i8 cstick_y, u8 l, u8 r, u16 buttons
//!
//! Frames and cranks: `run_inference` names the frame it computes (`expected_frame`), so a
//! retried or duplicated transaction never applies a frame twice (StaleFrame). The value
//! NEXT_FRAME (u64::MAX) instead means "the frame in flight, whichever it is": the form a task of
//! the ER's scheduler repeats with the same bytes every tick. It is accepted only while the
//! session's crank byte is CRANK_SCHEDULED (set by schedule_crank, cleared by cancel_crank and
//! end_session), so a task nobody in the session asked for, or one that outlived its cancel,
//! fails and the scheduler drops it.
//!
//! Input rule: a player's controller applies to frame F when
//! `F <= input_frame + INPUT_HOLD_FRAMES` (inputs for a later frame apply at once: the
//! buffer keeps one input per player). After INPUT_HOLD_FRAMES frames without a new
//! submit_input the player's controller reads as neutral (all zero), so a player who
//! disconnects stops pressing buttons instead of holding them forever.
use crate::error::WorldError;
use crate::model::rd_u16;

/// 2: SessionState gained the bumps, the ER validator, the crank key (security review), the
/// stage, the characters and the rules' state.
pub const VERSION: u8 = 2;
pub const DISC_MANIFEST: u8 = 1;
pub const DISC_WEIGHTS: u8 = 2;
pub const DISC_SESSION: u8 = 3;
pub const DISC_HIDDEN: u8 = 4;
pub const DISC_INPUT: u8 = 5;

pub const ACCOUNT_HEADER: usize = 64;
/// Bytes after the manifest for the progress of a multi-transaction finalize.
pub const HASH_PROGRESS_LEN: usize = 48;
pub const SESSION_LEN: usize = 296;
pub const INPUT_LEN: usize = 48;
pub const INPUT_FRAME_OFFSET: [usize; 2] = [32, 40];
pub const PLAYER_OFFSET: [usize; 2] = [32, 64];
pub const LAST_INPUT_FRAME_OFFSET: [usize; 2] = [96, 104];
pub const LAST_ACTIVE_OFFSET: usize = 112;
pub const HIDDEN_BUMP_OFFSET: usize = 5;
pub const INPUT_BUMP_OFFSET: usize = 6;
pub const VALIDATOR_OFFSET: usize = 184;
pub const CRANK_KEY_OFFSET: usize = 216;
pub const STAGE_OFFSET: usize = 248;
pub const CHARACTER_OFFSET: [usize; 2] = [249, 250];
pub const RULES_OFFSET: usize = 256;
/// Stage byte 0: no stage, the model alone (never made by create_session; see run_inference.rs).
pub const NO_STAGE: u8 = 0;
/// Slippi's external character ids of the 26 playable characters are 0..=25.
pub const MAX_CHARACTER: u8 = 25;

/// SessionState byte: whether a scheduled crank (a task of the ER's scheduler) drives the session.
pub const CRANK_OFFSET: usize = 4;
pub const CRANK_NONE: u8 = 0;
pub const CRANK_SCHEDULED: u8 = 1;
/// run_inference's `expected_frame` for "the frame in flight" (scheduled cranks only).
pub const NEXT_FRAME: u64 = u64::MAX;

pub const STATUS_WAITING: u8 = 0;
pub const STATUS_ACTIVE: u8 = 1;
pub const STATUS_ENDED: u8 = 2;

/// Frames a submitted input stays in force (see the input rule above): half a second.
pub const INPUT_HOLD_FRAMES: u64 = 30;
/// How far ahead of the session's frame an input may be submitted (two seconds).
pub const MAX_INPUT_LEAD: u64 = 120;
/// Seconds without activity (Clock unix_timestamp) after which anyone may end or close a
/// session; a player may at any time. Seconds, not slots: a slot is 400 ms on the base chain
/// and 10-50 ms in an ER, and the session moves between the two.
pub const CLOSE_TIMEOUT_SECS: i64 = 600;

/// Whether `key` is a player of the session (player 2 only once joined: while waiting that
/// slot holds the invited key).
pub fn is_player(session: &[u8], key: &[u8]) -> bool {
    &session[PLAYER_OFFSET[0]..PLAYER_OFFSET[0] + 32] == key
        || (session[2] != STATUS_WAITING && &session[PLAYER_OFFSET[1]..PLAYER_OFFSET[1] + 32] == key)
}

/// Who may end a session (close_session, end_session, cancel_crank): a player at any time,
/// anyone else after CLOSE_TIMEOUT_SECS seconds without activity. `now` (unix seconds) is only
/// read (a sysvar call) when the signer is not a player.
pub fn may_end(session: &[u8], signer: &[u8], now: impl FnOnce() -> i64) -> Result<(), WorldError> {
    if !is_player(session, signer)
        && now() < (rd_u64(session, LAST_ACTIVE_OFFSET) as i64).saturating_add(CLOSE_TIMEOUT_SECS)
    {
        return Err(WorldError::CloseTooEarly);
    }
    Ok(())
}

/// Who may crank a session with an explicit frame (run_inference): a player, or the crank key
/// the creator named (never the all-zero key).
pub fn may_crank(session: &[u8], key: &[u8]) -> bool {
    let crank_key = &session[CRANK_KEY_OFFSET..CRANK_KEY_OFFSET + 32];
    is_player(session, key) || (crank_key == key && crank_key.iter().any(|&b| b != 0))
}

pub const SEED_MANIFEST: &[u8] = b"manifest";
pub const SEED_WEIGHTS: &[u8] = b"weights";
pub const SEED_SESSION: &[u8] = b"session";
pub const SEED_HIDDEN: &[u8] = b"hidden";
pub const SEED_INPUT: &[u8] = b"input";
pub const HIDDEN_HEADER: usize = 32;
pub const FIGHTER_OFFSET: [usize; 2] = [120, 152];
pub const CONTROLLER_OFFSET: [usize; 2] = [16, 24];

#[inline(always)]
pub fn rd_u64(b: &[u8], o: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[o..o + 8]);
    u64::from_le_bytes(a)
}

#[inline(always)]
pub fn wr_u64(b: &mut [u8], o: usize, v: u64) {
    b[o..o + 8].copy_from_slice(&v.to_le_bytes());
}

#[inline(always)]
pub fn wr_u16(b: &mut [u8], o: usize, v: u16) {
    b[o..o + 2].copy_from_slice(&v.to_le_bytes());
}

/// Buttons A, B, X, Y, Z, L, R, Start, D-up, D-down, D-left, D-right (bits 0..11).
pub const BUTTON_MASK: u16 = 0x0FFF;

#[inline(always)]
pub fn rd_u32(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}

#[inline(always)]
pub fn wr_u32(b: &mut [u8], o: usize, v: u32) {
    b[o..o + 4].copy_from_slice(&v.to_le_bytes());
}

/// One player's controller for a frame.
#[derive(Clone, Copy, Debug, Default)]
pub struct ControllerInput {
    pub stick_x: i8,
    pub stick_y: i8,
    pub cstick_x: i8,
    pub cstick_y: i8,
    pub l: u8,
    pub r: u8,
    pub buttons: u16,
}

impl ControllerInput {
    pub const NEUTRAL: ControllerInput =
        ControllerInput { stick_x: 0, stick_y: 0, cstick_x: 0, cstick_y: 0, l: 0, r: 0, buttons: 0 };

    /// The 8 wire bytes are valid: sticks in -127..127 (-128 is rejected so that the
    /// range is symmetric), triggers any u8, buttons only bits 0..11.
    pub fn valid_bytes(b: &[u8]) -> bool {
        b.len() == 8 && b[..4].iter().all(|&v| v != 0x80) && (rd_u16(b, 6) & !BUTTON_MASK) == 0
    }

    pub fn read(b: &[u8], o: usize) -> Self {
        ControllerInput {
            stick_x: b[o] as i8,
            stick_y: b[o + 1] as i8,
            cstick_x: b[o + 2] as i8,
            cstick_y: b[o + 3] as i8,
            l: b[o + 4],
            r: b[o + 5],
            buttons: rd_u16(b, o + 6),
        }
    }
}

/// Read a fighter's 16 i16 fields from SessionState.
pub fn read_fighter(b: &[u8], player: usize) -> [i16; 16] {
    let mut f = [0i16; 16];
    let o = FIGHTER_OFFSET[player];
    for (i, v) in f.iter_mut().enumerate() {
        *v = rd_u16(b, o + 2 * i) as i16;
    }
    f
}

pub fn write_fighter(b: &mut [u8], player: usize, f: &[i16; 16]) {
    let o = FIGHTER_OFFSET[player];
    for (i, v) in f.iter().enumerate() {
        wr_u16(b, o + 2 * i, *v as u16);
    }
}

// -- account checks: owner + discriminator + version + length, then the address against its
// seeds (sys::check_address), then the ids that tie accounts together ------------------------

use pinocchio::{AccountView, Address};

/// SessionState at `["session", its session_id]` with its stored bump.
pub fn check_session(acc: &AccountView, program_id: &Address) -> Result<(), WorldError> {
    crate::sys::check_owned(acc, program_id, DISC_SESSION, SESSION_LEN)?;
    // SAFETY: read-only peek at the header (length checked); no mutable borrow is alive.
    let s = unsafe { acc.borrow_unchecked() };
    crate::sys::check_address(acc, &[SEED_SESSION, &s[8..16]], s[3], program_id)
}

/// HiddenState of `session` (already checked): its PDA (bump kept in SessionState) and id.
pub fn check_hidden(acc: &AccountView, session: &[u8], program_id: &Address) -> Result<(), WorldError> {
    crate::sys::check_owned(acc, program_id, DISC_HIDDEN, HIDDEN_HEADER)?;
    check_hidden_address(acc, session, program_id)?;
    // SAFETY: read-only peek at the header (length checked); no mutable borrow is alive.
    if rd_u64(unsafe { acc.borrow_unchecked() }, 8) != rd_u64(session, 8) {
        return Err(WorldError::AccountMismatch);
    }
    Ok(())
}

/// Only the address part of check_hidden (init_hidden: the account is still all zero).
pub fn check_hidden_address(acc: &AccountView, session: &[u8], program_id: &Address) -> Result<(), WorldError> {
    crate::sys::check_address(acc, &[SEED_HIDDEN, &session[8..16]], session[HIDDEN_BUMP_OFFSET], program_id)
}

/// InputBuffer of `session` (already checked): its PDA and id.
pub fn check_input(acc: &AccountView, session: &[u8], program_id: &Address) -> Result<(), WorldError> {
    crate::sys::check_owned(acc, program_id, DISC_INPUT, INPUT_LEN)?;
    crate::sys::check_address(acc, &[SEED_INPUT, &session[8..16]], session[INPUT_BUMP_OFFSET], program_id)?;
    // SAFETY: read-only peek at the header (length checked); no mutable borrow is alive.
    if rd_u64(unsafe { acc.borrow_unchecked() }, 8) != rd_u64(session, 8) {
        return Err(WorldError::AccountMismatch);
    }
    Ok(())
}

/// ModelManifest at `["manifest", its model_id]` with its stored bump.
pub fn check_manifest(acc: &AccountView, program_id: &Address) -> Result<(), WorldError> {
    crate::sys::check_owned(acc, program_id, DISC_MANIFEST, ACCOUNT_HEADER + 32)?;
    // SAFETY: read-only peek at the header (length checked); no mutable borrow is alive.
    let m = unsafe { acc.borrow_unchecked() };
    crate::sys::check_address(acc, &[SEED_MANIFEST, &m[8..16]], m[3], program_id)
}

/// Shard `k` of model `model_id`'s weights at `["weights", model_id, k]` with its stored bump.
pub fn check_weights(acc: &AccountView, model_id: u64, k: usize, program_id: &Address) -> Result<(), WorldError> {
    crate::sys::check_owned(acc, program_id, DISC_WEIGHTS, ACCOUNT_HEADER)?;
    // SAFETY: read-only peek at the header (length checked); no mutable borrow is alive.
    let w = unsafe { acc.borrow_unchecked() };
    if rd_u64(w, 8) != model_id || rd_u16(w, 20) as usize != k {
        return Err(WorldError::AccountMismatch);
    }
    crate::sys::check_address(acc, &[SEED_WEIGHTS, &w[8..16], &w[20..22]], w[3], program_id)
}
