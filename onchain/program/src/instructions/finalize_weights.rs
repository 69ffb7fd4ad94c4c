//! `finalize_weights`: hash the uploaded weights, compare with the manifest's sha256,
//! validate the whole cartridge (Model::parse) and mark the model finalized. From then
//! on nothing can change it: upload and finalize check the flag, and no instruction
//! writes a finalized manifest or its weights.
//!
//! Two ways to hash, chosen by the data length:
//! - one transaction (no data): the `sol_sha256` syscall over all shards, about 1 CU per
//!   2 bytes, so for blobs up to FINALIZE_MAX_BYTES (2.4 MB: the micro and tiny
//!   presets); a larger blob gets WeightsTooLargeToHash.
//! - several transactions (data `u32 max_bytes`): each call compresses up to
//!   `max_bytes` more of the blob (whole 64-byte blocks) with the program's own SHA-256
//!   (sha256.rs), keeping the byte count and the eight-word state after the manifest
//!   bytes (state.rs); the call that reaches the end pads, compares and finalizes.
//!   Uploads are refused while hashing is under way; `max_bytes = 0` resets the
//!   progress (to fix a chunk after a HashMismatch, then hash again).
use pinocchio::{error::ProgramError, AccountView, Address, ProgramResult};

use crate::error::WorldError;
use crate::model::{Model, MAX_SHARDS, SHARD_BYTES, SHARD_SHIFT};
use crate::sha256;
use crate::state::*;
use crate::sys;

pub const DISCRIMINATOR: u8 = 2;
pub const FINALIZE_MAX_BYTES: usize = 2_400_000;

/// Accounts:
///   0. `[SIGNER]` authority
///   1. `[WRITE]`  ModelManifest (not finalized)
///   2.. `[]`      ModelWeights shards 0, 1, ... (every shard of the blob, fully uploaded)
///
/// Data (after the discriminator): none (one transaction), or
///   0 u32 max_bytes (a step of a multi-transaction hash; 0 resets its progress)
pub struct FinalizeWeights<'a> {
    pub authority: &'a AccountView,
    pub manifest: &'a mut AccountView,
    pub weights: &'a [AccountView],
}

pub fn process(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
    let step = match data.len() {
        0 => None,
        4 => Some(rd_u32(data, 0) as usize),
        _ => return Err(WorldError::InvalidInstruction.into()),
    };
    let [authority, manifest, weights @ ..] = accounts else {
        return Err(ProgramError::NotEnoughAccountKeys);
    };
    let a = FinalizeWeights { authority, manifest, weights };
    let (model_id, wlen) = crate::instructions::upload_weights::open_manifest(program_id, a.manifest, a.authority)?;
    sys::require_writable(a.manifest)?;
    if step == Some(0) {
        // SAFETY: the only borrow of the manifest; open_manifest checked its length.
        let m = unsafe { a.manifest.borrow_unchecked_mut() };
        let p = ACCOUNT_HEADER + rd_u32(m, 52) as usize;
        m[p..p + HASH_PROGRESS_LEN].fill(0);
        return Ok(());
    }
    let n = (wlen + SHARD_BYTES - 1) / SHARD_BYTES;
    if n > MAX_SHARDS {
        return Err(WorldError::InvalidManifest.into());
    }
    if a.weights.len() < n {
        return Err(ProgramError::NotEnoughAccountKeys);
    }
    if step.is_none() && wlen > FINALIZE_MAX_BYTES {
        return Err(WorldError::WeightsTooLargeToHash.into());
    }
    let mut shards: [&[u8]; MAX_SHARDS] = [&[]; MAX_SHARDS];
    for (k, w) in a.weights.iter().take(n).enumerate() {
        check_weights(w, model_id, k, program_id)?;
        // SAFETY: weights accounts are only read here; no mutable borrow is alive.
        let d = unsafe { w.borrow_unchecked() };
        let len = crate::instructions::upload_weights::shard_len(wlen, k);
        if d.len() != ACCOUNT_HEADER + len {
            return Err(WorldError::WeightsIncomplete.into());
        }
        shards[k] = &d[ACCOUNT_HEADER..];
    }
    // SAFETY: distinct account (different discriminator from the shards); read here,
    // written only after the last read below.
    let m = unsafe { a.manifest.borrow_unchecked_mut() };
    let man_end = ACCOUNT_HEADER + rd_u32(m, 52) as usize;
    let digest = match step {
        None => sys::sha256(&shards[..n]),
        Some(max_bytes) => match hash_step(m, man_end, &shards[..n], wlen, max_bytes) {
            Some(d) => d,
            None => return Ok(()), // more blocks to go; progress saved
        },
    };
    if digest[..] != m[ACCOUNT_HEADER + 32..ACCOUNT_HEADER + 64] {
        return Err(WorldError::HashMismatch.into());
    }
    Model::parse(&m[ACCOUNT_HEADER..man_end], &shards[..n])?;
    m[2] = 1;
    Ok(())
}

/// One step of the multi-transaction hash: compress up to `max_bytes` more whole
/// blocks from the saved state; returns the digest once the blob's end is reached.
fn hash_step(m: &mut [u8], p: usize, shards: &[&[u8]], wlen: usize, max_bytes: usize) -> Option<[u8; 32]> {
    let mut done = rd_u64(m, p) as usize;
    if done > wlen || done & 63 != 0 {
        done = 0; // only this instruction writes the progress; never trust a bad one
    }
    let mut h = sha256::IV;
    if done != 0 {
        for (i, v) in h.iter_mut().enumerate() {
            *v = rd_u32(m, p + 8 + 4 * i);
        }
    }
    let full = wlen & !63;
    let stop = core::cmp::min(full, done + core::cmp::max(64, max_bytes & !63));
    // Blocks never straddle shards: SHARD_BYTES is a multiple of 64.
    while done < stop {
        let shard = shards[done >> SHARD_SHIFT];
        let o = done & (SHARD_BYTES - 1);
        sha256::compress(&mut h, &shard[o..o + 64]);
        done += 64;
    }
    if done == full {
        let tail: &[u8] = if wlen == full {
            &[] // (the blob may end exactly at a shard boundary: no shard to index)
        } else {
            let o = done & (SHARD_BYTES - 1);
            &shards[done >> SHARD_SHIFT][o..o + (wlen - full)]
        };
        return Some(sha256::finish(&mut h, tail, wlen as u64));
    }
    wr_u64(m, p, done as u64);
    for (i, v) in h.iter().enumerate() {
        wr_u32(m, p + 8 + 4 * i, *v);
    }
    None
}
