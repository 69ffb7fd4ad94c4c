//! World-model program: an INT8 Mamba2 that advances a Melee game one frame per crank.
//!
//! The numeric contract: every kernel here follows `worldmodel/intref.py` bit for bit.
#![cfg_attr(not(test), no_std)]
#![cfg_attr(target_arch = "bpf", feature(asm_experimental_arch))]

pub mod er;
pub mod error;
pub mod forward;
pub mod instructions;
pub mod kernels;
pub mod model;
pub mod rules;
pub mod state;
pub mod sha256;
pub mod sys;

#[cfg(any(target_arch = "bpf", target_os = "solana"))]
mod entrypoint {
    use pinocchio::{AccountView, Address, ProgramResult};

    // At most 16 accounts are read (delegate_session's; run_inference reads 4 + up to 8 weight
    // shards): keeps the entrypoint's account array small on the stack.
    pinocchio::program_entrypoint!(process_instruction, 16);
    pinocchio::no_allocator!();
    pinocchio::nostd_panic_handler!();

    #[inline(always)]
    fn process_instruction(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
        crate::instructions::dispatch(program_id, accounts, data)
    }
}
