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

/// One element in sBPF assembly (15 instructions when nothing saturates): load h[k] and
/// sign-extend, decay and round, add dbx * b[k], saturate to i32 (two jumps that skip the
/// clamping moves), store, and accumulate c[k] * h[k].
#[cfg(target_arch = "bpf")]
macro_rules! scan_elem {
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
            "if {t} s<= 2147483647 goto 2f\n",
            "{t} = 2147483647\n",
            "2:\n",
            "if {t} s>= -2147483648 goto 3f\n",
            "{t} = -2147483648\n",
            "3:\n",
            "*(u32 *)({hp} + ", $k, " * 4) = {t}\n",
            "{u} = *(u64 *)({cp} + ", $k, " * 8)\n",
            "{u} *= {t}\n",
            "{y} += {u}\n",
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
    core::arch::asm!(
        scan_elem!(0), scan_elem!(1), scan_elem!(2), scan_elem!(3),
        scan_elem!(4), scan_elem!(5), scan_elem!(6), scan_elem!(7),
        scan_elem!(8), scan_elem!(9), scan_elem!(10), scan_elem!(11),
        scan_elem!(12), scan_elem!(13), scan_elem!(14), scan_elem!(15),
        hp = in(reg) h,
        bp = in(reg) b,
        cp = in(reg) c,
        decay = in(reg) decay,
        dbx = in(reg) dbx,
        y = inout(reg) y,
        t = out(reg) _,
        u = out(reg) _,
        options(nostack, preserves_flags),
    );
    y
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
