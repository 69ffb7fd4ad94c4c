//! `join_session`: take the player 2 slot of a waiting session; it becomes active.
use pinocchio::{error::ProgramError, AccountView, Address, ProgramResult};

use crate::error::WorldError;
use crate::state::*;
use crate::sys;

pub const DISCRIMINATOR: u8 = 4;

/// Accounts:
///   0. `[SIGNER]` player 2 (any key but player 1's)
///   1. `[WRITE]`  SessionState (waiting)
///   2. `[]`       HiddenState of the session (grown to its full size)
///
/// Data: none.
pub struct JoinSession<'a> {
    pub player: &'a AccountView,
    pub session: &'a mut AccountView,
    pub hidden: &'a AccountView,
}

pub fn process(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
    if !data.is_empty() {
        return Err(WorldError::InvalidInstruction.into());
    }
    let [player, session, hidden, ..] = accounts else {
        return Err(ProgramError::NotEnoughAccountKeys);
    };
    let a = JoinSession { player, session, hidden };
    sys::require_signer(a.player)?;
    sys::check_owned(a.session, program_id, DISC_SESSION, SESSION_LEN)?;
    sys::require_writable(a.session)?;
    sys::check_owned(a.hidden, program_id, DISC_HIDDEN, 32)?;
    // SAFETY: distinct accounts (different discriminators); the only borrows.
    let (s, h) = unsafe { (a.session.borrow_unchecked_mut(), a.hidden.borrow_unchecked()) };
    if rd_u64(h, 8) != rd_u64(s, 8) {
        return Err(WorldError::AccountMismatch.into());
    }
    if s[2] != STATUS_WAITING || &s[PLAYER_OFFSET[0]..PLAYER_OFFSET[0] + 32] == a.player.address().as_ref() {
        return Err(WorldError::SessionNotJoinable.into());
    }
    if h.len() != rd_u32(h, 4) as usize {
        return Err(WorldError::HiddenNotReady.into());
    }
    s[PLAYER_OFFSET[1]..PLAYER_OFFSET[1] + 32].copy_from_slice(a.player.address().as_ref());
    s[2] = STATUS_ACTIVE;
    wr_u64(s, LAST_ACTIVE_SLOT_OFFSET, sys::current_slot());
    Ok(())
}
