//! `create_session`: open a game for a finalized model. The first call creates
//! SessionState (status waiting, the creator as player 1, the start state of both
//! fighters), InputBuffer and HiddenState; HiddenState holds the model's recurrent
//! state and is usually larger than the 10,240 bytes an instruction may allocate, so
//! the creator repeats the same instruction (same data) until HiddenState reaches the
//! model's size, 10,240 bytes per instruction (several may share one transaction).
//! join_session waits for that.
//!
//! The creator fixes, once, what the session may become: the ER validator it may be delegated
//! to (delegate_session takes no validator of its own, so player 2 cannot send the session to a
//! validator nobody runs), a crank key that may crank besides the players, and optionally the
//! only key that may join as player 2. Each open session is counted in its model's manifest
//! (bytes 48..52), so the model's authority can close the model only when no session uses it.
use pinocchio::{cpi::Seed, error::ProgramError, AccountView, Address, ProgramResult};

use crate::error::WorldError;
use crate::model::{rd_u16, Dims};
use crate::state::*;
use crate::sys;

pub const DISCRIMINATOR: u8 = 3;
pub const DATA_LEN: usize = 179;
/// Manifest bytes (in the global quant block's spare bytes, cartridge.py; constants in model.rs):
/// 136 u8 context flags (bit 0: the supported sets below apply; bit 1: the model is fed the
/// stage and characters, forward::build_features; other bits are refused) | 137 u8 supported
/// stages (bit i: rules::STAGES[i]) | 140 u32 supported characters (bit c: Slippi character id c).
pub use crate::model::{CONTEXT_DECLARES_SUPPORT, CONTEXT_FLAGS, SUPPORTED_CHARACTERS, SUPPORTED_STAGES};

/// Whether the session's stage and characters are playable and the manifest `m` (the account's
/// bytes) supports them.
pub fn context_supported(m: &[u8], stage: u8, characters: [u8; 2]) -> Result<(), WorldError> {
    let Some(index) = crate::rules::STAGES.iter().position(|s| s.id == stage) else {
        return Err(WorldError::UnsupportedContext);
    };
    if characters.iter().any(|&c| c > MAX_CHARACTER) {
        return Err(WorldError::UnsupportedContext);
    }
    // (A flag this program does not know never reaches here: Model::parse refuses it at finalize.)
    if m[ACCOUNT_HEADER + CONTEXT_FLAGS] & CONTEXT_DECLARES_SUPPORT != 0 {
        let stages = m[ACCOUNT_HEADER + SUPPORTED_STAGES];
        let chars = rd_u32(m, ACCOUNT_HEADER + SUPPORTED_CHARACTERS);
        if stages & (1 << index) == 0 || characters.iter().any(|&c| chars & (1 << c) == 0) {
            return Err(WorldError::UnsupportedContext);
        }
    }
    Ok(())
}
/// ModelManifest bytes 48..52: the number of sessions of this model not yet closed.
pub const OPEN_SESSIONS_OFFSET: usize = 48;

/// Accounts:
///   0. `[WRITE, SIGNER]` creator = player 1 (pays the rent, gets it back on close)
///   1. `[WRITE]`         ModelManifest (finalized; its open-session count goes up by one)
///   2. `[WRITE]`         SessionState PDA `[b"session", session_id]`
///   3. `[WRITE]`         HiddenState PDA `[b"hidden", session_id]`
///   4. `[WRITE]`         InputBuffer PDA `[b"input", session_id]`
///   5. `[]`              system program
///
/// Data (after the discriminator), 179 bytes:
///   0 u64 session_id | 8 u64 model_id | 16 [i16; 16] fighter 1 | 48 [i16; 16] fighter 2
///   80 [32] ER validator identity (zero: never delegated) | 112 [32] crank key (zero: none)
///   144 [32] invited player 2 (zero: anyone but player 1 may join)
///   176 u8 stage (Slippi stage id) | 177 u8 character 1 | 178 u8 character 2 (Slippi external ids)
///
/// The stage must be in the rules' table (rules::STAGES) and both characters playable (0..=25);
/// a manifest that declares its supported stages and characters (its context byte, below) limits
/// them further. A manifest without (every cartridge before this) supports all of them.
pub struct CreateSession<'a> {
    pub creator: &'a AccountView,
    pub manifest: &'a mut AccountView,
    pub session: &'a mut AccountView,
    pub hidden: &'a mut AccountView,
    pub input: &'a mut AccountView,
    pub system_program: &'a AccountView,
}

/// The model's dimensions from a finalized manifest (validated by Model::parse at
/// finalize, so only the fields are read here).
pub fn manifest_dims(m: &[u8]) -> Dims {
    let g = |o: usize| rd_u16(m, ACCOUNT_HEADER + o) as usize;
    let (e, p) = (g(14), g(18));
    let lanes = g(10) as u16 == crate::model::WEIGHT_LAYOUT_LANES;
    Dims { d: g(12), e, n: g(16), p, h: e / p, layers: g(20), in_dim: g(22), out_dim: g(24), lanes }
}

