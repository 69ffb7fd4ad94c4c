//! `delegate_session` (base chain): hand the session's three accounts to MagicBlock's delegation
//! program so that the ER whose identity is given may write them. Only a fresh session (frame 0,
//! no frame in flight, HiddenState grown to its full size) may be delegated: HiddenState is handed
//! over zero-filled (its contents are all zero before the first frame) and re-headed in the ER by
//! `init_hidden`; SessionState and InputBuffer are copied through their buffer PDAs.
//! Any player of the session may delegate it and pays the delegation records' rent.
use pinocchio::{error::ProgramError, AccountView, Address, ProgramResult};

use crate::er;
use crate::error::WorldError;
use crate::model::rd_u16;
use crate::state::*;
use crate::sys;

pub const DISCRIMINATOR: u8 = 8;

/// Accounts:
///   0. `[WRITE, SIGNER]` a player of the session (pays the delegation records' rent)
///   1. `[WRITE]`         SessionState   2. `[WRITE]` HiddenState   3. `[WRITE]` InputBuffer
///   4..=6. `[WRITE]`     buffer PDAs `[b"buffer", account]` of this program, same order
///   7..=9. `[WRITE]`     delegation records `[b"delegation", account]` of the delegation program
///   10..=12. `[WRITE]`   delegation metadata `[b"delegation-metadata", account]`
///   13. `[]`             the delegation program
///   14. `[]`             system program
///   15. `[]`             this program
///
/// Data (after the discriminator), 32 bytes: the ER validator's identity.
pub struct DelegateSession<'a> {
    pub player: &'a AccountView,
    pub session: &'a mut AccountView,
    pub hidden: &'a mut AccountView,
    pub input: &'a mut AccountView,
}

pub fn process(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
    if data.len() != 32 {
        return Err(WorldError::InvalidInstruction.into());
    }
    let [player, session, hidden, input, b_s, b_h, b_i, r_s, r_h, r_i, m_s, m_h, m_i, dlp, system, me, ..] =
        accounts
    else {
        return Err(ProgramError::NotEnoughAccountKeys);
    };
    let a = DelegateSession { player, session, hidden, input };
    sys::require_signer(a.player)?;
    sys::require_system_program(system)?;
    sys::check_owned(a.session, program_id, DISC_SESSION, SESSION_LEN)?;
    sys::check_owned(a.hidden, program_id, DISC_HIDDEN, HIDDEN_HEADER)?;
    sys::check_owned(a.input, program_id, DISC_INPUT, INPUT_LEN)?;
    let id = {
        // SAFETY: read-only peeks at three distinct accounts (different discriminators).
        let (s, h, i) = unsafe { (a.session.borrow_unchecked(), a.hidden.borrow_unchecked(), a.input.borrow_unchecked()) };
        same_session(s, h, i)?;
        let id = rd_u64(s, 8);
        let key = a.player.address().as_ref();
        if &s[PLAYER_OFFSET[0]..PLAYER_OFFSET[0] + 32] != key && &s[PLAYER_OFFSET[1]..PLAYER_OFFSET[1] + 32] != key {
            return Err(WorldError::Unauthorized.into());
        }
        let full_len = rd_u32(h, 4) as usize;
        if s[2] == STATUS_ENDED || rd_u64(s, 24) != 0 || rd_u16(h, 2) != 0 || a.hidden.data_len() != full_len {
            return Err(WorldError::SessionNotDelegatable.into());
        }
        id.to_le_bytes()
    };
    let mut validator = [0u8; 32];
    validator.copy_from_slice(data);
    let p = &*a.player;
    er::delegate(program_id, p, a.session, b_s, r_s, m_s, dlp, system, me, SEED_SESSION, &id, &validator, true)?;
    er::delegate(program_id, p, a.input, b_i, r_i, m_i, dlp, system, me, SEED_INPUT, &id, &validator, true)?;
    er::delegate(program_id, p, a.hidden, b_h, r_h, m_h, dlp, system, me, SEED_HIDDEN, &id, &validator, false)?;
    // The buffers' rent goes back to the player (after the last CPI of the instruction).
    er::close(b_s, p)?;
    er::close(b_i, p)
}
