//! `end_session` (in the ER): end the game and give the session back to the base chain. Sets
//! status ended, cuts HiddenState down to its 32-byte header (the recurrent state is the ER's
//! working memory and is dropped here; the local stack cannot commit accounts of ~700 bytes or
//! more), and asks the ER to commit and undelegate all three accounts (ScheduleCommitAndUndelegate).
//! Once the undelegation lands, `close_session` on the base chain returns the rent. Who may end:
//! as `close_session` (a player at any time, anyone after CLOSE_TIMEOUT_SECS idle seconds).
//! A scheduled crank (schedule_crank.rs) is stopped too: crank byte cleared, task cancelled.
use pinocchio::{cpi::Seed, error::ProgramError, AccountView, Address, ProgramResult};

use crate::er;
use crate::error::WorldError;
use crate::state::*;
use crate::sys;

pub const DISCRIMINATOR: u8 = 11;

/// Accounts:
///   0. `[SIGNER]`        a player, or anyone after the timeout
///   1. `[WRITE, SIGNER]` payer of the commit (in the ER: the transaction's fee payer; a player's
///                        wallet is not delegated, so the ER will not let it be written)
///   2. `[WRITE]`         SessionState
///   3. `[WRITE]`         HiddenState
///   4. `[WRITE]`         InputBuffer
///   5. `[WRITE]`         MagicContext
///   6. `[]`              Magic program
///
/// Data: none.
pub struct EndSession<'a> {
    pub signer: &'a AccountView,
    pub payer: &'a AccountView,
    pub session: &'a mut AccountView,
    pub hidden: &'a mut AccountView,
    pub input: &'a AccountView,
    pub magic_context: &'a AccountView,
    pub magic_program: &'a AccountView,
}

pub fn process(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
    if !data.is_empty() {
        return Err(WorldError::InvalidInstruction.into());
    }
    let [signer, payer, session, hidden, input, magic_context, magic_program, ..] = accounts else {
        return Err(ProgramError::NotEnoughAccountKeys);
    };
    let a = EndSession { signer, payer, session, hidden, input, magic_context, magic_program };
    sys::require_signer(a.signer)?;
    sys::require_signer(a.payer)?;
    check_session(a.session, program_id)?;
    {
        // SAFETY: read-only peek at the session; ends before the borrows below.
        let s = unsafe { a.session.borrow_unchecked() };
        check_hidden(a.hidden, s, program_id)?;
        check_input(a.input, s, program_id)?;
    }
    let (session_id, bump, cranked) = {
        // SAFETY: the only borrows of two distinct accounts (different discriminators); they end
        // before the CPIs below.
        let (s, h) = unsafe { (a.session.borrow_unchecked_mut(), a.hidden.borrow_unchecked_mut()) };
        may_end(s, a.signer.address().as_ref(), sys::now)?;
        s[2] = STATUS_ENDED;
        h[2] = 0; // next_step: no frame in flight
        h[3] = 0;
        wr_u64(h, 24, rd_u64(s, 24));
        let cranked = s[CRANK_OFFSET] == CRANK_SCHEDULED;
        s[CRANK_OFFSET] = CRANK_NONE;
        (rd_u64(s, 8).to_le_bytes(), [s[3]], cranked)
    };
    if cranked {
        let seeds = [Seed::from(SEED_SESSION), Seed::from(&session_id), Seed::from(&bump)];
        er::cancel_task(a.session, &seeds, a.magic_program, er::crank_task_id(a.session.address()))?;
    }
    // SAFETY: shrinking only (the runtime allows any decrease); no borrow of hidden is alive.
    unsafe { (*a.hidden.account_mut_ptr()).data_len = HIDDEN_HEADER as u64 };
    // One request per account: the ER sends each request as one base-chain transaction carrying
    // the accounts' bytes and, per account, the delegation program's records; with SessionState
    // (296 bytes) and another account in one, that transaction outgrows 1,232 bytes and the ER
    // falls back to its committor program, which the local base chain does not have (NOTES §4).
    er::schedule_commit(a.payer, a.magic_context, a.magic_program, &[&*a.session], true)?;
    er::schedule_commit(a.payer, a.magic_context, a.magic_program, &[&*a.hidden], true)?;
    er::schedule_commit(a.payer, a.magic_context, a.magic_program, &[a.input], true)
}
