//! `delegate_session` (base chain): hand the session's three accounts to MagicBlock's delegation
//! program so that the ER validator the creator named in create_session (SessionState bytes
//! 184..216) may write them. Neither player chooses the validator here, so player 2 cannot hand a
//! fresh session to a validator nobody runs and lock the creator's rent: a session delegated to
//! the creator's own validator comes back through that validator (end_session), and a restarted
//! ER with the same identity serves it from its last commit. Only a fresh session (frame 0,
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
/// Data: none (the validator is the session's).
pub struct DelegateSession<'a> {
    pub player: &'a AccountView,
    pub session: &'a mut AccountView,
    pub hidden: &'a mut AccountView,
    pub input: &'a mut AccountView,
}

pub fn process(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
    if !data.is_empty() {
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
    check_session(a.session, program_id)?;
    let mut validator = [0u8; 32];
    let id = {
        // SAFETY: read-only peeks at three distinct accounts (different discriminators).
        let (s, h) = unsafe { (a.session.borrow_unchecked(), a.hidden.borrow_unchecked()) };
        check_hidden(a.hidden, s, program_id)?;
        check_input(a.input, s, program_id)?;
        let id = rd_u64(s, 8);
        let key = a.player.address().as_ref();
        if &s[PLAYER_OFFSET[0]..PLAYER_OFFSET[0] + 32] != key && &s[PLAYER_OFFSET[1]..PLAYER_OFFSET[1] + 32] != key {
            return Err(WorldError::Unauthorized.into());
        }
        let full_len = rd_u32(h, 4) as usize;
        validator.copy_from_slice(&s[VALIDATOR_OFFSET..VALIDATOR_OFFSET + 32]);
        if s[2] == STATUS_ENDED || rd_u64(s, 24) != 0 || rd_u16(h, 2) != 0 || a.hidden.data_len() != full_len
            || validator.iter().all(|&b| b == 0)
        {
            return Err(WorldError::SessionNotDelegatable.into());
        }
        id.to_le_bytes()
    };
    let p = &*a.player;
    er::delegate(program_id, p, a.session, b_s, r_s, m_s, dlp, system, me, SEED_SESSION, &id, &validator, true)?;
    er::delegate(program_id, p, a.input, b_i, r_i, m_i, dlp, system, me, SEED_INPUT, &id, &validator, true)?;
    er::delegate(program_id, p, a.hidden, b_h, r_h, m_h, dlp, system, me, SEED_HIDDEN, &id, &validator, false)?;
    // The buffers' rent goes back to the player (after the last CPI of the instruction).
    er::close(b_s, p)?;
    er::close(b_i, p)
}
