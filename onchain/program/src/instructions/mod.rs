//! Instruction dispatch: the first byte of instruction data is the discriminator
//! (0..=7 and 16 the program, 8..=13 the ER's session instructions, 14..=15 reserved for the ER).
//! The kernel benchmark (32) exists only in the benchmark build (`--features bench`,
//! build/world_model_bench.so): it writes wherever the caller says, so the deployed program must
//! not have it.
use pinocchio::{error::ProgramError, AccountView, Address, ProgramResult};

use crate::error::WorldError;

#[cfg(feature = "bench")]
pub mod bench_matvec;
pub mod cancel_crank;
pub mod close_model;
pub mod close_session;
pub mod commit_session;
pub mod create_session;
pub mod delegate_session;
pub mod end_session;
pub mod finalize_weights;
pub mod init_hidden;
pub mod init_manifest;
pub mod join_session;
pub mod run_inference;
pub mod schedule_crank;
pub mod submit_input;
pub mod undelegate_callback;
pub mod upload_weights;

#[inline(always)]
pub fn dispatch(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
    if data.len() >= 8 && data[..8] == crate::er::UNDELEGATE_CALLBACK {
        return undelegate_callback::process(program_id, accounts, data);
    }
    let (disc, rest) = data.split_first().ok_or(ProgramError::from(WorldError::InvalidInstruction))?;
    match *disc {
        init_manifest::DISCRIMINATOR => init_manifest::process(program_id, accounts, rest),
        upload_weights::DISCRIMINATOR => upload_weights::process(program_id, accounts, rest),
        finalize_weights::DISCRIMINATOR => finalize_weights::process(program_id, accounts, rest),
        create_session::DISCRIMINATOR => create_session::process(program_id, accounts, rest),
        join_session::DISCRIMINATOR => join_session::process(program_id, accounts, rest),
        submit_input::DISCRIMINATOR => submit_input::process(program_id, accounts, rest),
        run_inference::DISCRIMINATOR => run_inference::process(program_id, accounts, rest),
        close_session::DISCRIMINATOR => close_session::process(program_id, accounts, rest),
        delegate_session::DISCRIMINATOR => delegate_session::process(program_id, accounts, rest),
        commit_session::DISCRIMINATOR => commit_session::process(program_id, accounts, rest),
        init_hidden::DISCRIMINATOR => init_hidden::process(program_id, accounts, rest),
        end_session::DISCRIMINATOR => end_session::process(program_id, accounts, rest),
        schedule_crank::DISCRIMINATOR => schedule_crank::process(program_id, accounts, rest),
        cancel_crank::DISCRIMINATOR => cancel_crank::process(program_id, accounts, rest),
        // 14..=15 stay reserved for the ER; the delegation program's undelegate callback (its
        // 8-byte discriminator) is routed above.
        close_model::DISCRIMINATOR => close_model::process(program_id, accounts, rest),
        #[cfg(feature = "bench")]
        bench_matvec::DISCRIMINATOR => bench_matvec::process(accounts, rest),
        _ => Err(WorldError::InvalidInstruction.into()),
    }
}
