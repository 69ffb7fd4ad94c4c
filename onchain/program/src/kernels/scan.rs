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

/// States per unrolled block of the sBPF assembly.
pub const SCAN_BLOCK: usize = 16;

/// The start of one element: load h[k] and sign-extend, decay and round, add dbx * b[k].
#[cfg(target_arch = "bpf")]
macro_rules! scan_update {
    ($k:literal) => {
        concat!(
            "{t} = *(u32 *)({hp} + ", $k, " * 4)\n",
            "{t} <<= 32\n",
            "{t} s>>= 32\n",
            "{t} *= {decay}\n",
            "{t} += 524288\n",
            "{t} s>>= 20\n",
            "{u} = *(u64 *)({bp} + ", $k, " * 8)\n",
            "{u} *= {dbx}\n",
            "{t} += {u}\n",
        )
    };
}

/// The end of one element: store h[k] and accumulate c[k] * h[k].
#[cfg(target_arch = "bpf")]
macro_rules! scan_store {
    ($k:literal) => {
        concat!(
            "*(u32 *)({hp} + ", $k, " * 4) = {t}\n",
            "{u} = *(u64 *)({cp} + ", $k, " * 8)\n",
            "{u} *= {t}\n",
            "{y} += {u}\n",
        )
    };
}

/// One element in sBPF assembly (15 instructions when nothing saturates): the update,
/// saturation to i32 (two jumps that skip the clamping moves), then the store.
#[cfg(target_arch = "bpf")]
macro_rules! scan_elem {
    ($k:literal) => {
        concat!(
            scan_update!($k),
            "if {t} s<= 2147483647 goto 2f\n",
            "{t} = 2147483647\n",
            "2:\n",
            "if {t} s>= -2147483648 goto 3f\n",
            "{t} = -2147483648\n",
            "3:\n",
            scan_store!($k),
        )
    };
}

/// The same element without the saturation (13 instructions), for channels where
/// `cannot_saturate` proved it never happens.
#[cfg(target_arch = "bpf")]
macro_rules! scan_elem_unclamped {
    ($k:literal) => {
        concat!(scan_update!($k), scan_store!($k))
    };
}

/// One SCAN_BLOCK-state block in sBPF assembly, with the element macro given.
#[cfg(target_arch = "bpf")]
macro_rules! scan_block_asm {
    ($elem:ident, $h:expr, $b:expr, $c:expr, $decay:expr, $dbx:expr, $y:expr) => {
        core::arch::asm!(
            $elem!(0), $elem!(1), $elem!(2), $elem!(3),
            $elem!(4), $elem!(5), $elem!(6), $elem!(7),
            $elem!(8), $elem!(9), $elem!(10), $elem!(11),
            $elem!(12), $elem!(13), $elem!(14), $elem!(15),
            hp = in(reg) $h,
            bp = in(reg) $b,
            cp = in(reg) $c,
            decay = in(reg) $decay,
            dbx = in(reg) $dbx,
            y = inout(reg) $y,
            t = out(reg) _,
            u = out(reg) _,
            options(nostack, preserves_flags),
        )
    };
}

/// SCAN_BLOCK states of one channel; returns y plus their c[j] * h[j].
///
/// # Safety
/// `h` has SCAN_BLOCK readable and writable i32 (4-aligned), `b` and `c` SCAN_BLOCK i64.
#[cfg(target_arch = "bpf")]
#[inline(always)]
pub unsafe fn scan_block(h: *mut i32, b: *const i64, c: *const i64, decay: i64, dbx: i64, y: i64) -> i64 {
    let mut y = y;
    // SAFETY: reads and writes 64 bytes at h, reads 128 bytes at b and c (caller's
    // contract); clobbers only the named registers.
    scan_block_asm!(scan_elem, h, b, c, decay, dbx, y);
    y
}

/// `scan_block` without saturation: the caller has checked `cannot_saturate(decay, dbx)`.
///
/// # Safety
/// As `scan_block`.
#[cfg(target_arch = "bpf")]
#[inline(always)]
pub unsafe fn scan_block_unclamped(h: *mut i32, b: *const i64, c: *const i64, decay: i64, dbx: i64, y: i64) -> i64 {
    let mut y = y;
    // SAFETY: as scan_block.
    scan_block_asm!(scan_elem_unclamped, h, b, c, decay, dbx, y);
    y
}

/// Portable twin: the saturation never fires when the caller's check holds, so the
/// clamping form gives the same results.
#[cfg(not(target_arch = "bpf"))]
#[inline(always)]
pub unsafe fn scan_block_unclamped(h: *mut i32, b: *const i64, c: *const i64, decay: i64, dbx: i64, y: i64) -> i64 {
    debug_assert!(cannot_saturate(decay, dbx));
    scan_block(h, b, c, decay, dbx, y)
}

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

/// Portable twin of the sBPF assembly.
#[cfg(not(target_arch = "bpf"))]
#[inline(always)]
pub unsafe fn scan_block(h: *mut i32, b: *const i64, c: *const i64, decay: i64, dbx: i64, y: i64) -> i64 {
    let mut y = y;
    for k in 0..SCAN_BLOCK {
        // SAFETY: k < SCAN_BLOCK (caller's contract).
        y = y.wrapping_add(scan_one(h.add(k), *b.add(k), *c.add(k), decay, dbx));
    }
    y
}

/// Update one channel's `n` states in place and return `sum_j c[j] * h_new[j]`.
///
/// # Safety
/// `h` has `n` readable and writable i32 (4-aligned); `b`, `c` have `n` i64; `decay` is in
/// any value (see the module comment on wrapping).
#[inline(always)]
pub unsafe fn scan_channel(h: *mut i32, b: *const i64, c: *const i64, n: usize, decay: i64, dbx: i64) -> i64 {
    let mut y = 0i64;
    let mut j = 0;
    // The clamping block, SCAN_BLOCK states at a time (all of a channel when N = 16).
    while j + SCAN_BLOCK <= n {
        // SAFETY: j + SCAN_BLOCK <= n.
        y = scan_block(h.add(j), b.add(j), c.add(j), decay, dbx, y);
        j += SCAN_BLOCK;
    }
    while j < n {
        // SAFETY: j < n.
        y = y.wrapping_add(scan_one(h.add(j), *b.add(j), *c.add(j), decay, dbx));
        j += 1;
    }
    y
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
