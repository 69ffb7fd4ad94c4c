//! `commit_session` (in the ER): ask the ER to commit SessionState and InputBuffer to the base
//! chain now (the Magic program's ScheduleCommit). HiddenState is never committed: it is the ER's
//! working memory (and larger than the local stack can commit). Anyone may ask.
use pinocchio::{error::ProgramError, AccountView, Address, ProgramResult};

use crate::er;
use crate::error::WorldError;
use crate::state::*;
use crate::sys;

pub const DISCRIMINATOR: u8 = 9;

/// Accounts:
///   0. `[WRITE, SIGNER]` payer of the commit
///   1. `[WRITE]`         SessionState
///   2. `[WRITE]`         InputBuffer
///   3. `[WRITE]`         MagicContext
///   4. `[]`              Magic program
///
/// Data: none.
pub struct CommitSession<'a> {
    pub payer: &'a AccountView,
    pub session: &'a AccountView,
    pub input: &'a AccountView,
    pub magic_context: &'a AccountView,
    pub magic_program: &'a AccountView,
}

pub fn process(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
    if !data.is_empty() {
        return Err(WorldError::InvalidInstruction.into());
    }
    let [payer, session, input, magic_context, magic_program, ..] = accounts else {
        return Err(ProgramError::NotEnoughAccountKeys);
    };
    let a = CommitSession { payer, session, input, magic_context, magic_program };
    sys::require_signer(a.payer)?;
    check_session(a.session, program_id)?;
    // SAFETY: read-only peek at the session.
    check_input(a.input, unsafe { a.session.borrow_unchecked() }, program_id)?;
    // One request per account: a base transaction carrying SessionState (296 bytes) and InputBuffer
    // together would outgrow 1,232 bytes, and the ER would fall back to its committor program
    // (end_session.rs).
    er::schedule_commit(a.payer, a.magic_context, a.magic_program, &[a.session], false)?;
    er::schedule_commit(a.payer, a.magic_context, a.magic_program, &[a.input], false)
}
