//! Requantization of in_proj's accumulators to int8 (intref.linear + sat8):
//!
//!     v[i] = sat8(rshift_round((acc[i] + bias[i]) * mult[i], shift))
//!
//! On sBPF one assembly loop per destination kind: 18 instructions a row (the compiler's
//! loop spills the round and shift and sign-extends with shift pairs: about 27).

/// Operands of one requantization run.
#[derive(Clone, Copy)]
pub struct Requant {
    /// `count` i32 each, 4-aligned.
    pub acc: *const i32,
    pub bias: *const i32,
    pub mult: *const i32,
    /// Destination (see each function); written `count` times.
    pub out: *mut u8,
    /// For `requant_lut`: a 256-entry i8 table.
    pub lut: *const u8,
    pub count: usize,
    /// <= 62.
    pub shift: u32,
}

/// The shared head of a row in sBPF assembly (r1 acc, r2 bias, r3 mult, r6 round, r7
/// shift; result in r8): load and sign-extend (a 32-bit `+= 0` sign-extends on sBPF
/// v0-v1), add, multiply, round, shift, saturate to int8.
#[cfg(target_arch = "bpf")]
macro_rules! rq_row {
    () => {
        rq_row!("127", "-128")
    };
    ($hi:literal, $lo:literal) => {
        concat!(rq_unsat!(), "if r8 s<= ", $hi, " goto 2f\n", "r8 = ", $hi, "\n", "2:\n",
                "if r8 s>= ", $lo, " goto 3f\n", "r8 = ", $lo, "\n", "3:\n")
    };
}

/// The row's value before saturation (r8).
#[cfg(target_arch = "bpf")]
macro_rules! rq_unsat {
    () => {
        concat!(
            "r8 = *(u32 *)(r1 + 0)\n",
            "w8 += 0\n",
            "r9 = *(u32 *)(r2 + 0)\n",
            "w9 += 0\n",
            "r8 += r9\n",
            "r9 = *(u32 *)(r3 + 0)\n",
            "w9 += 0\n",
            "r8 *= r9\n",
            "r8 += r6\n",
            "r8 s>>= r7\n",
        )
    };
}

#[cfg(target_arch = "bpf")]
macro_rules! rq_loop {
    ($store:expr, $op:expr) => {
        rq_loop!(rq_row!(), $store, $op)
    };
    ($row:expr, $store:expr, $op:expr) => {{
        let op: &Requant = $op;
        // SAFETY: (caller's contract) reads `count` i32 at acc, bias, mult, the table at
        // lut + 0..256, writes `count` destination entries at out; count >= 1. Only the
        // named registers are written.
        core::arch::asm!(
            "1:",
            $row,
            $store,
            "r1 += 4",
            "r2 += 4",
            "r3 += 4",
            "if r1 < r5 goto 1b",
            in("r0") op.lut,
            inout("r1") op.acc => _,
            inout("r2") op.bias => _,
            inout("r3") op.mult => _,
            inout("r4") op.out => _,
            in("r5") op.acc.add(op.count),
            in("r6") (1i64 << op.shift) >> 1,
            in("r7") op.shift as u64,
            out("r8") _,
            out("r9") _,
            options(nostack, preserves_flags),
        );
    }};
}

/// rshift_round((acc[i] + bias[i]) * mult[i], shift), before any saturation.
#[inline(always)]
unsafe fn row_unsat(op: &Requant, i: usize) -> i64 {
    let v = (*op.acc.add(i) as i64).wrapping_add(*op.bias.add(i) as i64).wrapping_mul(*op.mult.add(i) as i64);
    v.wrapping_add((1i64 << op.shift) >> 1) >> op.shift
}

#[inline(always)]
unsafe fn row(op: &Requant, i: usize) -> i64 {
    row_unsat(op, i).clamp(-128, 127)
}

/// out as i64[count]: out[i] = v[i].
///
/// # Safety
/// acc, bias, mult have `count` readable i32; out has `count` writable i64 (8-aligned).
#[inline(always)]
pub unsafe fn requant_i64(op: &Requant) {
    if op.count == 0 {
        return;
    }
    #[cfg(target_arch = "bpf")]
    return rq_loop!(concat!("*(u64 *)(r4 + 0) = r8\n", "r4 += 8\n"), op);
    #[allow(unreachable_code)]
    for i in 0..op.count {
        *(op.out as *mut i64).add(i) = row(op, i);
    }
}

