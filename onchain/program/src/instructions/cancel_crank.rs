//! `cancel_crank` (in the ER): stop the session's scheduled crank (schedule_crank.rs). Clears the
//! session's crank byte, so from now on the task's `run_inference(NEXT_FRAME)` fails and the ER's
//! scheduler drops it, and asks the Magic program to cancel the task (`CancelTask`, signed by
//! the SessionState PDA, the task's authority). Harmless when no task runs. Who may cancel: as
//! `end_session` (a player at any time, anyone after CLOSE_TIMEOUT_SECS idle seconds).
use pinocchio::{cpi::Seed, error::ProgramError, AccountView, Address, ProgramResult};

use crate::er;
use crate::error::WorldError;
use crate::state::*;
use crate::sys;

pub const DISCRIMINATOR: u8 = 13;

/// Accounts:
///   0. `[SIGNER]` a player, or anyone after the timeout
///   1. `[WRITE]`  SessionState
///   2. `[]`       Magic program
///
/// Data: none.
pub struct CancelCrank<'a> {
    pub signer: &'a AccountView,
    pub session: &'a mut AccountView,
    pub magic_program: &'a AccountView,
}

pub fn process(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
    if !data.is_empty() {
        return Err(WorldError::InvalidInstruction.into());
    }
    let [signer, session, magic_program, ..] = accounts else {
        return Err(ProgramError::NotEnoughAccountKeys);
    };
    let a = CancelCrank { signer, session, magic_program };
    sys::require_signer(a.signer)?;
    check_session(a.session, program_id)?;
    sys::require_writable(a.session)?;
    if a.magic_program.address() != &er::MAGIC_PROGRAM {
        return Err(WorldError::InvalidAccount.into());
    }
    let (session_id, bump) = {
        // SAFETY: the only borrow of the session; it ends before the CPI.
        let s = unsafe { a.session.borrow_unchecked_mut() };
        may_end(s, a.signer.address().as_ref(), sys::now)?;
        s[CRANK_OFFSET] = CRANK_NONE;
        (rd_u64(s, 8).to_le_bytes(), [s[3]])
    };
    let seeds = [Seed::from(SEED_SESSION), Seed::from(&session_id), Seed::from(&bump)];
    er::cancel_task(a.session, &seeds, a.magic_program, er::crank_task_id(a.session.address()))
}
