//! `join_session`: take the player 2 slot of a waiting session; it becomes active. When the
//! creator invited a key (create_session), only that key may join.
use pinocchio::{error::ProgramError, AccountView, Address, ProgramResult};

use crate::error::WorldError;
use crate::state::*;
use crate::sys;

pub const DISCRIMINATOR: u8 = 4;

/// Accounts:
///   0. `[SIGNER]` player 2 (the invited key, or any key but player 1's when none was invited)
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
    check_session(a.session, program_id)?;
    sys::require_writable(a.session)?;
    // SAFETY: distinct accounts (different discriminators); the only borrows.
    let (s, h) = unsafe { (a.session.borrow_unchecked_mut(), a.hidden.borrow_unchecked()) };
    check_hidden(a.hidden, s, program_id)?;
    let me = a.player.address().as_ref();
    if s[2] != STATUS_WAITING || &s[PLAYER_OFFSET[0]..PLAYER_OFFSET[0] + 32] == me {
        return Err(WorldError::SessionNotJoinable.into());
    }
    let invited = &s[PLAYER_OFFSET[1]..PLAYER_OFFSET[1] + 32];
    if invited.iter().any(|&b| b != 0) && invited != me {
        return Err(WorldError::Unauthorized.into());
    }
    if h.len() != rd_u32(h, 4) as usize {
        return Err(WorldError::HiddenNotReady.into());
    }
    s[PLAYER_OFFSET[1]..PLAYER_OFFSET[1] + 32].copy_from_slice(a.player.address().as_ref());
    s[2] = STATUS_ACTIVE;
    wr_u64(s, LAST_ACTIVE_OFFSET, sys::now() as u64);
    Ok(())
}