/// out as u8[count]: out[i] = lut[v[i] + 128] (the SiLU table's i8 byte).
///
/// # Safety
/// acc, bias, mult have `count` readable i32; lut has 256 bytes; out has `count`
/// writable bytes.
#[inline(always)]
pub unsafe fn requant_lut8(op: &Requant) {
    if op.count == 0 {
        return;
    }
    #[cfg(target_arch = "bpf")]
    return rq_loop!(concat!("r8 += r0\n", "r8 = *(u8 *)(r8 + 128)\n", "*(u8 *)(r4 + 0) = r8\n", "r4 += 1\n"), op);
    #[allow(unreachable_code)]
    for i in 0..op.count {
        *op.out.add(i) = *op.lut.add((row(op, i) + 128) as usize);
    }
}

/// out as i64[count]: out[i] = lut[v[i] + 128] as i8 (the SiLU table).
///
/// # Safety
/// acc, bias, mult have `count` readable i32; lut has 256 bytes; out has `count` writable
/// i64 (8-aligned).
#[inline(always)]
pub unsafe fn requant_lut(op: &Requant) {
    if op.count == 0 {
        return;
    }
    #[cfg(target_arch = "bpf")]
    return rq_loop!(
        concat!(
            "r8 += r0\n",
            "r8 = *(u8 *)(r8 + 128)\n",
            "r8 <<= 56\n",
            "r8 s>>= 56\n",
            "*(u64 *)(r4 + 0) = r8\n",
            "r4 += 8\n",
        ),
        op
    );
    #[allow(unreachable_code)]
    for i in 0..op.count {
        *(op.out as *mut i64).add(i) = *op.lut.add((row(op, i) + 128) as usize) as i8 as i64;
    }
}

/// out as i16[count]: out[i] = sat16(rshift_round((acc[i] + bias[i]) * mult[i], shift)), the
/// encoder's residual and the head's outputs (18 instructions a row on sBPF).
///
/// # Safety
/// acc, bias, mult have `count` readable i32; out has `count` writable i16 (2-aligned).
#[inline(always)]
pub unsafe fn requant_i16(op: &Requant) {
    if op.count == 0 {
        return;
    }
    #[cfg(target_arch = "bpf")]
    return rq_loop!(rq_row!("32767", "-32768"), concat!("*(u16 *)(r4 + 0) = r8\n", "r4 += 2\n"), op);
    #[allow(unreachable_code)]
    for i in 0..op.count {
        *(op.out as *mut i16).add(i) = row_unsat(op, i).clamp(-32768, 32767) as i16;
    }
}

