//! The selective-scan inner loop: one channel's state update over its N states and the
//! readout C.h, the part of a frame that costs E * N per layer (intref.mamba_layer):
//!
//!     h[j] = sat32(rshift_round(decay * h[j], 20) + dbx * b[j])
//!     y    = sum_j c[j] * h[j]
//!
//! With the shipped LUTs nothing wraps: decay <= 2^20 (Q20 <= 1), |h| < 2^31, |dbx| <= 2^31,
//! |b|, |c| <= 128, so every intermediate stays below 2^52 and the sum of 32 terms below
//! 2^44. A cartridge with odd LUT values can make decay * h wrap; it then wraps in 64 bits
//! exactly as intref's int64 arithmetic does (same operations, same order).

/// True when no state of a channel can saturate, whatever `h` holds: for decay in
/// [0, 2^20] and -2^31 <= h < 2^31, |rshift_round(decay * h, 20)| <= decay * 2^11 + 1,
/// and |dbx * b| <= |dbx| * 128 (b is an int8); if their sum stays below 2^31 - 1 the new
/// state is an i32 without clamping.
#[inline(always)]
pub fn cannot_saturate(decay: i64, dbx: i64) -> bool {
    if !(0..=1 << 20).contains(&decay) {
        return false;
    }
    (decay << 11) + 1 + ((dbx.unsigned_abs() as i64) << 7) < i32::MAX as i64
}

/// One state (the portable form, also the tail when N is not a multiple of SCAN_BLOCK).
#[inline(always)]
unsafe fn scan_one(h: *mut i32, b: i64, c: i64, decay: i64, dbx: i64) -> i64 {
    let mut v = (decay.wrapping_mul(*h as i64).wrapping_add(1 << 19) >> 20).wrapping_add(dbx.wrapping_mul(b));
    if v > i32::MAX as i64 {
        v = i32::MAX as i64;
    }
    if v < i32::MIN as i64 {
        v = i32::MIN as i64;
    }
    *h = v as i32;
    c.wrapping_mul(v)
}

/// Update one channel's `n` states in place and return `sum_j c[j] * h_new[j]`.
///
/// # Safety
/// `h` has `n` readable and writable i32 (4-aligned); `b`, `c` have `n` i64; `decay` is in
/// any value (see the module comment on wrapping).
#[inline(always)]
pub unsafe fn scan_channel(h: *mut i32, b: *const i64, c: *const i64, n: usize, decay: i64, dbx: i64) -> i64 {
    let mut y = 0i64;
    for j in 0..n {
        // SAFETY: j < n.
        y = y.wrapping_add(scan_one(h.add(j), *b.add(j), *c.add(j), decay, dbx));
    }
    y
}

/// Distance from `b[0]` to `c[0]` in i64s: the scan reads C at a fixed offset from B
/// (forward::Scratch keeps `c` right after `b`, MAX_N entries each; checked there).
pub const C_OFFSET: usize = crate::model::MAX_N;
const _: () = assert!(C_OFFSET * 8 == 256, "the assembly below hard-codes c at b + 256 bytes");

/// One head's scan: `channels` consecutive channels of `n` states each.
#[derive(Clone, Copy)]
pub struct HeadScan {
    /// State rows of the head's channels, `channels * n` i32, 4-aligned.
    pub h: *mut i32,
    /// B: `n` i64; C: `n` i64 at `bc + C_OFFSET`.
    pub bc: *const i64,
    /// Per channel: dbx on entry, `y0 + sum_j c[j] * h_new[j]` on return. `channels` i64.
    pub yd: *mut i64,
    /// Per channel: y0, the start value of the sum. `channels` i64.
    pub y0: *const i64,
    pub channels: usize,
    pub n: usize,
    pub decay: i64,
    /// false only when `cannot_saturate(decay, dbx)` holds for every channel's dbx.
    pub clamp: bool,
}

