//! Account layouts (little-endian, fixed offsets). Every account starts with a
//! discriminator byte and a version byte.
//!
//! ModelManifest (`[b"manifest", model_id]`):
//!   0 u8 disc=1 | 1 u8 version | 2 u8 finalized | 3 u8 bump | 4 u32 0
//!   8 u64 model_id | 16 [32] authority | 48 u32 0 | 52 u32 manifest_len | 56 u64 0
//!   64.. manifest bytes (worldmodel/cartridge.py)
//!
//! ModelWeights (`[b"weights", model_id, shard u16]`), one per 8 MiB shard of the blob:
//!   0 u8 disc=2 | 1 u8 version | 2..8 0 | 8 u64 model_id | 16 u32 weights_len (whole blob)
//!   20 u16 shard index | 22..64 0
//!   64.. this shard's bytes of the weights blob
//!
//! SessionState (`[b"session", session_id]`), 184 bytes:
//!   0 u8 disc=3 | 1 u8 version | 2 u8 status | 3 u8 bump | 4 u32 0
//!   8 u64 session_id | 16 u64 model_id | 24 u64 frame
//!   32 [32] player 1 | 64 [32] player 2
//!   96 u64 last_input_frame[0] | 104 u64 last_input_frame[1] | 112 u64 last_active_slot
//!   120 [i16; 16] fighter 1 | 152 [i16; 16] fighter 2
//!
//! HiddenState (`[b"hidden", session_id]`):
//!   0 u8 disc=4 | 1 u8 version | 2 u16 next_step (0: no frame in flight) | 4 u32 0
//!   8 u64 session_id | 16 u64 model_id | 24 u64 frame
//!   then, each padded to 8 bytes (model::Dims::hidden_offsets):
//!   [i16; D] residual r | [i8; D] xn | [i32; R] in_proj acc | [i8; E] gy   (a frame's
//!   activations between transactions) | [i32; L * E * N] selective-scan state h
//!
//! InputBuffer (`[b"input", session_id]`), 32 bytes:
//!   0 u8 disc=5 | 1 u8 version | 2..8 0 | 8 u64 session_id
//!   16 ControllerInput player 1 | 24 ControllerInput player 2
//!   ControllerInput: i8 stick_x, i8 stick_y, i8 cstick_x, i8 cstick_y, u8 l, u8 r, u16 buttons
use crate::model::rd_u16;

pub const VERSION: u8 = 1;
pub const DISC_MANIFEST: u8 = 1;
pub const DISC_WEIGHTS: u8 = 2;
pub const DISC_SESSION: u8 = 3;
pub const DISC_HIDDEN: u8 = 4;
pub const DISC_INPUT: u8 = 5;

pub const ACCOUNT_HEADER: usize = 64;
pub const SESSION_LEN: usize = 184;
pub const INPUT_LEN: usize = 32;
pub const HIDDEN_HEADER: usize = 32;
pub const FIGHTER_OFFSET: [usize; 2] = [120, 152];
pub const CONTROLLER_OFFSET: [usize; 2] = [16, 24];

#[inline(always)]
pub fn rd_u64(b: &[u8], o: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[o..o + 8]);
    u64::from_le_bytes(a)
}

#[inline(always)]
pub fn wr_u64(b: &mut [u8], o: usize, v: u64) {
    b[o..o + 8].copy_from_slice(&v.to_le_bytes());
}

#[inline(always)]
pub fn wr_u16(b: &mut [u8], o: usize, v: u16) {
    b[o..o + 2].copy_from_slice(&v.to_le_bytes());
}

/// One player's controller for a frame.
#[derive(Clone, Copy, Debug, Default)]
pub struct ControllerInput {
    pub stick_x: i8,
    pub stick_y: i8,
    pub cstick_x: i8,
    pub cstick_y: i8,
    pub l: u8,
    pub r: u8,
    pub buttons: u16,
}

impl ControllerInput {
    pub fn read(b: &[u8], o: usize) -> Self {
        ControllerInput {
            stick_x: b[o] as i8,
            stick_y: b[o + 1] as i8,
            cstick_x: b[o + 2] as i8,
            cstick_y: b[o + 3] as i8,
            l: b[o + 4],
            r: b[o + 5],
            buttons: rd_u16(b, o + 6),
        }
    }
}

/// Read a fighter's 16 i16 fields from SessionState.
pub fn read_fighter(b: &[u8], player: usize) -> [i16; 16] {
    let mut f = [0i16; 16];
    let o = FIGHTER_OFFSET[player];
    for (i, v) in f.iter_mut().enumerate() {
        *v = rd_u16(b, o + 2 * i) as i16;
    }
    f
}

pub fn write_fighter(b: &mut [u8], player: usize, f: &[i16; 16]) {
    let o = FIGHTER_OFFSET[player];
    for (i, v) in f.iter().enumerate() {
        wr_u16(b, o + 2 * i, *v as u16);
    }
}
