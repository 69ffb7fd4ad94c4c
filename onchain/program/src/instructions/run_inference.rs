//! `run_inference`: advance the session's world model through part or all of one frame.
//!
//! A frame is a fixed sequence of steps (`model::Step`): encoder, then per layer the
//! in_proj row chunks, the selective scan, the out_proj row chunks, and last the head,
//! which writes the next fighter state into SessionState and advances `frame`. One
//! transaction runs `step_count` steps from `HiddenState.next_step`, so a preset too
//! big for one transaction's 1.4M CU runs as several; the activations between them
//! live in HiddenState. Who may crank (the pace of the game is theirs, and in an ER
//! transactions are free, so a stranger must not be able to fast-forward a match): a player or
//! the crank key the creator named; a crank whose `expected_frame` is not the frame being
//! computed fails and changes nothing, so a duplicate or stale crank cannot advance a frame
//! twice. A scheduled crank (the ER's task scheduler, schedule_crank.rs) sends
//! `expected_frame = NEXT_FRAME` instead, signed by the session's ER validator (the scheduler
//! signs its task transactions with the validator's identity): it runs the next `step_count`
//! steps of whatever frame is in flight (state.rs, "Frames and cranks"). The session must be
//! active and its model finalized. The encoder step reads each player's controller under the
//! input rule (state.rs: neutral after INPUT_HOLD_FRAMES frames without an input).
//!
//! After the model's head, Melee's rules (rules.rs) run on the new fighter state: KOs at the
//! session's stage's blast zones, the revival platform, stocks, the timer, the end of the game.
//! Their state lives in SessionState (bytes 256..296); once they have ended the game every
//! run_inference fails with GameOver.
use pinocchio::{AccountView, Address, ProgramResult};

use crate::error::WorldError;
use crate::forward::{self, FrameBufs, Scratch};
use crate::model::{Model, Step};
use crate::state::*;

pub const DISCRIMINATOR: u8 = 6;

/// Accounts:
///   0. `[SIGNER]` the cranker: a player or the session's crank key; for NEXT_FRAME the
///                 session's ER validator
///   1. `[WRITE]`  SessionState
///   2. `[WRITE]`  HiddenState
///   3. `[]`       InputBuffer
///   4. `[]`       ModelManifest (finalized)
///   5.. `[]`      ModelWeights shards 0, 1, ... (as many as the blob needs, at most 8)
///
/// Data (after the discriminator), 10 bytes:
///   0 u64 expected_frame (NEXT_FRAME: the frame in flight, only while a scheduled crank is on)
///   8 u16 step_count (0 or 0xFFFF: all remaining steps)
pub struct RunInference<'a> {
    pub cranker: &'a AccountView,
    pub session: &'a mut AccountView,
    pub hidden: &'a mut AccountView,
    pub input: &'a AccountView,
    pub manifest: &'a AccountView,
    pub weights: &'a [AccountView],
}

#[inline(always)]
pub fn process(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
    if data.len() != 10 {
        return Err(WorldError::InvalidInstruction.into());
    }
    let expected_frame = rd_u64(data, 0);
    let step_count = u16::from_le_bytes([data[8], data[9]]) as usize;
    let [cranker, session, hidden, input, manifest, weights @ ..] = accounts else {
        return Err(pinocchio::error::ProgramError::NotEnoughAccountKeys);
    };
    if weights.is_empty() || weights.len() > crate::model::MAX_SHARDS {
        return Err(pinocchio::error::ProgramError::NotEnoughAccountKeys);
    }
    crate::sys::require_signer(cranker)?;
    check_session(session, program_id)?;
    check_manifest(manifest, program_id)?;
    {
        // SAFETY: read-only peeks at the checked session and manifest headers; no mutable
        // borrow is alive.
        let (s, m) = unsafe { (session.borrow_unchecked(), manifest.borrow_unchecked()) };
        check_hidden(hidden, s, program_id)?;
        check_input(input, s, program_id)?;
        let model_id = rd_u64(s, 16);
        if rd_u64(m, 8) != model_id {
            return Err(WorldError::AccountMismatch.into());
        }
        for (k, w) in weights.iter().enumerate() {
            check_weights(w, model_id, k, program_id)?;
        }
        let key = cranker.address().as_ref();
        let allowed = if expected_frame == NEXT_FRAME {
            &s[VALIDATOR_OFFSET..VALIDATOR_OFFSET + 32] == key && key.iter().any(|&b| b != 0)
        } else {
            may_crank(s, key)
        };
        if !allowed {
            return Err(WorldError::Unauthorized.into());
        }
    }
    if !session.is_writable() || !hidden.is_writable() {
        return Err(WorldError::InvalidAccount.into());
    }
    let accs = RunInference { cranker, session, hidden, input, manifest, weights };
    run(accs, expected_frame, step_count)
}

