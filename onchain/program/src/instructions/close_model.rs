//! `close_model`: the model's authority deletes a model nobody uses and takes back the rent of
//! its manifest and weight shards. Refused while any session of the model is open (the count in
//! the manifest's bytes 48..52, raised by create_session and lowered by close_session): a
//! running game never loses its model. Works for finalized models and for abandoned uploads.
use pinocchio::{error::ProgramError, AccountView, Address, ProgramResult};

use crate::error::WorldError;
use crate::instructions::create_session::OPEN_SESSIONS_OFFSET;
use crate::model::{MAX_SHARDS, SHARD_BYTES};
use crate::state::*;
use crate::sys;

pub const DISCRIMINATOR: u8 = 16;

/// Accounts:
///   0. `[WRITE, SIGNER]` the model's authority (receives the rent)
///   1. `[WRITE]`         ModelManifest
///   2.. `[WRITE]`        ModelWeights shards 0, 1, ... (every shard of the blob; a shard never
///                        uploaded is passed as its empty PDA and skipped)
///
/// Data: none.
pub struct CloseModel<'a> {
    pub authority: &'a mut AccountView,
    pub manifest: &'a mut AccountView,
    pub weights: &'a mut [AccountView],
}

pub fn process(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
    if !data.is_empty() {
        return Err(WorldError::InvalidInstruction.into());
    }
    let [authority, manifest, weights @ ..] = accounts else {
        return Err(ProgramError::NotEnoughAccountKeys);
    };
    let a = CloseModel { authority, manifest, weights };
    sys::require_signer(a.authority)?;
    sys::require_writable(a.authority)?;
    sys::require_writable(a.manifest)?;
    check_manifest(a.manifest, program_id)?;
    let (model_id, shards) = {
        // SAFETY: read-only peek at the checked manifest; no other borrow is alive.
        let m = unsafe { a.manifest.borrow_unchecked() };
        if &m[16..48] != a.authority.address().as_ref() {
            return Err(WorldError::Unauthorized.into());
        }
        if rd_u32(m, OPEN_SESSIONS_OFFSET) != 0 {
            return Err(WorldError::ModelInUse.into());
        }
        let man_len = rd_u32(m, 52) as usize;
        if man_len < 64 || ACCOUNT_HEADER + man_len > m.len() {
            return Err(WorldError::InvalidManifest.into());
        }
        let wlen = rd_u32(m, ACCOUNT_HEADER + 28) as usize;
        (rd_u64(m, 8), (wlen + SHARD_BYTES - 1) / SHARD_BYTES)
    };
    if shards > MAX_SHARDS || a.weights.len() != shards {
        return Err(ProgramError::NotEnoughAccountKeys);
    }
    let id = model_id.to_le_bytes();
    for (k, w) in a.weights.iter().enumerate() {
        sys::require_writable(w)?;
        if w.owned_by(&sys::SYSTEM_PROGRAM) && w.is_data_empty() {
            // never uploaded: it must still be this shard's address, so a shard that exists
            // cannot be left behind by passing some other empty account
            let k16 = (k as u16).to_le_bytes();
            sys::expect_pda(w, &[SEED_WEIGHTS, &id, &k16], program_id)?;
        } else {
            check_weights(w, model_id, k, program_id)?;
        }
    }
    let mut total = a.manifest.lamports();
    for w in a.weights.iter_mut() {
        if w.owned_by(program_id) {
            total += w.lamports();
            w.set_lamports(0);
            // SAFETY: no borrow of this shard's data is alive; its lamports moved out first.
            unsafe { w.close_unchecked() };
        }
    }
    a.manifest.set_lamports(0);
    // SAFETY: no borrow of the manifest is alive; its lamports are counted in `total`.
    unsafe { a.manifest.close_unchecked() };
    a.authority.set_lamports(a.authority.lamports() + total);
    Ok(())
}
