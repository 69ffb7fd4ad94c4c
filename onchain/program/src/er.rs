//! MagicBlock Ephemeral Rollup plumbing: the delegation program's `Delegate` CPI, the Magic
//! program's commit requests, and closing a program account. Layouts follow the delegation
//! program shipped with `@magicblock-labs/ephemeral-validator` 0.8.3 (NOTES §4), built by hand.
//!
//! Delegate (delegation program, discriminator u64 0), data:
//!   u64 0 | u32 commit_frequency_ms | u32 n_seeds | n × (u32 len | bytes) | Option<Pubkey> validator
//!   accounts: payer [WRITE, SIGNER], delegated [WRITE, SIGNER (PDA seeds), owned by the delegation
//!   program], owner program [], buffer `["buffer", delegated]` of the owner program [WRITE],
//!   delegation record [WRITE], delegation metadata [WRITE], system program [].
//! ScheduleCommit (Magic program, bincode u32 1) / ScheduleCommitAndUndelegate (u32 2):
//!   accounts: payer [WRITE, SIGNER], MagicContext [WRITE], then the accounts to commit (owned by
//!   the calling program).
//! ScheduleTask (Magic program, bincode variant u32 6), data:
//!   u32 6 | i64 task_id | i64 execution_interval_millis | i64 iterations | u64 n_instructions |
//!   n × (Instruction: [32] program_id | u64 n_accounts | n × ([32] pubkey | u8 is_signer |
//!   u8 is_writable) | u64 data_len | data)
//!   accounts: authority [WRITE, SIGNER] (the task's owner: only it may cancel or replace the task),
//!   then every account the task's instructions name (the authority itself is not counted).
//!   The task's instructions may have no signer but the validator's identity; the ER's scheduler
//!   sends them as a transaction paid and signed by the validator (preceded by a Magic `Noop`), so
//!   a task instruction that names the identity as a signer gets its signature.
//! CancelTask (Magic program, bincode variant u32 7), data: u32 7 | i64 task_id;
//!   accounts: authority [WRITE, SIGNER].
//! Both only queue a request: the scheduler applies it after the transaction succeeds. Verified
//! against the 0.8.3 binary (the variant indices, the layout, the scheduler's behaviour): README
//! "The crank".
use pinocchio::{
    cpi::{invoke_signed, invoke_signed_with_bounds, Seed, Signer},
    error::ProgramError,
    instruction::{InstructionAccount, InstructionView},
    AccountView, Address, ProgramResult,
};

use crate::error::WorldError;
use crate::sys;

/// `DELeGGvXpWV2fqJUhqcF5ZSYMS4JTLjteaAMARRSaeSh`
pub const DELEGATION_PROGRAM: Address = Address::new_from_array([
    181, 183, 0, 225, 242, 87, 58, 192, 204, 6, 34, 1, 52, 74, 207, 151, 184, 53, 6, 235, 140, 229, 25, 152, 204,
    98, 126, 24, 147, 128, 167, 62,
]);
/// `Magic11111111111111111111111111111111111111`
pub const MAGIC_PROGRAM: Address = Address::new_from_array([
    5, 69, 180, 36, 176, 218, 112, 149, 236, 185, 214, 222, 195, 119, 215, 40, 145, 182, 231, 142, 146, 234, 18, 214,
    223, 187, 58, 64, 0, 0, 0, 0,
]);
/// `MagicContext1111111111111111111111111111111`
pub const MAGIC_CONTEXT: Address = Address::new_from_array([
    5, 69, 180, 36, 196, 165, 40, 191, 95, 180, 3, 47, 68, 82, 130, 142, 187, 56, 171, 193, 210, 220, 151, 247, 63,
    139, 148, 84, 128, 0, 0, 0,
]);

pub const SEED_BUFFER: &[u8] = b"buffer";
/// The delegation program's PDA `["undelegate-buffer", account]`: the committed bytes it hands
/// back at undelegation.
pub const SEED_UNDELEGATE_BUFFER: &[u8] = b"undelegate-buffer";
/// The delegation program calls this back into the owner program at undelegation.
pub const UNDELEGATE_CALLBACK: [u8; 8] = [196, 28, 41, 206, 48, 37, 51, 167];