fn run(a: RunInference, expected_frame: u64, step_count: usize) -> ProgramResult {
    // SAFETY: the five accounts are distinct (duplicates would fail the discriminator
    // checks, each account type has its own), and these are the only borrows.
    let man = unsafe { a.manifest.borrow_unchecked() };
    let mut shards: [&[u8]; crate::model::MAX_SHARDS] = [&[]; crate::model::MAX_SHARDS];
    for (k, w) in a.weights.iter().enumerate() {
        // SAFETY: weights accounts are only read.
        shards[k] = unsafe { w.borrow_unchecked() };
    }
    let inp = unsafe { a.input.borrow_unchecked() };
    let ses = unsafe { a.session.borrow_unchecked_mut() };
    let hid = unsafe { a.hidden.borrow_unchecked_mut() };

    // Addresses, ids and the cranker were checked in `process`.
    let model_id = rd_u64(man, 8);
    if man[2] != 1 {
        return Err(WorldError::NotFinalized.into());
    }
    if rd_u64(hid, 16) != model_id {
        return Err(WorldError::AccountMismatch.into());
    }
    let n = a.weights.len();
    for shard in shards.iter_mut().take(n) {
        *shard = &shard[ACCOUNT_HEADER..];
    }
    if ses[2] != STATUS_ACTIVE {
        return Err(WorldError::SessionNotActive.into());
    }
    if ses[RULES_OFFSET + 1] != 0 {
        return Err(WorldError::GameOver.into());
    }
    // NO_STAGE (0) runs the model alone: create_session never makes such a session (it requires a
    // stage of the rules' table); the forward pass's bit-exactness harness (onchain/direct.py)
    // places one directly in LiteSVM.
    let stage = match ses[STAGE_OFFSET] {
        NO_STAGE => None,
        id => Some(crate::rules::stage_by_id(id).ok_or(WorldError::InvalidAccount)?),
    };
    let man_len = crate::model::rd_u32(man, 52) as usize;
    if ACCOUNT_HEADER + man_len > man.len() {
        return Err(WorldError::InvalidManifest.into());
    }
    let model = Model::parse(&man[ACCOUNT_HEADER..ACCOUNT_HEADER + man_len], &shards[..n])?;
    let dims = model.dims;
    if hid.len() < dims.hidden_len() {
        return Err(WorldError::InvalidAccount.into());
    }
    let frame = rd_u64(ses, 24);
    let expected_frame = if expected_frame == NEXT_FRAME {
        if ses[CRANK_OFFSET] != CRANK_SCHEDULED {
            return Err(WorldError::CrankNotScheduled.into());
        }
        frame
    } else {
        expected_frame
    };
    if frame != expected_frame || rd_u64(hid, 24) != frame {
        return Err(WorldError::StaleFrame.into());
    }
    let total = dims.steps_per_frame();
    let start = crate::model::rd_u16(hid, 2) as usize;
    if start >= total {
        return Err(WorldError::InvalidAccount.into());
    }
    let end = if step_count == 0 || start + step_count > total { total } else { start + step_count };

    let [o_r, o_xn, o_acc, o_gy, o_h] = dims.hidden_offsets();
    let base = hid.as_mut_ptr();
    // SAFETY: HiddenState data is 8-aligned and at least hidden_len() bytes (checked);
    // the five regions are disjoint, each 8-aligned and sized by Dims::hidden_offsets.
    let (mut f, h) = unsafe {
        (
            FrameBufs {
                r: core::slice::from_raw_parts_mut(base.add(o_r) as *mut i16, dims.d),
                xn: core::slice::from_raw_parts_mut(base.add(o_xn) as *mut i8, dims.d),
                acc: core::slice::from_raw_parts_mut(base.add(o_acc) as *mut i32, dims.r_rows()),
                gy: core::slice::from_raw_parts_mut(base.add(o_gy) as *mut i8, dims.e),
            },
            core::slice::from_raw_parts_mut(base.add(o_h) as *mut i32, dims.state_len()),
        )
    };
    let s = scratch();
    let per_layer = dims.e * dims.n;
    for i in start..end {
        match dims.step(i) {
            Step::Encode => {
                let fighters = [read_fighter(ses, 0), read_fighter(ses, 1)];
                let ctrl = [input_for(inp, 0, frame), input_for(inp, 1, frame)];
                wr_u64(ses, LAST_INPUT_FRAME_OFFSET[0], rd_u64(inp, INPUT_FRAME_OFFSET[0]));
                wr_u64(ses, LAST_INPUT_FRAME_OFFSET[1], rd_u64(inp, INPUT_FRAME_OFFSET[1]));
                let context = [ses[STAGE_OFFSET], ses[CHARACTER_OFFSET[0]], ses[CHARACTER_OFFSET[1]]];
                forward::build_features(&model, &fighters, &ctrl, context, &mut s.u);
                forward::encode(&model, s, f.r);
            }
            Step::InProj { layer, row0, row1 } => forward::in_proj_rows(&model, layer, s, &mut f, row0, row1),
            Step::Ssm { layer } => forward::ssm(&model, layer, s, &mut f, &mut h[layer * per_layer..(layer + 1) * per_layer]),
            Step::OutProj { layer, row0, row1 } => forward::out_proj_rows(&model, layer, s, &mut f, row0, row1),
            Step::Head => {
                forward::head(&model, s, f.r);
                let mut fighters = [read_fighter(ses, 0), read_fighter(ses, 1)];
                // A sampled-hit model's draws: session id and frame (state.rs: SessionState +8).
                let draw = forward::hit_draws(rd_u64(ses, 8), frame);
                forward::decode_outputs(&model, &mut fighters, &s.out[..dims.out_dim], draw);
                if let Some(stage) = stage {
                    let mut rules = [0u8; crate::rules::RULES_LEN];
                    rules.copy_from_slice(&ses[RULES_OFFSET..RULES_OFFSET + crate::rules::RULES_LEN]);
                    crate::rules::step_rules(stage, frame, &mut fighters, &mut rules);
                    ses[RULES_OFFSET..RULES_OFFSET + crate::rules::RULES_LEN].copy_from_slice(&rules);
                }
                write_fighter(ses, 0, &fighters[0]);
                write_fighter(ses, 1, &fighters[1]);
                wr_u64(ses, 24, frame + 1);
                wr_u64(hid, 24, frame + 1);
                wr_u64(ses, LAST_ACTIVE_OFFSET, crate::sys::now() as u64);
            }
        }
    }
    wr_u16(hid, 2, if end == total { 0 } else { end as u16 });
    Ok(())
}

