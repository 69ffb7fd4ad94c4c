//! `run_inference`: advance the session's world model through part or all of one frame.
//!
//! A frame is: features + encoder (when `next_layer == 0`), then layers
//! `[next_layer, next_layer + layer_count)`, then — once the last layer has run — the
//! head, which writes the next fighter state into SessionState and advances `frame`.
//! A preset too big for one transaction's 1.4M CU runs as several transactions; the
//! residual stream between them lives in HiddenState. Anyone may crank; a crank whose
//! `expected_frame` is not the frame being computed fails and changes nothing.
use pinocchio::{AccountView, Address, ProgramResult};

use crate::error::WorldError;
use crate::forward::{self, Scratch};
use crate::model::{Model, MAX_OUT};
use crate::state::*;

pub const DISCRIMINATOR: u8 = 6;

/// Accounts:
///   0. `[WRITE]` SessionState
///   1. `[WRITE]` HiddenState
///   2. `[]`      InputBuffer
///   3. `[]`      ModelManifest (finalized)
///   4. `[]`      ModelWeights
///
/// Data (after the discriminator), 10 bytes:
///   0 u64 expected_frame | 8 u16 layer_count (0xFFFF: all remaining layers)
pub struct RunInference<'a> {
    pub session: &'a mut AccountView,
    pub hidden: &'a mut AccountView,
    pub input: &'a AccountView,
    pub manifest: &'a AccountView,
    pub weights: &'a AccountView,
}

fn check(acc: &AccountView, program_id: &Address, disc: u8, min_len: usize) -> Result<(), WorldError> {
    if !acc.owned_by(program_id) || acc.data_len() < min_len {
        return Err(WorldError::InvalidAccount);
    }
    // SAFETY: read-only peek at two header bytes; no mutable borrow is alive here.
    let d = unsafe { acc.borrow_unchecked() };
    if d[0] != disc || d[1] != VERSION {
        return Err(WorldError::InvalidAccount);
    }
    Ok(())
}

#[inline(always)]
pub fn process(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
    if data.len() != 10 {
        return Err(WorldError::InvalidInstruction.into());
    }
    let expected_frame = rd_u64(data, 0);
    let layer_count = u16::from_le_bytes([data[8], data[9]]) as usize;
    let [session, hidden, input, manifest, weights, ..] = accounts else {
        return Err(pinocchio::error::ProgramError::NotEnoughAccountKeys);
    };
    check(session, program_id, DISC_SESSION, SESSION_LEN)?;
    check(hidden, program_id, DISC_HIDDEN, HIDDEN_HEADER)?;
    check(input, program_id, DISC_INPUT, INPUT_LEN)?;
    check(manifest, program_id, DISC_MANIFEST, ACCOUNT_HEADER)?;
    check(weights, program_id, DISC_WEIGHTS, ACCOUNT_HEADER)?;
    if !session.is_writable() || !hidden.is_writable() {
        return Err(WorldError::InvalidAccount.into());
    }
    let accs = RunInference { session, hidden, input, manifest, weights };
    run(accs, expected_frame, layer_count)
}

