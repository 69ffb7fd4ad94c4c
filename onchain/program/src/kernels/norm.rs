//! RMSNorm's two passes over the residual stream (intref.rms_norm):
//!
//!     ss    = sum_i r[i]^2                                  (u64)
//!     xn[i] = sat8(rshift_round(r[i] * inv * gain[i], shift))  inv = 2^30 / isqrt(ss / d + eps)
//!
//! On sBPF each pass is one assembly loop over four entries at a time (5.5 and 13
//! instructions an entry; the compiler's loops, with bounds checks, take about 2-3 times that).
//! r * inv * gain wraps in 64 bits exactly as intref's int64 arithmetic (wrapping
//! multiplication is associative, so the order of the two products does not matter).

/// sum_i r[i]^2 over `d` entries.
///
/// # Safety
/// `r` has `d` readable i16 (2-aligned).
#[inline(always)]
pub unsafe fn sum_squares(r: *const i16, d: usize) -> u64 {
    #[cfg(target_arch = "bpf")]
    if d % 4 == 0 && d > 0 {
        let ss: u64;
        // SAFETY: reads d i16 at r (caller's contract), d a positive multiple of 4; only the
        // named registers are written.
        core::arch::asm!(
            "r0 = 0",
            "1:",
            "r8 = *(u16 *)(r1 + 0)", "r8 <<= 48", "r8 s>>= 48", "r8 *= r8", "r0 += r8",
            "r8 = *(u16 *)(r1 + 2)", "r8 <<= 48", "r8 s>>= 48", "r8 *= r8", "r0 += r8",
            "r8 = *(u16 *)(r1 + 4)", "r8 <<= 48", "r8 s>>= 48", "r8 *= r8", "r0 += r8",
            "r8 = *(u16 *)(r1 + 6)", "r8 <<= 48", "r8 s>>= 48", "r8 *= r8", "r0 += r8",
            "r1 += 8",
            "if r1 < r2 goto 1b",
            out("r0") ss,
            inout("r1") r => _,
            in("r2") r.add(d),
            out("r8") _,
            options(nostack, readonly, preserves_flags),
        );
        return ss;
    }
    let mut ss = 0u64;
    for i in 0..d {
        // SAFETY: i < d.
        let v = *r.add(i) as i64;
        ss = ss.wrapping_add((v * v) as u64);
    }
    ss
}

/// Operands of the scaling pass.
#[derive(Clone, Copy)]
pub struct NormScale {
    /// `d` i16, 2-aligned.
    pub r: *const i16,
    /// `d` i32, 4-aligned.
    pub gain: *const i32,
    /// `d` writable i8.
    pub xn: *mut i8,
    pub d: usize,
    pub inv: i64,
    /// <= 62.
    pub shift: u32,
}

/// One entry of the scaling pass in sBPF assembly (r1 r, r2 gain, r3 xn, r5 inv, r6 round,
/// r7 shift; r8, r9 temporaries), at entry offset $k of the current group of four.
#[cfg(target_arch = "bpf")]
macro_rules! scale_one {
    ($k:literal) => {
        concat!(
            "r8 = *(u16 *)(r1 + 2 * ", $k, ")\n",
            "r8 <<= 48\n",
            "r8 s>>= 48\n",
            "r8 *= r5\n",
            "r9 = *(u32 *)(r2 + 4 * ", $k, ")\n",
            "w9 += 0\n",
            "r8 *= r9\n",
            "r8 += r6\n",
            "r8 s>>= r7\n",
            "if r8 s<= 127 goto 2f\n",
            "r8 = 127\n",
            "2:\n",
            "if r8 s>= -128 goto 3f\n",
            "r8 = -128\n",
            "3:\n",
            "*(u8 *)(r3 + ", $k, ") = r8\n",
        )
    };
}

/// xn[i] = sat8(rshift_round(r[i] * inv * gain[i], shift)) for i < d.
///
/// # Safety
/// The pointers of `op` are valid for the extents documented on `NormScale`.
#[inline(always)]
pub unsafe fn scale(op: &NormScale) {
    let round = (1i64 << op.shift) >> 1;
    #[cfg(target_arch = "bpf")]
    if op.d % 4 == 0 && op.d > 0 {
        // SAFETY: reads d i16 at r and d i32 at gain, writes d bytes at xn (caller's
        // contract), d a positive multiple of 4; only the named registers are written.
        core::arch::asm!(
            "1:",
            scale_one!(0), scale_one!(1), scale_one!(2), scale_one!(3),
            "r1 += 8",
            "r2 += 16",
            "r3 += 4",
            "if r1 < r4 goto 1b",
            inout("r1") op.r => _,
            inout("r2") op.gain => _,
            inout("r3") op.xn => _,
            in("r4") op.r.add(op.d),
            in("r5") op.inv,
            in("r6") round,
            in("r7") op.shift as u64,
            out("r8") _,
            out("r9") _,
            options(nostack, preserves_flags),
        );
        return;
    }
    for i in 0..op.d {
        // SAFETY: i < d (caller's contract).
        let v = (*op.r.add(i) as i64).wrapping_mul(op.inv).wrapping_mul(*op.gain.add(i) as i64);
        *op.xn.add(i) = (v.wrapping_add(round) >> op.shift).clamp(-128, 127) as i8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::vec::Vec;

    #[test]
    fn passes_match_formula_on_edges() {
        let r: Vec<i16> = std::vec![i16::MAX, i16::MIN, -1, 0, 1, 300, -7000, 12345];
        let gain: Vec<i32> = std::vec![i32::MAX, i32::MIN, 1 << 16, -(1 << 16), 0, 3, -99, 1];
        let want_ss: u64 = r.iter().map(|&v| (v as i64 * v as i64) as u64).sum();
        // SAFETY: r holds 8 entries.
        assert_eq!(unsafe { sum_squares(r.as_ptr(), r.len()) }, want_ss);
        for (inv, shift) in [(1i64 << 30, 40u32), (12345, 20), (-5, 0), (i64::MAX, 62)] {
            let mut xn = std::vec![0i8; r.len()];
            let op = NormScale { r: r.as_ptr(), gain: gain.as_ptr(), xn: xn.as_mut_ptr(), d: r.len(), inv, shift };
            // SAFETY: every buffer holds r.len() entries.
            unsafe { scale(&op) };
            let want: Vec<i8> = (0..r.len())
                .map(|i| {
                    let v = (r[i] as i64).wrapping_mul(inv).wrapping_mul(gain[i] as i64);
                    (v.wrapping_add((1i64 << shift) >> 1) >> shift).clamp(-128, 127) as i8
                })
                .collect();
            assert_eq!(xn, want);
        }
    }
}