/// A player's controller for `frame` under the input rule (state.rs): the latest input
/// while `frame <= input_frame + INPUT_HOLD_FRAMES`, else neutral.
fn input_for(inp: &[u8], player: usize, frame: u64) -> ControllerInput {
    let at = rd_u64(inp, INPUT_FRAME_OFFSET[player]);
    if frame > at.saturating_add(INPUT_HOLD_FRAMES) {
        ControllerInput::NEUTRAL
    } else {
        ControllerInput::read(inp, CONTROLLER_OFFSET[player])
    }
}

/// The forward pass's working memory.
#[cfg(any(target_arch = "bpf", target_os = "solana"))]
pub fn scratch() -> &'static mut Scratch {
    const HEAP_START: usize = 0x3_0000_0000;
    const _: () = assert!(core::mem::size_of::<Scratch>() <= 32 * 1024);
    // SAFETY: the program installs no allocator (`no_allocator!`), so the runtime's
    // 32 KiB heap region is used by nothing else; Scratch fits in it (checked above),
    // and this is called once per instruction, so there is a single live reference.
    // Its contents need no initialization: every stage writes before it reads.
    unsafe { &mut *(HEAP_START as *mut Scratch) }
}

#[cfg(not(any(target_arch = "bpf", target_os = "solana")))]
pub fn scratch() -> &'static mut Scratch {
    extern crate std;
    // Host builds (unit tests): a leaked zeroed Box per call is fine.
    // SAFETY: Scratch is plain integers; all-zero is a valid value.
    std::boxed::Box::leak(unsafe { std::boxed::Box::new_zeroed().assume_init() })
}
