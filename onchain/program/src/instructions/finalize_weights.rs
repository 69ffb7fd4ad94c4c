//! `finalize_weights`: hash the uploaded weights with the sha256 syscall, compare with
//! the manifest's sha256, validate the whole cartridge (Model::parse) and mark the
//! model finalized. From then on nothing can change it: upload and finalize check the
//! flag, and no instruction writes a finalized manifest or its weights.
//!
//! Limit: the hash runs in this one transaction. sol_sha256 costs about 1 CU per
//! 2 bytes, so blobs up to FINALIZE_MAX_BYTES (2.4 MB: the micro and tiny presets,
//! not small or target) can be finalized; a larger blob is rejected with
//! WeightsTooLargeToHash before any work. (Hashing larger blobs would need a sha256
//! midstate kept across transactions, which the syscall does not expose.)
use pinocchio::{error::ProgramError, AccountView, Address, ProgramResult};

use crate::error::WorldError;
use crate::model::{rd_u16, Model, MAX_SHARDS, SHARD_BYTES};
use crate::state::*;
use crate::sys;

pub const DISCRIMINATOR: u8 = 2;
pub const FINALIZE_MAX_BYTES: usize = 2_400_000;

/// Accounts:
///   0. `[SIGNER]` authority
///   1. `[WRITE]`  ModelManifest (not finalized)
///   2.. `[]`      ModelWeights shards 0, 1, ... (exactly as many as the blob has)
///
/// Data: none.
pub struct FinalizeWeights<'a> {
    pub authority: &'a AccountView,
    pub manifest: &'a mut AccountView,
    pub weights: &'a [AccountView],
}

pub fn process(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
    if !data.is_empty() {
        return Err(WorldError::InvalidInstruction.into());
    }
    let [authority, manifest, weights @ ..] = accounts else {
        return Err(ProgramError::NotEnoughAccountKeys);
    };
    let a = FinalizeWeights { authority, manifest, weights };
    let (model_id, wlen) = crate::instructions::upload_weights::open_manifest(program_id, a.manifest, a.authority)?;
    sys::require_writable(a.manifest)?;
    let n = (wlen + SHARD_BYTES - 1) / SHARD_BYTES;
    if n > MAX_SHARDS {
        return Err(WorldError::InvalidManifest.into());
    }
    if a.weights.len() < n {
        return Err(ProgramError::NotEnoughAccountKeys);
    }
    if wlen > FINALIZE_MAX_BYTES {
        return Err(WorldError::WeightsTooLargeToHash.into());
    }
    let mut shards: [&[u8]; MAX_SHARDS] = [&[]; MAX_SHARDS];
    for (k, w) in a.weights.iter().take(n).enumerate() {
        sys::check_owned(w, program_id, DISC_WEIGHTS, ACCOUNT_HEADER)?;
        // SAFETY: weights accounts are only read here; no mutable borrow is alive.
        let d = unsafe { w.borrow_unchecked() };
        if rd_u64(d, 8) != model_id || rd_u16(d, 20) as usize != k {
            return Err(WorldError::AccountMismatch.into());
        }
        let len = crate::instructions::upload_weights::shard_len(wlen, k);
        if d.len() != ACCOUNT_HEADER + len {
            return Err(WorldError::WeightsIncomplete.into());
        }
        shards[k] = &d[ACCOUNT_HEADER..];
    }
    // SAFETY: distinct account (different discriminator from the shards); read here,
    // written only after the last read below.
    let m = unsafe { a.manifest.borrow_unchecked_mut() };
    let man_len = rd_u32(m, 52) as usize;
    if ACCOUNT_HEADER + man_len != m.len() {
        return Err(WorldError::InvalidManifest.into());
    }
    let digest = sys::sha256(&shards[..n]);
    if digest[..] != m[ACCOUNT_HEADER + 32..ACCOUNT_HEADER + 64] {
        return Err(WorldError::HashMismatch.into());
    }
    Model::parse(&m[ACCOUNT_HEADER..], &shards[..n])?;
    m[2] = 1;
    Ok(())
}