fn run(a: RunInference, expected_frame: u64, layer_count: usize) -> ProgramResult {
    // SAFETY: the five accounts are distinct (duplicates would fail the discriminator
    // checks, each account type has its own), and these are the only borrows.
    let man = unsafe { a.manifest.borrow_unchecked() };
    let wts = unsafe { a.weights.borrow_unchecked() };
    let inp = unsafe { a.input.borrow_unchecked() };
    let ses = unsafe { a.session.borrow_unchecked_mut() };
    let hid = unsafe { a.hidden.borrow_unchecked_mut() };

    let model_id = rd_u64(man, 8);
    let session_id = rd_u64(ses, 8);
    if man[2] != 1 || rd_u64(wts, 8) != model_id || rd_u64(ses, 16) != model_id || rd_u64(hid, 16) != model_id {
        return Err(WorldError::AccountMismatch.into());
    }
    if rd_u64(hid, 8) != session_id || rd_u64(inp, 8) != session_id {
        return Err(WorldError::AccountMismatch.into());
    }
    let man_len = crate::model::rd_u32(man, 52) as usize;
    if ACCOUNT_HEADER + man_len > man.len() {
        return Err(WorldError::InvalidManifest.into());
    }
    let model = Model::parse(&man[ACCOUNT_HEADER..ACCOUNT_HEADER + man_len], &wts[ACCOUNT_HEADER..])?;
    let dims = model.dims;
    let res_bytes = dims.residual_bytes();
    if hid.len() < HIDDEN_HEADER + res_bytes + 4 * dims.state_len() {
        return Err(WorldError::InvalidAccount.into());
    }
    let frame = rd_u64(ses, 24);
    if frame != expected_frame || rd_u64(hid, 24) != frame {
        return Err(WorldError::StaleFrame.into());
    }
    let start = crate::model::rd_u16(hid, 2) as usize;
    if start >= dims.layers {
        return Err(WorldError::InvalidAccount.into());
    }
    let end = if layer_count == 0 || start + layer_count > dims.layers { dims.layers } else { start + layer_count };

    let (head_bytes, state_bytes) = hid.split_at_mut(HIDDEN_HEADER + res_bytes);
    // SAFETY: the residual region starts at offset 32 of 8-aligned account data and
    // holds D i16 (checked length above).
    let r = unsafe { core::slice::from_raw_parts_mut(head_bytes.as_mut_ptr().add(HIDDEN_HEADER) as *mut i16, dims.d) };
    // SAFETY: the state region starts 8-aligned (32 + pad8(2D)) and holds L*E*N i32.
    let h = unsafe { core::slice::from_raw_parts_mut(state_bytes.as_mut_ptr() as *mut i32, dims.state_len()) };
    let s = scratch();

    let mut fighters = [read_fighter(ses, 0), read_fighter(ses, 1)];
    if start == 0 {
        let ctrl = [ControllerInput::read(inp, CONTROLLER_OFFSET[0]), ControllerInput::read(inp, CONTROLLER_OFFSET[1])];
        forward::build_features(&model, &fighters, &ctrl, &mut s.u);
        forward::encode(&model, s, r);
    }
    let per_layer = dims.e * dims.n;
    for l in start..end {
        forward::mamba_layer(&model, l, s, r, &mut h[l * per_layer..(l + 1) * per_layer]);
    }
    if end == dims.layers {
        let mut out = [0i16; MAX_OUT];
        forward::head(&model, s, r, &mut out);
        forward::decode_outputs(&model, &mut fighters, &out[..dims.out_dim]);
        write_fighter(ses, 0, &fighters[0]);
        write_fighter(ses, 1, &fighters[1]);
        wr_u64(ses, 24, frame + 1);
        wr_u64(head_bytes, 24, frame + 1);
        wr_u16(head_bytes, 2, 0);
    } else {
        wr_u16(head_bytes, 2, end as u16);
    }
    Ok(())
}

/// The forward pass's working memory.
#[cfg(any(target_arch = "bpf", target_os = "solana"))]
fn scratch() -> &'static mut Scratch {
    const HEAP_START: usize = 0x3_0000_0000;
    const _: () = assert!(core::mem::size_of::<Scratch>() <= 32 * 1024);
    // SAFETY: the program installs no allocator (`no_allocator!`), so the runtime's
    // 32 KiB heap region is used by nothing else; Scratch fits in it (checked above),
    // and this is called once per instruction, so there is a single live reference.
    // Its contents need no initialization: every stage writes before it reads.
    unsafe { &mut *(HEAP_START as *mut Scratch) }
}

#[cfg(not(any(target_arch = "bpf", target_os = "solana")))]
fn scratch() -> &'static mut Scratch {
    extern crate std;
    // Host builds (unit tests): a leaked zeroed Box per call is fine.
    // SAFETY: Scratch is plain integers; all-zero is a valid value.
    std::boxed::Box::leak(unsafe { std::boxed::Box::new_zeroed().assume_init() })
}