pub fn process(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
    if data.len() != DATA_LEN {
        return Err(WorldError::InvalidInstruction.into());
    }
    let [creator, manifest, session, hidden, input, system_program, ..] = accounts else {
        return Err(ProgramError::NotEnoughAccountKeys);
    };
    let a = CreateSession { creator, manifest, session, hidden, input, system_program };
    let session_id = rd_u64(data, 0);
    let model_id = rd_u64(data, 8);
    sys::require_signer(a.creator)?;
    sys::require_writable(a.session)?;
    sys::require_writable(a.hidden)?;
    sys::require_writable(a.input)?;
    sys::require_system_program(a.system_program)?;
    check_manifest(a.manifest, program_id)?;
    // SAFETY: read-only here; the manifest is distinct from the session accounts (its
    // discriminator), and this borrow ends before the count is written below.
    let m = unsafe { a.manifest.borrow_unchecked() };
    if rd_u64(m, 8) != model_id {
        return Err(WorldError::AccountMismatch.into());
    }
    if m[2] != 1 {
        return Err(WorldError::NotFinalized.into());
    }
    let (stage, characters) = (data[176], [data[177], data[178]]);
    if m.len() < ACCOUNT_HEADER + SUPPORTED_CHARACTERS + 4 {
        return Err(WorldError::InvalidManifest.into());
    }
    context_supported(m, stage, characters)?;
    let full_len = manifest_dims(m).hidden_len();
    let id = session_id.to_le_bytes();

    if a.session.owned_by(&sys::SYSTEM_PROGRAM) && a.session.is_data_empty() {
        sys::require_writable(a.manifest)?;
        let b_s = sys::expect_pda(a.session, &[SEED_SESSION, &id], program_id)?;
        let b_h = sys::expect_pda(a.hidden, &[SEED_HIDDEN, &id], program_id)?;
        let b_i = sys::expect_pda(a.input, &[SEED_INPUT, &id], program_id)?;
        let (bs, bh, bi) = ([b_s], [b_h], [b_i]);
        let seeds = [Seed::from(SEED_SESSION), Seed::from(&id), Seed::from(&bs)];
        sys::create_pda(a.creator, a.session, SESSION_LEN, program_id, &seeds)?;
        let seeds = [Seed::from(SEED_INPUT), Seed::from(&id), Seed::from(&bi)];
        sys::create_pda(a.creator, a.input, INPUT_LEN, program_id, &seeds)?;
        let seeds = [Seed::from(SEED_HIDDEN), Seed::from(&id), Seed::from(&bh)];
        sys::create_pda(a.creator, a.hidden, core::cmp::min(full_len, sys::MAX_GROWTH), program_id, &seeds)?;
        let now = sys::now();
        // SAFETY: the three accounts were just created by this instruction at distinct
        // addresses (distinct seeds); these are the only borrows.
        let (s, h, i) = unsafe {
            (a.session.borrow_unchecked_mut(), a.hidden.borrow_unchecked_mut(), a.input.borrow_unchecked_mut())
        };
        s[0] = DISC_SESSION;
        s[1] = VERSION;
        s[2] = STATUS_WAITING;
        s[3] = b_s;
        s[HIDDEN_BUMP_OFFSET] = b_h;
        s[INPUT_BUMP_OFFSET] = b_i;
        wr_u64(s, 8, session_id);
        wr_u64(s, 16, model_id);
        s[PLAYER_OFFSET[0]..PLAYER_OFFSET[0] + 32].copy_from_slice(a.creator.address().as_ref());
        s[PLAYER_OFFSET[1]..PLAYER_OFFSET[1] + 32].copy_from_slice(&data[144..176]);
        wr_u64(s, LAST_ACTIVE_OFFSET, now as u64);
        s[FIGHTER_OFFSET[0]..FIGHTER_OFFSET[0] + 64].copy_from_slice(&data[16..80]);
        s[VALIDATOR_OFFSET..VALIDATOR_OFFSET + 32].copy_from_slice(&data[80..112]);
        s[CRANK_KEY_OFFSET..CRANK_KEY_OFFSET + 32].copy_from_slice(&data[112..144]);
        s[STAGE_OFFSET] = stage;
        s[CHARACTER_OFFSET[0]] = characters[0];
        s[CHARACTER_OFFSET[1]] = characters[1];
        // the rules start from the start fighters (stocks, percent), as worldmodel.sim does
        let mut rules = [0u8; crate::rules::RULES_LEN];
        let start = [read_fighter(s, 0), read_fighter(s, 1)];
        crate::rules::init_state(&start, &mut rules);
        s[RULES_OFFSET..RULES_OFFSET + crate::rules::RULES_LEN].copy_from_slice(&rules);
        h[0] = DISC_HIDDEN;
        h[1] = VERSION;
        wr_u32(h, 4, full_len as u32);
        wr_u64(h, 8, session_id);
        wr_u64(h, 16, model_id);
        i[0] = DISC_INPUT;
        i[1] = VERSION;
        i[3] = b_i;
        wr_u64(i, 8, session_id);
        // SAFETY: the only borrow of the manifest alive (the read-only one above has ended);
        // distinct from the three accounts just written.
        let m = unsafe { a.manifest.borrow_unchecked_mut() };
        wr_u32(m, OPEN_SESSIONS_OFFSET, rd_u32(m, OPEN_SESSIONS_OFFSET).saturating_add(1));
        return Ok(());
    }

    // A later call: grow HiddenState towards full_len.
    check_session(a.session, program_id)?;
    // SAFETY: read-only peek; the session is distinct from hidden (different discriminators).
    let s = unsafe { a.session.borrow_unchecked() };
    check_hidden(a.hidden, s, program_id)?;
    if rd_u64(s, 8) != session_id || rd_u64(s, 16) != model_id {
        return Err(WorldError::AccountMismatch.into());
    }
    if &s[PLAYER_OFFSET[0]..PLAYER_OFFSET[0] + 32] != a.creator.address().as_ref() {
        return Err(WorldError::Unauthorized.into());
    }
    let len = a.hidden.data_len();
    if s[2] != STATUS_WAITING || len >= full_len {
        return Err(WorldError::AlreadyInitialized.into());
    }
    sys::grow(a.creator, a.hidden, core::cmp::min(full_len, len + sys::MAX_GROWTH))
}