/// The element update in sBPF assembly with fixed registers (r1 = h row, r2 = B, r5 =
/// decay, r6 = dbx, r8/r9 temporaries): load h[k], sign-extend it with `w8 += 0` (a 32-bit
/// add sign-extends its result into 64 bits on sBPF v0-v1: one instruction instead of a
/// shift pair), decay and round, add dbx * b[k].
#[cfg(target_arch = "bpf")]
macro_rules! el_update {
    ($k:literal) => {
        concat!(
            "r8 = *(u32 *)(r1 + ", $k, " * 4)\n",
            "w8 += 0\n",
            "r8 *= r5\n",
            "r8 += 524288\n",
            "r8 s>>= 20\n",
            "r9 = *(u64 *)(r2 + ", $k, " * 8)\n",
            "r9 *= r6\n",
            "r8 += r9\n",
        )
    };
}

/// Store h[k] and add c[k] * h[k] to y (r7).
#[cfg(target_arch = "bpf")]
macro_rules! el_store {
    ($k:literal) => {
        concat!(
            "*(u32 *)(r1 + ", $k, " * 4) = r8\n",
            "r9 = *(u64 *)(r2 + 256 + ", $k, " * 8)\n",
            "r9 *= r8\n",
            "r7 += r9\n",
        )
    };
}

/// One element without saturation: 12 instructions.
#[cfg(target_arch = "bpf")]
macro_rules! el_free {
    ($k:literal) => {
        concat!(el_update!($k), el_store!($k))
    };
}

/// One element with saturation to i32: 14 instructions when nothing saturates (two
/// jumps taken past the clamping moves).
#[cfg(target_arch = "bpf")]
macro_rules! el_sat {
    ($k:literal) => {
        concat!(
            el_update!($k),
            "if r8 s<= 2147483647 goto 2f\n",
            "r8 = 2147483647\n",
            "2:\n",
            "if r8 s>= -2147483648 goto 3f\n",
            "r8 = -2147483648\n",
            "3:\n",
            el_store!($k),
        )
    };
}

#[cfg(target_arch = "bpf")]
macro_rules! els8 {
    ($e:ident) => {
        concat!($e!(0), $e!(1), $e!(2), $e!(3), $e!(4), $e!(5), $e!(6), $e!(7))
    };
}

#[cfg(target_arch = "bpf")]
macro_rules! els16 {
    ($e:ident) => {
        concat!(els8!($e), $e!(8), $e!(9), $e!(10), $e!(11), $e!(12), $e!(13), $e!(14), $e!(15))
    };
}

#[cfg(target_arch = "bpf")]
macro_rules! els32 {
    ($e:ident) => {
        concat!(
            els16!($e), $e!(16), $e!(17), $e!(18), $e!(19), $e!(20), $e!(21), $e!(22), $e!(23),
            $e!(24), $e!(25), $e!(26), $e!(27), $e!(28), $e!(29), $e!(30), $e!(31)
        )
    };
}

/// The channel loop of one head in sBPF assembly: per channel load dbx, run the `$n`
/// unrolled elements on y = y0, store y over dbx, step to the next state row. 7
/// instructions per channel besides the elements.
#[cfg(target_arch = "bpf")]
macro_rules! head_loop {
    ($body:expr, $row_bytes:literal, $op:expr) => {{
        let op: &HeadScan = $op;
        // SAFETY: (caller's contract on HeadScan) the loop reads and writes `n` i32 at each
        // of the `channels` state rows from h, reads n i64 at bc and at bc + C_OFFSET, and
        // reads then writes one i64 per channel at yd; channels >= 1. Only the named
        // registers are written.
        core::arch::asm!(
            "1:",
            "r6 = *(u64 *)(r3 + 0)",
            "r7 = *(u64 *)(r0 + 0)",
            $body,
            "*(u64 *)(r3 + 0) = r7",
            concat!("r1 += ", $row_bytes),
            "r3 += 8",
            "r0 += 8",
            "if r1 < r4 goto 1b",
            inout("r0") op.y0 => _,
            inout("r1") op.h => _,
            in("r2") op.bc,
            inout("r3") op.yd => _,
            in("r4") op.h.add(op.channels * op.n),
            in("r5") op.decay,
            out("r6") _,
            out("r7") _,
            out("r8") _,
            out("r9") _,
            options(nostack, preserves_flags),
        );
    }};
}

