//! `init_hidden` (in the ER): write the header of a HiddenState that arrived zero-filled by
//! delegation (`delegate_session`), so that `run_inference` accepts it. Only an all-zero
//! HiddenState at the session's PDA can be initialized, so a running session's state can
//! never be reset by it. Anyone may send it.
use pinocchio::{error::ProgramError, AccountView, Address, ProgramResult};

use crate::error::WorldError;
use crate::state::*;
use crate::sys;

pub const DISCRIMINATOR: u8 = 10;

/// Accounts:
///   0. `[]`      SessionState
///   1. `[WRITE]` HiddenState PDA `[b"hidden", session_id]`, all zero
///
/// Data: none.
pub struct InitHidden<'a> {
    pub session: &'a AccountView,
    pub hidden: &'a mut AccountView,
}

pub fn process(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
    if !data.is_empty() {
        return Err(WorldError::InvalidInstruction.into());
    }
    let [session, hidden, ..] = accounts else {
        return Err(ProgramError::NotEnoughAccountKeys);
    };
    let a = InitHidden { session, hidden };
    check_session(a.session, program_id)?;
    sys::require_writable(a.hidden)?;
    if !a.hidden.owned_by(program_id) || a.hidden.data_len() < HIDDEN_HEADER {
        return Err(WorldError::InvalidAccount.into());
    }
    // SAFETY: read-only peek; session is not written here and differs from hidden (checked
    // owner + discriminator above, hidden's first byte is verified zero below).
    let s = unsafe { a.session.borrow_unchecked() };
    let (session_id, model_id, frame) = (rd_u64(s, 8), rd_u64(s, 16), rd_u64(s, 24));
    check_hidden_address(a.hidden, s, program_id)?;
    let len = a.hidden.data_len();
    // SAFETY: the only borrow of hidden's data; distinct from session (different PDAs).
    let h = unsafe { a.hidden.borrow_unchecked_mut() };
    if h.iter().any(|&b| b != 0) {
        return Err(WorldError::AlreadyInitialized.into());
    }
    h[0] = DISC_HIDDEN;
    h[1] = VERSION;
    wr_u32(h, 4, len as u32);
    wr_u64(h, 8, session_id);
    wr_u64(h, 16, model_id);
    wr_u64(h, 24, frame);
    Ok(())
}
