//! Instruction dispatch: the first byte of instruction data is the discriminator.
use pinocchio::{error::ProgramError, AccountView, Address, ProgramResult};

use crate::error::WorldError;

pub mod bench_matvec;
pub mod run_inference;

#[inline(always)]
pub fn dispatch(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
    let (disc, rest) = data.split_first().ok_or(ProgramError::from(WorldError::InvalidInstruction))?;
    match *disc {
        run_inference::DISCRIMINATOR => run_inference::process(program_id, accounts, rest),
        bench_matvec::DISCRIMINATOR => bench_matvec::process(accounts, rest),
        _ => Err(WorldError::InvalidInstruction.into()),
    }
}