const SCHEDULE_COMMIT: u32 = 1;
const SCHEDULE_COMMIT_AND_UNDELEGATE: u32 = 2;
const SCHEDULE_TASK: u32 = 6;
const CANCEL_TASK: u32 = 7;

/// `ComputeBudget111111111111111111111111111111`
pub const COMPUTE_BUDGET_PROGRAM: Address = Address::new_from_array([
    3, 6, 70, 111, 229, 33, 23, 50, 255, 236, 173, 186, 114, 195, 155, 231, 188, 140, 229, 187, 197, 247, 18, 107, 44,
    67, 155, 58, 64, 0, 0, 0,
]);
/// ComputeBudget `SetComputeUnitLimit(1_400_000)`: a scheduled transaction has no other way to
/// ask for more than the default 200,000 CU per instruction.
const SET_CU_LIMIT_MAX: [u8; 5] = [2, 0xc0, 0x5c, 0x15, 0x00];
/// Accounts a task instruction may name here (run_inference: 5 + MAX_SHARDS).
pub const MAX_TASK_ACCOUNTS: usize = 5 + crate::model::MAX_SHARDS;
/// run_inference's data in a task: discriminator + 10 bytes.
pub const TASK_IX_DATA: usize = 11;

/// Hand `acc` (this program's PDA of `[seed, id]`) to the delegation program with the ER
/// `validator` as its only writer. Its bytes travel through the buffer PDA: a change of owner
/// needs zeroed data, and `Delegate` copies the buffer back into the account.
///
/// The buffer stays; close it with `close` once every delegation of the instruction is done.
/// `copy_data` false delegates the account zero-filled with an empty buffer (used for
/// HiddenState, whose contents are all zero before the first frame and which is larger than
/// an account created by CPI may be).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub fn delegate(
    program_id: &Address,
    payer: &AccountView,
    acc: &mut AccountView,
    buffer: &mut AccountView,
    record: &AccountView,
    metadata: &AccountView,
    delegation_program: &AccountView,
    system_program: &AccountView,
    owner_program: &AccountView,
    seed: &[u8],
    id: &[u8; 8],
    validator: &[u8; 32],
    copy_data: bool,
) -> ProgramResult {
    if delegation_program.address() != &DELEGATION_PROGRAM || owner_program.address() != program_id {
        return Err(WorldError::InvalidAccount.into());
    }
    let bump = [sys::expect_pda(acc, &[seed, id], program_id)?];
    let buf_bump = [sys::expect_pda(buffer, &[SEED_BUFFER, acc.address().as_ref()], program_id)?];
    let len = acc.data_len();
    if copy_data {
        let seeds = [Seed::from(SEED_BUFFER), Seed::from(acc.address().as_ref()), Seed::from(&buf_bump)];
        sys::create_pda(payer, buffer, len, program_id, &seeds)?;
        // SAFETY: `acc` and `buffer` are distinct accounts (the buffer's address derives from
        // acc's), both writable and not otherwise borrowed; the buffer was created with `len` bytes.
        unsafe {
            buffer.borrow_unchecked_mut().copy_from_slice(acc.borrow_unchecked());
        }
    }
    // SAFETY: no borrow of acc's data or owner is alive; a zeroed, writable, program-owned
    // account may be given to another owner.
    unsafe {
        core::ptr::write_bytes(acc.data_mut_ptr(), 0, len);
        acc.assign(&DELEGATION_PROGRAM);
    }

    // Delegate instruction data: 8 + 4 + 4 + (4 + seed) + (4 + 8) + 1 + 32 bytes.
    let mut data = [0u8; 8 + 4 + 4 + 4 + 16 + 4 + 8 + 33];
    let mut o = 8; // discriminator u64 0
    data[o..o + 4].copy_from_slice(&0u32.to_le_bytes()); // commit_frequency_ms: commits on demand
    o += 4;
    data[o..o + 4].copy_from_slice(&2u32.to_le_bytes());
    o += 4;
    if seed.len() > 16 {
        return Err(WorldError::InvalidInstruction.into());
    }
    data[o..o + 4].copy_from_slice(&(seed.len() as u32).to_le_bytes());
    o += 4;
    data[o..o + seed.len()].copy_from_slice(seed);
    o += seed.len();
    data[o..o + 4].copy_from_slice(&8u32.to_le_bytes());
    o += 4;
    data[o..o + 8].copy_from_slice(id);
    o += 8;
    data[o] = 1; // Some(validator)
    data[o + 1..o + 33].copy_from_slice(validator);
    o += 33;

    let metas = [
        InstructionAccount::writable_signer(payer.address()),
        InstructionAccount::writable_signer(acc.address()),
        InstructionAccount::readonly(owner_program.address()),
        InstructionAccount::writable(buffer.address()),
        InstructionAccount::writable(record.address()),
        InstructionAccount::writable(metadata.address()),
        InstructionAccount::readonly(system_program.address()),
    ];
    let ix = InstructionView { program_id: &DELEGATION_PROGRAM, data: &data[..o], accounts: &metas };
    let seeds = [Seed::from(seed), Seed::from(id), Seed::from(&bump)];
    invoke_signed(&ix, &[&*payer, &*acc, owner_program, &*buffer, record, metadata, system_program],
                  &[Signer::from(&seeds[..])])?;

    Ok(())
}

