//! `init_manifest`: register a model. Creates the ModelManifest PDA holding the
//! cartridge manifest (dimensions, field spec, quantization, sha256 of the weights);
//! the signer becomes the model's authority, the only key that may upload and finalize.
use pinocchio::{cpi::Seed, error::ProgramError, AccountView, Address, ProgramResult};

use crate::error::WorldError;
use crate::model::{rd_u16, MAGIC, MANIFEST_HEADER, LAYER_QUANT_SIZE, MAX_LAYERS, MAX_SHARDS, SHARD_BYTES};
use crate::state::*;
use crate::sys;

pub const DISCRIMINATOR: u8 = 0;

/// Accounts:
///   0. `[WRITE, SIGNER]` authority (pays the rent)
///   1. `[WRITE]`         ModelManifest PDA `[b"manifest", model_id]` (must not exist;
///                        64 + manifest + 48 bytes of hash progress, all zero)
///   2. `[]`              system program
///
/// Data (after the discriminator):
///   0 u64 model_id | 8.. manifest bytes (160 + 32 * layers, worldmodel/cartridge.py)
pub struct InitManifest<'a> {
    pub authority: &'a AccountView,
    pub manifest: &'a mut AccountView,
    pub system_program: &'a AccountView,
}

/// Header checks only (magic, length, blob size); the full cartridge validation
/// (Model::parse) runs at finalize, when the weights exist.
pub fn check_manifest_bytes(m: &[u8]) -> Result<usize, WorldError> {
    if m.len() < MANIFEST_HEADER || &m[..8] != MAGIC {
        return Err(WorldError::InvalidManifest);
    }
    let layers = rd_u16(m, 20) as usize;
    if layers == 0 || layers > MAX_LAYERS || m.len() != MANIFEST_HEADER + LAYER_QUANT_SIZE * layers {
        return Err(WorldError::InvalidManifest);
    }
    let wlen = rd_u32(m, 28) as usize;
    if wlen == 0 || wlen > MAX_SHARDS * SHARD_BYTES {
        return Err(WorldError::InvalidManifest);
    }
    Ok(wlen)
}

pub fn process(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
    if data.len() < 8 {
        return Err(WorldError::InvalidInstruction.into());
    }
    let [authority, manifest, system_program, ..] = accounts else {
        return Err(ProgramError::NotEnoughAccountKeys);
    };
    let a = InitManifest { authority, manifest, system_program };
    let (id_bytes, bytes) = data.split_at(8);
    let model_id = rd_u64(id_bytes, 0);
    sys::require_signer(a.authority)?;
    sys::require_writable(a.manifest)?;
    sys::require_system_program(a.system_program)?;
    check_manifest_bytes(bytes)?;
    let bump = sys::expect_pda(a.manifest, &[SEED_MANIFEST, id_bytes], program_id)?;
    let bump_arr = [bump];
    let seeds = [Seed::from(SEED_MANIFEST), Seed::from(id_bytes), Seed::from(&bump_arr)];
    sys::create_pda(a.authority, a.manifest, ACCOUNT_HEADER + bytes.len() + HASH_PROGRESS_LEN, program_id, &seeds)?;
    // SAFETY: the account was just created by this instruction; no other borrow exists.
    let m = unsafe { a.manifest.borrow_unchecked_mut() };
    m[0] = DISC_MANIFEST;
    m[1] = VERSION;
    m[2] = 0;
    m[3] = bump;
    wr_u64(m, 8, model_id);
    m[16..48].copy_from_slice(a.authority.address().as_ref());
    wr_u32(m, 52, bytes.len() as u32);
    m[ACCOUNT_HEADER..ACCOUNT_HEADER + bytes.len()].copy_from_slice(bytes);
    Ok(())
}
