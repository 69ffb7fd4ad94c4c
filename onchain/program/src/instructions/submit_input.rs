//! `submit_input`: a player sets their own controller for a frame. Only the signer's
//! slot can be written; the frame must not be computed yet, at most MAX_INPUT_LEAD
//! frames ahead, and not older than the player's previous input. The input stays in
//! force for INPUT_HOLD_FRAMES frames, then reads as neutral (state.rs, input rule).
//! Writes only InputBuffer, so inputs never contend with the crank for SessionState.
use pinocchio::{error::ProgramError, AccountView, Address, ProgramResult};

use crate::error::WorldError;
use crate::state::*;
use crate::sys;

pub const DISCRIMINATOR: u8 = 5;

/// Accounts:
///   0. `[SIGNER]` the player of `slot`
///   1. `[]`       SessionState (active)
///   2. `[WRITE]`  InputBuffer of the session
///
/// Data (after the discriminator), 17 bytes:
///   0 u8 slot (0: player 1, 1: player 2) | 1 u64 frame | 9 ControllerInput (8 bytes)
pub struct SubmitInput<'a> {
    pub player: &'a AccountView,
    pub session: &'a AccountView,
    pub input: &'a mut AccountView,
}

pub fn process(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
    if data.len() != 17 || data[0] > 1 {
        return Err(WorldError::InvalidInstruction.into());
    }
    let [player, session, input, ..] = accounts else {
        return Err(ProgramError::NotEnoughAccountKeys);
    };
    let a = SubmitInput { player, session, input };
    let slot = data[0] as usize;
    let frame = rd_u64(data, 1);
    let ctrl = &data[9..17];
    sys::require_signer(a.player)?;
    check_session(a.session, program_id)?;
    sys::require_writable(a.input)?;
    if !ControllerInput::valid_bytes(ctrl) {
        return Err(WorldError::InvalidInput.into());
    }
    // SAFETY: read-only peek at the checked session.
    check_input(a.input, unsafe { a.session.borrow_unchecked() }, program_id)?;
    // SAFETY: distinct accounts (different discriminators); the only borrows.
    let (s, i) = unsafe { (a.session.borrow_unchecked(), a.input.borrow_unchecked_mut()) };
    if s[2] != STATUS_ACTIVE {
        return Err(WorldError::SessionNotActive.into());
    }
    if &s[PLAYER_OFFSET[slot]..PLAYER_OFFSET[slot] + 32] != a.player.address().as_ref() {
        return Err(WorldError::Unauthorized.into());
    }
    let now = rd_u64(s, 24);
    if frame < now || frame > now.saturating_add(MAX_INPUT_LEAD) || frame < rd_u64(i, INPUT_FRAME_OFFSET[slot]) {
        return Err(WorldError::StaleInput.into());
    }
    i[CONTROLLER_OFFSET[slot]..CONTROLLER_OFFSET[slot] + 8].copy_from_slice(ctrl);
    wr_u64(i, INPUT_FRAME_OFFSET[slot], frame);
    Ok(())
}
