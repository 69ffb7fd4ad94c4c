//! `close_session`: delete the session's three accounts and return all their lamports
//! to the creator (player 1). A player may close at any time; anyone else only after
//! CLOSE_TIMEOUT_SECS seconds without activity (state.rs), so abandoned sessions do not
//! lock the creator's rent forever. The model's open-session count goes down by one.
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
///   5. `[WRITE]`  ModelManifest of the session's model
///
/// Data: none.
pub struct CloseSession<'a> {
    pub signer: &'a AccountView,
    pub creator: &'a mut AccountView,
    pub session: &'a mut AccountView,
    pub hidden: &'a mut AccountView,
    pub input: &'a mut AccountView,
    pub manifest: &'a mut AccountView,
}

pub fn process(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
    if !data.is_empty() {
        return Err(WorldError::InvalidInstruction.into());
    }
    let [signer, creator, session, hidden, input, manifest, ..] = accounts else {
        return Err(ProgramError::NotEnoughAccountKeys);
    };
    let a = CloseSession { signer, creator, session, hidden, input, manifest };
    sys::require_signer(a.signer)?;
    check_session(a.session, program_id)?;
    check_manifest(a.manifest, program_id)?;
    for acc in [&*a.creator, &*a.session, &*a.hidden, &*a.input, a.manifest] {
        sys::require_writable(acc)?;
    }
    {
        // SAFETY: read-only peeks at four distinct accounts (different discriminators).
        let (s, m) = unsafe { (a.session.borrow_unchecked(), a.manifest.borrow_unchecked()) };
        check_hidden(a.hidden, s, program_id)?;
        check_input(a.input, s, program_id)?;
        if &s[PLAYER_OFFSET[0]..PLAYER_OFFSET[0] + 32] != a.creator.address().as_ref() || rd_u64(m, 8) != rd_u64(s, 16) {
            return Err(WorldError::AccountMismatch.into());
        }
        may_end(s, a.signer.address().as_ref(), sys::now)?;
    }
    {
        // SAFETY: the only borrow of the manifest; distinct from the session's accounts.
        let m = unsafe { a.manifest.borrow_unchecked_mut() };
        let off = crate::instructions::create_session::OPEN_SESSIONS_OFFSET;
        wr_u32(m, off, rd_u32(m, off).saturating_sub(1));
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
