//! `schedule_crank` (in the ER): have the ER's own task scheduler crank the session, instead of
//! a client sending `run_inference` every tick. A player of an active, delegated session asks
//! for it; the program sets the session's crank byte and asks the Magic program (by CPI,
//! `ScheduleTask`, er.rs) for a task that runs
//! `[SetComputeUnitLimit(1.4M), run_inference(NEXT_FRAME, step_count)]` every `interval_ms`
//! milliseconds, `iterations` times, paid and signed by the validator. The task's run_inference
//! names the session's ER validator as its cranker (signer): run_inference accepts NEXT_FRAME
//! only from that identity, so nobody else can replay the task's instruction to speed a game up.
//!
//! The task's authority is the SessionState PDA (signed with its seeds), so only this program
//! can cancel or replace it: `cancel_crank`, `end_session`, or a new `schedule_crank`, which
//! first cancels the session's earlier task (a reschedule, not a second task). Its id is
//! er::crank_task_id(SessionState address).
//!
//! What the 0.8.3 scheduler does with it (README "The crank"): the first run comes at once, the
//! next `interval_ms` after the previous one was sent (its period is the interval plus the send);
//! the interval is raised to the ER's `min-interval` (10 ms by default); a run whose transaction
//! fails the ER's preflight removes the task. So when the session ends (SessionNotActive), leaves
//! the ER (its accounts no longer writable there) or its crank byte is cleared
//! (CrankNotScheduled), the task stops by itself at its next run even if no cancel reached it.
use pinocchio::{cpi::Seed, error::ProgramError, AccountView, Address, ProgramResult};

use crate::er;
use crate::error::WorldError;
use crate::model::{MAX_SHARDS, SHARD_SHIFT};
use crate::state::*;
use crate::sys;

pub const DISCRIMINATOR: u8 = 12;

/// Accounts:
///   0. `[SIGNER]` a player of the session
///   1. `[WRITE]`  SessionState (active; the task's authority)
///   2. `[WRITE]`  HiddenState
///   3. `[]`       InputBuffer
///   4. `[]`       ModelManifest of the session's model (finalized)
///   5. `[]`       Magic program
///   6. `[]`       the session's ER validator identity (the task's cranker)
///   7.. `[]`      ModelWeights shards 0, 1, ... (all the blob has)
///
/// Data (after the discriminator), 14 bytes:
///   0 u32 interval_ms (>= 1) | 4 u64 iterations (1 ..= i64::MAX) | 12 u16 step_count
///   (steps per run, as run_inference's; 0 or 0xFFFF: the rest of the frame)
pub struct ScheduleCrank<'a> {
    pub player: &'a AccountView,
    pub session: &'a mut AccountView,
    pub hidden: &'a AccountView,
    pub input: &'a AccountView,
    pub manifest: &'a AccountView,
    pub magic_program: &'a AccountView,
    pub validator: &'a AccountView,
    pub weights: &'a [AccountView],
}

pub fn process(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
    if data.len() != 14 {
        return Err(WorldError::InvalidInstruction.into());
    }
    let interval_ms = rd_u32(data, 0);
    let iterations = rd_u64(data, 4);
    let step_count = u16::from_le_bytes([data[12], data[13]]);
    if interval_ms == 0 || iterations == 0 || iterations > i64::MAX as u64 {
        return Err(WorldError::InvalidInstruction.into());
    }
    let [player, session, hidden, input, manifest, magic_program, validator, weights @ ..] = accounts else {
        return Err(ProgramError::NotEnoughAccountKeys);
    };
    let a = ScheduleCrank { player, session, hidden, input, manifest, magic_program, validator, weights };
    sys::require_signer(a.player)?;
    check_session(a.session, program_id)?;
    check_manifest(a.manifest, program_id)?;
    {
        // SAFETY: read-only peek at the checked session; ends before the borrows below.
        let s = unsafe { a.session.borrow_unchecked() };
        check_hidden(a.hidden, s, program_id)?;
        check_input(a.input, s, program_id)?;
        let v = &s[VALIDATOR_OFFSET..VALIDATOR_OFFSET + 32];
        if a.validator.address().as_ref() != v || v.iter().all(|&b| b == 0) {
            return Err(WorldError::InvalidAccount.into());
        }
    }
    sys::require_writable(a.session)?;
    sys::require_writable(a.hidden)?;
    if a.magic_program.address() != &er::MAGIC_PROGRAM {
        return Err(WorldError::InvalidAccount.into());
    }
    let (session_id, bump) = {
        // SAFETY: read-only peeks at three distinct accounts (different discriminators); the
        // session's crank byte is written through the same pointer, and every borrow ends
        // before the CPIs below.
        let (s, h, m) =
            unsafe { (a.session.borrow_unchecked_mut(), a.hidden.borrow_unchecked(), a.manifest.borrow_unchecked()) };
        if s[2] != STATUS_ACTIVE {
            return Err(WorldError::SessionNotActive.into());
        }
        let me = a.player.address().as_ref();
        if &s[PLAYER_OFFSET[0]..PLAYER_OFFSET[0] + 32] != me && &s[PLAYER_OFFSET[1]..PLAYER_OFFSET[1] + 32] != me {
            return Err(WorldError::Unauthorized.into());
        }
        let model_id = rd_u64(s, 16);
        if rd_u64(m, 8) != model_id || rd_u64(h, 16) != model_id {
            return Err(WorldError::AccountMismatch.into());
        }
        if m[2] != 1 {
            return Err(WorldError::NotFinalized.into());
        }
        // The task names every shard run_inference reads: all of the blob's.
        let weights_len = rd_u32(m, ACCOUNT_HEADER + 28) as usize;
        let shards = (weights_len + (1 << SHARD_SHIFT) - 1) >> SHARD_SHIFT;
        if a.weights.len() != shards || shards == 0 || shards > MAX_SHARDS {
            return Err(ProgramError::NotEnoughAccountKeys);
        }
        for (k, w) in a.weights.iter().enumerate() {
            check_weights(w, model_id, k, program_id)?;
        }
        s[CRANK_OFFSET] = CRANK_SCHEDULED;
        (rd_u64(s, 8).to_le_bytes(), [s[3]])
    };
    let seeds = [Seed::from(SEED_SESSION), Seed::from(&session_id), Seed::from(&bump)];
    let task_id = er::crank_task_id(a.session.address());
    // Replace, never add: a session has at most one crank task.
    er::cancel_task(a.session, &seeds, a.magic_program, task_id)?;

    let mut task_data = [0u8; er::TASK_IX_DATA];
    task_data[0] = crate::instructions::run_inference::DISCRIMINATOR;
    task_data[1..9].copy_from_slice(&NEXT_FRAME.to_le_bytes());
    task_data[9..11].copy_from_slice(&step_count.to_le_bytes());
    // run_inference's accounts: cranker (the validator, signing), session, hidden, input,
    // manifest, shards.
    let mut task_accounts: [(&AccountView, bool, bool); er::MAX_TASK_ACCOUNTS] =
        [(a.validator, true, false); er::MAX_TASK_ACCOUNTS];
    task_accounts[1] = (&*a.session, false, true);
    task_accounts[2] = (a.hidden, false, true);
    task_accounts[3] = (a.input, false, false);
    task_accounts[4] = (a.manifest, false, false);
    for (k, w) in a.weights.iter().enumerate() {
        task_accounts[5 + k] = (w, false, false);
    }
    let n = 5 + a.weights.len();
    er::schedule_task(program_id, a.session, &seeds, a.magic_program, task_id, interval_ms, iterations,
                      &task_accounts[..n], &task_data)
}