/// The residual update of out_proj: out as i16[count] holding the residual stream r,
/// r[i] = sat16(r[i] + rshift_round((acc[i] + bias[i]) * mult[i], shift)) (22 instructions a
/// row on sBPF; the compiler's loop takes about 40).
///
/// # Safety
/// acc, bias, mult have `count` readable i32; out has `count` readable and writable i16
/// (2-aligned).
#[inline(always)]
pub unsafe fn residual_add(op: &Requant) {
    if op.count == 0 {
        return;
    }
    #[cfg(target_arch = "bpf")]
    return rq_loop!(
        rq_unsat!(),
        concat!(
            "r9 = *(u16 *)(r4 + 0)\n",
            "r9 <<= 48\n",
            "r9 s>>= 48\n",
            "r8 += r9\n",
            "if r8 s<= 32767 goto 4f\n",
            "r8 = 32767\n",
            "4:\n",
            "if r8 s>= -32768 goto 5f\n",
            "r8 = -32768\n",
            "5:\n",
            "*(u16 *)(r4 + 0) = r8\n",
            "r4 += 2\n",
        ),
        op
    );
    #[allow(unreachable_code)]
    for i in 0..op.count {
        let r = (op.out as *mut i16).add(i);
        *r = ((*r as i64).wrapping_add(row_unsat(op, i))).clamp(-32768, 32767) as i16;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::vec::Vec;

    #[test]
    fn requant_kinds_match_formula() {
        let acc: Vec<i32> = std::vec![i32::MAX, i32::MIN, -1, 0, 1, 12345, -54321, 77];
        let bias: Vec<i32> = std::vec![i32::MAX, i32::MIN, 3, -3, 0, -100, 100, 0];
        let mult: Vec<i32> = std::vec![1, 1, 1 << 20, -(1 << 20), i32::MAX, 3, i32::MIN, 0];
        let lut: Vec<u8> = (0..256u32).map(|i| (i * 7 + 3) as u8).collect();
        for shift in [0u32, 1, 7, 20, 40, 62] {
            let want: Vec<i64> = (0..acc.len())
                .map(|i| {
                    let v = (acc[i] as i64 + bias[i] as i64).wrapping_mul(mult[i] as i64);
                    (v.wrapping_add((1i64 << shift) >> 1) >> shift).clamp(-128, 127)
                })
                .collect();
            let mut o64 = std::vec![0i64; acc.len()];
            let mut o8 = std::vec![0u8; acc.len()];
            let mut ol = std::vec![0i64; acc.len()];
            let mut op = Requant { acc: acc.as_ptr(), bias: bias.as_ptr(), mult: mult.as_ptr(), out: o64.as_mut_ptr() as *mut u8, lut: lut.as_ptr(), count: acc.len(), shift };
            // SAFETY: every buffer holds acc.len() entries; lut 256.
            unsafe {
                requant_i64(&op);
                op.out = o8.as_mut_ptr();
                requant_lut8(&op);
                op.out = ol.as_mut_ptr() as *mut u8;
                requant_lut(&op);
            }
            let mut o16 = std::vec![0i16; acc.len()];
            let r0: Vec<i16> = std::vec![i16::MAX, i16::MIN, -1, 0, 1, 300, -7000, 12345];
            let mut res = r0.clone();
            op.out = o16.as_mut_ptr() as *mut u8;
            // SAFETY: as above, i16 buffers of acc.len() entries.
            unsafe {
                requant_i16(&op);
                op.out = res.as_mut_ptr() as *mut u8;
                residual_add(&op);
            }
            let unsat = |i: usize| {
                let v = (acc[i] as i64 + bias[i] as i64).wrapping_mul(mult[i] as i64);
                v.wrapping_add((1i64 << shift) >> 1) >> shift
            };
            assert_eq!(o16, (0..acc.len()).map(|i| unsat(i).clamp(-32768, 32767) as i16).collect::<Vec<_>>());
            let want_res: Vec<i16> = (0..acc.len()).map(|i| (r0[i] as i64).wrapping_add(unsat(i)).clamp(-32768, 32767) as i16).collect();
            assert_eq!(res, want_res);
            assert_eq!(o64, want);
            assert_eq!(o8, want.iter().map(|&v| lut[(v + 128) as usize]).collect::<Vec<_>>());
            assert_eq!(ol, want.iter().map(|&v| lut[(v + 128) as usize] as i8 as i64).collect::<Vec<_>>());
        }
    }
}

/// The gate of intref.mamba_layer per channel, from the scan's rounded numerators:
///
///     gy[i] = sat8(rshift_round(sat8(num[i] >> s_y) * gz[i] * m_g, s_g))
#[derive(Clone, Copy)]
pub struct Gate {
    /// `count` i64, 8-aligned.
    pub num: *const i64,
    /// SiLU(z) as i8 bytes, `count`.
    pub gz: *const u8,
    /// `count` writable i8.
    pub out: *mut u8,
    pub count: usize,
    pub s_y: u32,
    pub s_g: u32,
    pub m_g: i64,
}

/// Apply `Gate` (20 instructions a channel on sBPF).
///
/// # Safety
/// The pointers of `op` are valid for `count` entries.
#[inline(always)]
pub unsafe fn gate(op: &Gate) {
    if op.count == 0 {
        return;
    }
    #[cfg(target_arch = "bpf")]
    {
        // SAFETY: reads count i64 at num and count bytes at gz, writes count bytes at out;
        // count >= 1. Only the named registers are written.
        core::arch::asm!(
            "1:",
            "r8 = *(u64 *)(r1 + 0)",
            "r8 s>>= r6",
            "if r8 s<= 127 goto 2f",
            "r8 = 127",
            "2:",
            "if r8 s>= -128 goto 3f",
            "r8 = -128",
            "3:",
            "r9 = *(u8 *)(r2 + 0)",
            "r9 <<= 56",
            "r9 s>>= 56",
            "r8 *= r9",
            "r8 *= r7",
            "r8 += r0",
            "r8 s>>= r5",
            "if r8 s<= 127 goto 4f",
            "r8 = 127",
            "4:",
            "if r8 s>= -128 goto 5f",
            "r8 = -128",
            "5:",
            "*(u8 *)(r3 + 0) = r8",
            "r1 += 8",
            "r2 += 1",
            "r3 += 1",
            "if r1 < r4 goto 1b",
            in("r0") (1i64 << op.s_g) >> 1,
            inout("r1") op.num => _,
            inout("r2") op.gz => _,
            inout("r3") op.out => _,
            in("r4") op.num.add(op.count),
            in("r5") op.s_g as u64,
            in("r6") op.s_y as u64,
            in("r7") op.m_g,
            out("r8") _,
            out("r9") _,
            options(nostack, preserves_flags),
        );
        return;
    }
    #[allow(unreachable_code)]
    for i in 0..op.count {
        let y = (*op.num.add(i) >> op.s_y).clamp(-128, 127);
        let gz = *op.gz.add(i) as i8 as i64;
        let g = y.wrapping_mul(gz).wrapping_mul(op.m_g).wrapping_add((1i64 << op.s_g) >> 1) >> op.s_g;
        *op.out.add(i) = g.clamp(-128, 127) as i8 as u8;
    }
}