/// Move all of `acc`'s lamports to `to` and close it (this program's account).
pub fn close(acc: &mut AccountView, to: &AccountView) -> ProgramResult {
    let lamports = acc.lamports();
    // SAFETY: `to` is writable and distinct from `acc`; lamports are moved before the close,
    // so the instruction stays balanced; no borrow of acc is alive.
    unsafe {
        let to_ptr = to as *const AccountView as *mut AccountView;
        (*to_ptr).set_lamports((*to_ptr).lamports() + lamports);
        acc.set_lamports(0);
        acc.close_unchecked();
    }
    Ok(())
}

/// Ask the ER to commit `accounts` (owned by this program) to the base chain, and with
/// `undelegate` to give them back to this program there afterwards.
#[inline(always)]
pub fn schedule_commit(
    payer: &AccountView,
    magic_context: &AccountView,
    magic_program: &AccountView,
    accounts: &[&AccountView],
    undelegate: bool,
) -> ProgramResult {
    if magic_program.address() != &MAGIC_PROGRAM || magic_context.address() != &MAGIC_CONTEXT {
        return Err(WorldError::InvalidAccount.into());
    }
    if accounts.len() > 3 {
        return Err(ProgramError::InvalidArgument);
    }
    let data = if undelegate { SCHEDULE_COMMIT_AND_UNDELEGATE } else { SCHEDULE_COMMIT }.to_le_bytes();
    let mut views: [&AccountView; 5] = [payer; 5];
    views[1] = magic_context;
    for (k, acc) in accounts.iter().enumerate() {
        views[2 + k] = acc;
    }
    let metas = [
        InstructionAccount::writable_signer(payer.address()),
        InstructionAccount::writable(magic_context.address()),
        InstructionAccount::writable(views[2].address()),
        InstructionAccount::writable(views[3].address()),
        InstructionAccount::writable(views[4].address()),
    ];
    let n = 2 + accounts.len();
    let ix = InstructionView { program_id: &MAGIC_PROGRAM, data: &data, accounts: &metas[..n] };
    invoke_signed_with_bounds::<5, _>(&ix, &views[..n], &[])
}

