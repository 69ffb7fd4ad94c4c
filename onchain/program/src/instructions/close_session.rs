//! `close_session`: delete the session's three accounts and return all their lamports
//! to the creator (player 1). A player may close at any time; anyone else only after
//! CLOSE_TIMEOUT_SLOTS slots without activity (state.rs), so abandoned sessions do not
//! lock the creator's rent forever.
use pinocchio::{error::ProgramError, AccountView, Address, ProgramResult};

use crate::error::WorldError;
use crate::state::*;
use crate::sys;

pub const DISCRIMINATOR: u8 = 7;

/// Accounts:
///   0. `[SIGNER]` a player, or anyone after the timeout
///   1. `[WRITE]`  creator (player 1): receives the rent
///   2. `[WRITE]`  SessionState
///   3. `[WRITE]`  HiddenState of the session
///   4. `[WRITE]`  InputBuffer of the session
///
/// Data: none.
pub struct CloseSession<'a> {
    pub signer: &'a AccountView,
    pub creator: &'a mut AccountView,
    pub session: &'a mut AccountView,
    pub hidden: &'a mut AccountView,
    pub input: &'a mut AccountView,
}

pub fn process(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
    if !data.is_empty() {
        return Err(WorldError::InvalidInstruction.into());
    }
    let [signer, creator, session, hidden, input, ..] = accounts else {
        return Err(ProgramError::NotEnoughAccountKeys);
    };
    let a = CloseSession { signer, creator, session, hidden, input };
    sys::require_signer(a.signer)?;
    sys::check_owned(a.session, program_id, DISC_SESSION, SESSION_LEN)?;
    sys::check_owned(a.hidden, program_id, DISC_HIDDEN, 32)?;
    sys::check_owned(a.input, program_id, DISC_INPUT, INPUT_LEN)?;
    for acc in [&*a.creator, &*a.session, &*a.hidden, &*a.input] {
        sys::require_writable(acc)?;
    }
    {
        // SAFETY: read-only peeks at three distinct accounts (different discriminators).
        let (s, h, i) = unsafe { (a.session.borrow_unchecked(), a.hidden.borrow_unchecked(), a.input.borrow_unchecked()) };
        same_session(s, h, i)?;
        if &s[PLAYER_OFFSET[0]..PLAYER_OFFSET[0] + 32] != a.creator.address().as_ref() {
            return Err(WorldError::AccountMismatch.into());
        }
        may_end(s, a.signer.address().as_ref(), sys::current_slot)?;
    }
    let total = a.session.lamports() + a.hidden.lamports() + a.input.lamports();
    a.creator.set_lamports(a.creator.lamports() + total);
    for acc in [&mut *a.session, &mut *a.hidden, &mut *a.input] {
        acc.set_lamports(0);
        // SAFETY: no borrow of these accounts' data is alive (the block above ended);
        // their lamports were moved to the creator first, as close requires.
        unsafe { acc.close_unchecked() };
    }
    Ok(())
}