/// Scan every channel of one head: for each channel `ch < channels`, with dbx = yd[ch],
/// update its n states (h[j] = sat32(rshift_round(decay * h[j], 20) + dbx * b[j])) and
/// set yd[ch] = y0[ch] + sum_j c[j] * h[j] (wrapping). On sBPF, n = 8, 16 and 32 run as one assembly loop.
///
/// # Safety
/// The pointers of `op` are valid for the extents documented on `HeadScan`.
#[inline(always)]
pub unsafe fn scan_head(op: &HeadScan) {
    if op.channels == 0 {
        return;
    }
    #[cfg(target_arch = "bpf")]
    {
        match (op.n, op.clamp) {
            (8, false) => return head_loop!(els8!(el_free), 32, op),
            (8, true) => return head_loop!(els8!(el_sat), 32, op),
            (16, false) => return head_loop!(els16!(el_free), 64, op),
            (16, true) => return head_loop!(els16!(el_sat), 64, op),
            (32, false) => return head_loop!(els32!(el_free), 128, op),
            (32, true) => return head_loop!(els32!(el_sat), 128, op),
            _ => {}
        }
    }
    for ch in 0..op.channels {
        // SAFETY: ch < channels: its state row and yd entry are in range (caller's contract).
        let yd = op.yd.add(ch);
        *yd = (*op.y0.add(ch)).wrapping_add(scan_channel(op.h.add(ch * op.n), op.bc, op.bc.add(C_OFFSET), op.n, op.decay, *yd));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::vec::Vec;

    fn reference(h: &mut [i32], b: &[i64], c: &[i64], decay: i64, dbx: i64) -> i64 {
        let mut y = 0i64;
        for j in 0..h.len() {
            let v = (((decay * h[j] as i64) + (1 << 19)) >> 20) + dbx * b[j];
            let v = v.clamp(i32::MIN as i64, i32::MAX as i64);
            h[j] = v as i32;
            y += c[j] * v;
        }
        y
    }

    #[test]
    fn cannot_saturate_is_sound_at_its_edges() {
        // the largest |dbx| that passes, with the h and b that push hardest either way
        for decay in [0i64, 1, 1 << 19, (1 << 20) - 1000, 1 << 20] {
            let room = (i32::MAX as i64 - 1 - (decay << 11) - 1) >> 7;
            for dbx in [room, -room, room + 1, -(room + 1)] {
                if !cannot_saturate(decay, dbx) {
                    continue;
                }
                for (hv, bv) in [(i32::MAX, 127i64), (i32::MIN, -128), (i32::MIN, 127), (i32::MAX, -128)] {
                    let v = ((decay * hv as i64 + (1 << 19)) >> 20) + dbx * bv;
                    assert!(v > i32::MIN as i64 && v < i32::MAX as i64, "{decay} {dbx} {hv} {bv}");
                }
            }
        }
        assert!(!cannot_saturate(1 << 20, 0)); // decay 1: h = i32::MAX + rounding may touch the edge
        assert!(!cannot_saturate((1 << 20) + 1, 0));
        assert!(!cannot_saturate(-1, 0));
        assert!(cannot_saturate(1 << 19, 1 << 16));
    }

    #[test]
    fn scan_matches_reference_on_edges() {
        for n in [1usize, 15, 16, 17, 32] {
            for (hv, bv, cv, decay, dbx) in [
                (i32::MAX, 127i64, 127i64, 1i64 << 20, i32::MAX as i64),
                (i32::MIN, -128, -128, 1 << 20, i32::MAX as i64),
                (i32::MIN, 127, 127, 1 << 20, i32::MIN as i64),
                (-1, 1, -1, 0, -1),
                (12345, -7, 3, 700_000, -99_999),
            ] {
                let mut h1: Vec<i32> = (0..n).map(|j| if j % 3 == 0 { hv } else { hv / (j as i32 + 1) }).collect();
                let b: Vec<i64> = (0..n).map(|j| if j % 2 == 0 { bv } else { -bv / 2 }).collect();
                let c: Vec<i64> = (0..n).map(|j| if j % 5 == 0 { cv } else { cv / 3 }).collect();
                let mut h2 = h1.clone();
                let want = reference(&mut h1, &b, &c, decay, dbx);
                // SAFETY: buffers hold n entries.
                let got = unsafe { scan_channel(h2.as_mut_ptr(), b.as_ptr(), c.as_ptr(), n, decay, dbx) };
                assert_eq!((got, &h2), (want, &h1));
            }
        }
    }
}
