//! The delegation program's callback at undelegation (base chain): it has closed the delegated
//! account and now asks its owner to recreate it with the committed bytes. Data: the 8-byte
//! discriminator [196, 28, 41, 206, 48, 37, 51, 167], then borsh `Vec<Vec<u8>>` seeds of the
//! account. The account is recreated under this program at the PDA of those seeds, the payer
//! funding exactly the rent-exempt minimum, and filled from the buffer.
//!
//! The delegation program signs for any account it owns, including keypair accounts handed to it
//! through its own `Delegate` (which skips its seeds check for a non-PDA), so "owned by the
//! delegation program and signed" proves nothing. Accepted: only the delegation program's
//! undelegate buffer of this very account (`["undelegate-buffer", account]` under it), holding
//! one of this program's accounts whose discriminator matches the seed name and whose stored
//! id is the seed id. Anything else is refused and nothing is created.
use pinocchio::{cpi::Seed, error::ProgramError, AccountView, Address, ProgramResult};

use crate::er;
use crate::error::WorldError;
use crate::state::*;
use crate::sys;

/// Accounts:
///   0. `[WRITE]`         the account being undelegated (closed by the delegation program)
///   1. `[SIGNER]`        the delegation program's undelegate buffer of account 0
///                        (`["undelegate-buffer", account]`), holding the committed bytes
///   2. `[WRITE, SIGNER]` payer
///   3. `[]`              system program
///
/// Data: see above; only this program's own seeds (`session`, `hidden`, `input` + u64 id).
pub struct UndelegateCallback<'a> {
    pub account: &'a mut AccountView,
    pub buffer: &'a AccountView,
    pub payer: &'a AccountView,
    pub system_program: &'a AccountView,
}

pub fn process(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
    let [account, buffer, payer, system_program, ..] = accounts else {
        return Err(ProgramError::NotEnoughAccountKeys);
    };
    let a = UndelegateCallback { account, buffer, payer, system_program };
    // Only the delegation program can sign for its own buffer.
    sys::require_signer(a.buffer)?;
    if !a.buffer.owned_by(&er::DELEGATION_PROGRAM) {
        return Err(WorldError::Unauthorized.into());
    }
    sys::require_signer(a.payer)?;
    sys::require_system_program(a.system_program)?;
    // data: disc(8) | u32 n=2 | u32 len | seed | u32 8 | id
    if data.len() < 8 + 4 + 4 || data[..8] != er::UNDELEGATE_CALLBACK || rd_u32(data, 8) != 2 {
        return Err(WorldError::InvalidInstruction.into());
    }
    let n0 = rd_u32(data, 12) as usize;
    if data.len() != 16 + n0 + 4 + 8 || rd_u32(data, 16 + n0) != 8 {
        return Err(WorldError::InvalidInstruction.into());
    }
    let seed = &data[16..16 + n0];
    if seed != SEED_SESSION && seed != SEED_HIDDEN && seed != SEED_INPUT {
        return Err(WorldError::InvalidPda.into());
    }
    let id = &data[20 + n0..28 + n0];
    let bump = [sys::expect_pda(a.account, &[seed, id], program_id)?];
    let (buffer_address, _) = sys::find_pda(&[er::SEED_UNDELEGATE_BUFFER, a.account.address().as_ref()], &er::DELEGATION_PROGRAM);
    if a.buffer.address() != &buffer_address {
        return Err(WorldError::Unauthorized.into());
    }
    let (disc, min_len, max_len) = match seed {
        SEED_SESSION => (DISC_SESSION, SESSION_LEN, SESSION_LEN),
        SEED_INPUT => (DISC_INPUT, INPUT_LEN, INPUT_LEN),
        _ => (DISC_HIDDEN, HIDDEN_HEADER, usize::MAX),
    };
    let len = a.buffer.data_len();
    {
        // SAFETY: read-only peek at the buffer (a different account from `account`).
        let b = unsafe { a.buffer.borrow_unchecked() };
        if len < min_len || len > max_len || b[0] != disc || b[1] != VERSION || &b[8..16] != id {
            return Err(WorldError::AccountMismatch.into());
        }
    }
    let seeds = [Seed::from(seed), Seed::from(id), Seed::from(&bump)];
    sys::create_pda(a.payer, a.account, len, program_id, &seeds)?;
    // SAFETY: the account was just created with `len` bytes; the buffer is a different account.
    unsafe { a.account.borrow_unchecked_mut().copy_from_slice(a.buffer.borrow_unchecked()) };
    Ok(())
}