/// The scheduler's id for `session`'s crank task: the first 8 bytes of the SessionState address
/// (little-endian i64). Task ids are global to the ER, so an id taken from the address keeps clear
/// of other programs' small ids.
pub fn crank_task_id(session: &Address) -> i64 {
    let b = session.as_ref();
    i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

/// Ask the ER's scheduler to run `[SetComputeUnitLimit(1.4M), program_id(task_data)]` every
/// `interval_ms` milliseconds, `iterations` times, under task id `task_id`. `authority` (a PDA of
/// this program, signed with `authority_seeds`) owns the task. `task_accounts` are the task
/// instruction's accounts as (account, is_signer, is_writable); the only signer a task may have is
/// the ER validator's identity.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub fn schedule_task(
    program_id: &Address,
    authority: &AccountView,
    authority_seeds: &[Seed],
    magic_program: &AccountView,
    task_id: i64,
    interval_ms: u32,
    iterations: u64,
    task_accounts: &[(&AccountView, bool, bool)],
    task_data: &[u8; TASK_IX_DATA],
) -> ProgramResult {
    if magic_program.address() != &MAGIC_PROGRAM {
        return Err(WorldError::InvalidAccount.into());
    }
    let n = task_accounts.len();
    if n > MAX_TASK_ACCOUNTS || iterations == 0 || iterations > i64::MAX as u64 {
        return Err(ProgramError::InvalidArgument);
    }
    // 4 + 24 + 8 | compute budget ix 32 + 8 + 8 + 5 | task ix 32 + 8 + n × 34 + 8 + 11
    const CAP: usize = 36 + 53 + 59 + MAX_TASK_ACCOUNTS * 34;
    let mut data = [0u8; CAP];
    let mut o = 0;
    let mut put = |bytes: &[u8]| {
        data[o..o + bytes.len()].copy_from_slice(bytes);
        o += bytes.len();
    };
    put(&SCHEDULE_TASK.to_le_bytes());
    put(&task_id.to_le_bytes());
    put(&(interval_ms as i64).to_le_bytes());
    put(&(iterations as i64).to_le_bytes());
    put(&2u64.to_le_bytes());
    put(COMPUTE_BUDGET_PROGRAM.as_ref());
    put(&0u64.to_le_bytes());
    put(&(SET_CU_LIMIT_MAX.len() as u64).to_le_bytes());
    put(&SET_CU_LIMIT_MAX);
    put(program_id.as_ref());
    put(&(n as u64).to_le_bytes());
    for (acc, signer, writable) in task_accounts {
        put(acc.address().as_ref());
        put(&[*signer as u8, *writable as u8]);
    }
    put(&(TASK_IX_DATA as u64).to_le_bytes());
    put(task_data);
    let len = o;

    // The authority first (the payer slot), then the task's accounts again: the Magic program
    // checks the task's accounts against those after the first.
    let mut views: [&AccountView; 1 + MAX_TASK_ACCOUNTS] = [authority; 1 + MAX_TASK_ACCOUNTS];
    for (k, (acc, _, _)) in task_accounts.iter().enumerate() {
        views[1 + k] = acc;
    }
    let metas: [InstructionAccount; 1 + MAX_TASK_ACCOUNTS] = core::array::from_fn(|k| {
        if k == 0 {
            InstructionAccount::writable_signer(authority.address())
        } else {
            InstructionAccount::readonly(views[k].address())
        }
    });
    let ix = InstructionView { program_id: &MAGIC_PROGRAM, data: &data[..len], accounts: &metas[..1 + n] };
    invoke_signed_with_bounds::<{ 1 + MAX_TASK_ACCOUNTS }, _>(&ix, &views[..1 + n], &[Signer::from(authority_seeds)])
}

/// Ask the ER's scheduler to drop task `task_id` of `authority` (a PDA of this program signed
/// with `authority_seeds`). Unknown ids are fine: the scheduler ignores them.
#[inline(always)]
pub fn cancel_task(
    authority: &AccountView,
    authority_seeds: &[Seed],
    magic_program: &AccountView,
    task_id: i64,
) -> ProgramResult {
    if magic_program.address() != &MAGIC_PROGRAM {
        return Err(WorldError::InvalidAccount.into());
    }
    let mut data = [0u8; 12];
    data[..4].copy_from_slice(&CANCEL_TASK.to_le_bytes());
    data[4..].copy_from_slice(&task_id.to_le_bytes());
    let metas = [InstructionAccount::writable_signer(authority.address())];
    let ix = InstructionView { program_id: &MAGIC_PROGRAM, data: &data, accounts: &metas };
    invoke_signed(&ix, &[authority], &[Signer::from(authority_seeds)])
}
