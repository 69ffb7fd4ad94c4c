//! `upload_weights`: write one chunk of a weights shard (authority only, before
//! finalize). The shard account is created by the first chunk and grows as chunks
//! arrive, at most 10,240 bytes per instruction, so chunks go in roughly ascending
//! order; a chunk may be re-sent (it overwrites), which makes uploads resumable.
//! Refused while a multi-transaction finalize is under way, so the bytes hashed so far
//! cannot change behind it.
use pinocchio::{cpi::Seed, error::ProgramError, AccountView, Address, ProgramResult};

use crate::error::WorldError;
use crate::model::{rd_u16, SHARD_BYTES};
use crate::state::*;
use crate::sys;

pub const DISCRIMINATOR: u8 = 1;

/// Accounts:
///   0. `[WRITE, SIGNER]` authority (pays the rent as the shard grows)
///   1. `[]`              ModelManifest (not finalized)
///   2. `[WRITE]`         ModelWeights PDA `[b"weights", model_id, shard]`
///   3. `[]`              system program
///
/// Data (after the discriminator):
///   0 u16 shard | 2 u32 offset (within the shard) | 6.. chunk bytes (at least one)
pub struct UploadWeights<'a> {
    pub authority: &'a AccountView,
    pub manifest: &'a AccountView,
    pub weights: &'a mut AccountView,
    pub system_program: &'a AccountView,
}

/// Bytes of shard `k` in a blob of `wlen` bytes (0 when the blob has no such shard).
pub fn shard_len(wlen: usize, k: usize) -> usize {
    let start = k * SHARD_BYTES;
    if start >= wlen { 0 } else { core::cmp::min(SHARD_BYTES, wlen - start) }
}

/// Checks shared with finalize: the manifest is this program's, signed for by its
/// authority and still open. Returns (model_id, weights_len).
pub fn open_manifest(program_id: &Address, manifest: &AccountView, authority: &AccountView) -> Result<(u64, usize), WorldError> {
    sys::require_signer(authority)?;
    check_manifest(manifest, program_id)?;
    // SAFETY: read-only view; no mutable borrow of the manifest is alive.
    let m = unsafe { manifest.borrow_unchecked() };
    if &m[16..48] != authority.address().as_ref() {
        return Err(WorldError::Unauthorized);
    }
    if m[2] != 0 {
        return Err(WorldError::AlreadyFinalized);
    }
    let man_len = rd_u32(m, 52) as usize;
    if man_len < 64 || m.len() != ACCOUNT_HEADER + man_len + HASH_PROGRESS_LEN {
        return Err(WorldError::InvalidManifest);
    }
    Ok((rd_u64(m, 8), rd_u32(m, ACCOUNT_HEADER + 28) as usize))
}

/// Bytes of the blob a multi-transaction finalize has hashed so far (0: none).
pub fn hashed_so_far(manifest: &AccountView) -> u64 {
    // SAFETY: read-only peek; open_manifest checked the account's length.
    let m = unsafe { manifest.borrow_unchecked() };
    rd_u64(m, ACCOUNT_HEADER + rd_u32(m, 52) as usize)
}

pub fn process(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
    if data.len() < 7 {
        return Err(WorldError::InvalidInstruction.into());
    }
    let [authority, manifest, weights, system_program, ..] = accounts else {
        return Err(ProgramError::NotEnoughAccountKeys);
    };
    let a = UploadWeights { authority, manifest, weights, system_program };
    let shard = rd_u16(data, 0);
    let offset = rd_u32(data, 2) as usize;
    let chunk = &data[6..];
    let (model_id, wlen) = open_manifest(program_id, a.manifest, a.authority)?;
    if hashed_so_far(a.manifest) != 0 {
        return Err(WorldError::HashingInProgress.into());
    }
    sys::require_writable(a.weights)?;
    sys::require_system_program(a.system_program)?;
    let end = offset + chunk.len();
    if end > shard_len(wlen, shard as usize) {
        return Err(WorldError::UploadOutOfRange.into());
    }
    let need = ACCOUNT_HEADER + end;
    if a.weights.owned_by(&sys::SYSTEM_PROGRAM) && a.weights.is_data_empty() {
        let id = model_id.to_le_bytes();
        let sh = shard.to_le_bytes();
        let bump = sys::expect_pda(a.weights, &[SEED_WEIGHTS, &id, &sh], program_id)?;
        let bump_arr = [bump];
        let seeds = [Seed::from(SEED_WEIGHTS), Seed::from(&id), Seed::from(&sh), Seed::from(&bump_arr)];
        sys::create_pda(a.authority, a.weights, need, program_id, &seeds)?;
        // SAFETY: just created here; no other borrow exists.
        let w = unsafe { a.weights.borrow_unchecked_mut() };
        w[0] = DISC_WEIGHTS;
        w[1] = VERSION;
        w[3] = bump;
        wr_u64(w, 8, model_id);
        wr_u32(w, 16, wlen as u32);
        wr_u16(w, 20, shard);
    } else {
        check_weights(a.weights, model_id, shard as usize, program_id)?;
        sys::grow(a.authority, a.weights, need)?;
    }
    // SAFETY: the account holds at least `need` bytes now; no other borrow is alive.
    let w = unsafe { a.weights.borrow_unchecked_mut() };
    w[ACCOUNT_HEADER + offset..need].copy_from_slice(chunk);
    Ok(())
}
