//! INT8 matrix-vector products: `out[r] = sum_c W[r][c] * x[c]` exactly, as i32.
//!
//! Every kernel returns the exact dot product (|sum| <= cols * 2^14 < 2^31 for
//! cols <= 2^16), so the choice of kernel never changes a result; only its cost.

/// Kernel ids for the benchmark instruction.
pub const KERNEL_PACKED: u8 = 0;
pub const KERNEL_LANES: u8 = 1;

/// Lane layout (weight layout 2): a word holds three weights of one column as the integer
/// `w0 + w1 * 2^21 + w2 * 2^42` (signed int8 weights, the word is its 64-bit two's
/// complement), four words per column of a 12-row block (rows 3k, 3k+1, 3k+2 in word k).
/// One multiply by a sign-extended x[c] adds the three products w*x to the three 21-bit
/// fields of an accumulator started at ACC_INIT. Products lie in [-16256, 16384], so after
/// at most FLUSH_COLS = 64 of them each field is in [8191, 2^21 - 1]: no field ever borrows
/// from or carries into its neighbour, and the fields read out with a mask and a shift.
pub const LANE_BITS: u32 = 21;
pub const LANE_MASK: u64 = (1 << LANE_BITS) - 1;
pub const WORDS_PER_COL: usize = 4;
pub const BLOCK_ROWS: usize = 3 * WORDS_PER_COL;
pub const FLUSH_COLS: usize = 64;
/// Start value of each 21-bit field (2^20 - 1): the bias that keeps it non-negative.
pub const LANE_INIT: u64 = (1 << 20) - 1;
pub const ACC_INIT: u64 = LANE_INIT | LANE_INIT << LANE_BITS | LANE_INIT << (2 * LANE_BITS);

/// Bytes of a lane-layout matrix's packed words (rows padded to 12).
pub const fn lanes_bytes(rows: usize, cols: usize) -> usize {
    (rows + BLOCK_ROWS - 1) / BLOCK_ROWS * cols * WORDS_PER_COL * 8
}

#[inline(always)]
fn sext8(b: u32) -> i32 {
    ((b & 0xFF) ^ 0x80) as i32 - 0x80
}

/// The seed's baseline: row-major i8 weights, four weights and four inputs per u32 load,
/// each byte sign-extended and multiplied.
///
/// # Safety
/// `w` points to `rows * cols` readable bytes, `x` to `cols`, `out` to `rows` writable
/// i32s; `cols` is a multiple of 4 and `w`, `x` are 4-byte aligned.
pub unsafe fn matvec_packed(w: *const u8, x: *const i8, rows: usize, cols: usize, out: *mut i32) {
    let words = cols / 4;
    let xw = x as *const u32;
    for r in 0..rows {
        let row = w.add(r * cols) as *const u32;
        let mut acc: i32 = 0;
        for k in 0..words {
            // SAFETY: k < cols / 4, within the row and the input (caller's contract).
            let wv = core::ptr::read(row.add(k));
            let xv = core::ptr::read(xw.add(k));
            acc = acc.wrapping_add(sext8(wv).wrapping_mul(sext8(xv)));
            acc = acc.wrapping_add(sext8(wv >> 8).wrapping_mul(sext8(xv >> 8)));
            acc = acc.wrapping_add(sext8(wv >> 16).wrapping_mul(sext8(xv >> 16)));
            acc = acc.wrapping_add(sext8(wv >> 24).wrapping_mul(sext8(xv >> 24)));
        }
        // SAFETY: r < rows.
        *out.add(r) = acc;
    }
}

/// One column of a 12-row block, sBPF assembly text: load x[c], then for each of the four
/// words of column c: load, multiply, add to its accumulator.
#[cfg(target_arch = "bpf")]
macro_rules! mac_col {
    ($c:literal) => {
        concat!(
            "{x} = *(u64 *)({xp} + 8 * ", $c, ")\n",
            "{t} = *(u64 *)({wp} + 32 * ", $c, ")\n", "{t} *= {x}\n", "{a0} += {t}\n",
            "{t} = *(u64 *)({wp} + 32 * ", $c, " + 8)\n", "{t} *= {x}\n", "{a1} += {t}\n",
            "{t} = *(u64 *)({wp} + 32 * ", $c, " + 16)\n", "{t} *= {x}\n", "{a2} += {t}\n",
            "{t} = *(u64 *)({wp} + 32 * ", $c, " + 24)\n", "{t} *= {x}\n", "{a3} += {t}\n",
        )
    };
}

/// Flush one accumulator (word k of the block) into the u32 row totals at tp + 12k:
/// its three 21-bit fields are added to rows 3k, 3k+1, 3k+2.
#[cfg(target_arch = "bpf")]
macro_rules! flush_word {
    ($a:literal, $o:literal) => {
        concat!(
            "{t} = {", $a, "}\n", "{t} &= 2097151\n",
            "{x} = *(u32 *)({tp} + ", $o, ")\n", "{x} += {t}\n", "*(u32 *)({tp} + ", $o, ") = {x}\n",
            "{t} = {", $a, "}\n", "{t} >>= 21\n", "{t} &= 2097151\n",
            "{x} = *(u32 *)({tp} + ", $o, " + 4)\n", "{x} += {t}\n", "*(u32 *)({tp} + ", $o, " + 4) = {x}\n",
            "{", $a, "} >>= 42\n",
            "{x} = *(u32 *)({tp} + ", $o, " + 8)\n", "{x} += {", $a, "}\n", "*(u32 *)({tp} + ", $o, " + 8) = {x}\n",
        )
    };
}

/// Eight columns of one 12-row block. Advances `xp` by 8 columns and `wp` by 32 words.
/// On sBPF this is assembly: LLVM's schedule of the same code hoists loads and spills the
/// x pointer (about 1.3 instructions per MAC instead of 13/12).
///
/// # Safety
/// `xp` has 8 readable u64 and `wp` 32 readable u64, both 8-aligned.
#[cfg(target_arch = "bpf")]
#[inline(always)]
unsafe fn cols8(xp: &mut *const u64, wp: &mut *const u64, a: &mut [u64; 4]) {
    // SAFETY: reads 64 bytes at xp and 256 at wp (caller's contract); writes only the
    // named registers.
    core::arch::asm!(
        mac_col!(0), mac_col!(1), mac_col!(2), mac_col!(3),
        mac_col!(4), mac_col!(5), mac_col!(6), mac_col!(7),
        xp = in(reg) *xp,
        wp = in(reg) *wp,
        a0 = inout(reg) a[0],
        a1 = inout(reg) a[1],
        a2 = inout(reg) a[2],
        a3 = inout(reg) a[3],
        x = out(reg) _,
        t = out(reg) _,
        options(nostack, readonly, preserves_flags),
    );
    *xp = xp.add(8);
    *wp = wp.add(32);
}

/// Portable twin of the sBPF assembly (host builds and unit tests).
#[cfg(not(target_arch = "bpf"))]
#[inline(always)]
unsafe fn cols8(xp: &mut *const u64, wp: &mut *const u64, a: &mut [u64; 4]) {
    for i in 0..8 {
        // SAFETY: as above.
        let xv = *xp.add(i);
        for (k, acc) in a.iter_mut().enumerate() {
            *acc = acc.wrapping_add((*wp.add(4 * i + k)).wrapping_mul(xv));
        }
    }
    *xp = xp.add(8);
    *wp = wp.add(32);
}

/// FLUSH_COLS (64) columns of one 12-row block from fresh accumulators, then the flush
/// into the block's twelve u32 row totals at `tot`. Advances `xp` by 64 columns and `wp`
/// by 256 words. One assembly block per flush period: no loop, and no register spills
/// between the multiply-adds and the flush.
///
/// # Safety
/// `xp` has 64 readable u64, `wp` 256 (8-aligned), `tot` 12 writable u32 (4-aligned).
#[cfg(target_arch = "bpf")]
#[inline(always)]
unsafe fn cols64_flush(xp: &mut *const u64, wp: &mut *const u64, tot: *mut u32) {
    // SAFETY: reads 512 bytes at xp and 2048 at wp, reads and writes 48 bytes at tot
    // (caller's contract); clobbers only the named registers.
    core::arch::asm!(
        mac_col!(0), mac_col!(1), mac_col!(2), mac_col!(3), mac_col!(4), mac_col!(5), mac_col!(6), mac_col!(7),
        mac_col!(8), mac_col!(9), mac_col!(10), mac_col!(11), mac_col!(12), mac_col!(13), mac_col!(14), mac_col!(15),
        mac_col!(16), mac_col!(17), mac_col!(18), mac_col!(19), mac_col!(20), mac_col!(21), mac_col!(22), mac_col!(23),
        mac_col!(24), mac_col!(25), mac_col!(26), mac_col!(27), mac_col!(28), mac_col!(29), mac_col!(30), mac_col!(31),
        mac_col!(32), mac_col!(33), mac_col!(34), mac_col!(35), mac_col!(36), mac_col!(37), mac_col!(38), mac_col!(39),
        mac_col!(40), mac_col!(41), mac_col!(42), mac_col!(43), mac_col!(44), mac_col!(45), mac_col!(46), mac_col!(47),
        mac_col!(48), mac_col!(49), mac_col!(50), mac_col!(51), mac_col!(52), mac_col!(53), mac_col!(54), mac_col!(55),
        mac_col!(56), mac_col!(57), mac_col!(58), mac_col!(59), mac_col!(60), mac_col!(61), mac_col!(62), mac_col!(63),
        flush_word!("a0", 0), flush_word!("a1", 12), flush_word!("a2", 24), flush_word!("a3", 36),
        "{xp} += 512",
        "{wp} += 2048",
        xp = inout(reg) *xp,
        wp = inout(reg) *wp,
        tp = in(reg) tot,
        a0 = inout(reg) ACC_INIT => _,
        a1 = inout(reg) ACC_INIT => _,
        a2 = inout(reg) ACC_INIT => _,
        a3 = inout(reg) ACC_INIT => _,
        x = out(reg) _,
        t = out(reg) _,
        options(nostack, preserves_flags),
    );
}

/// Portable twin of the sBPF assembly.
#[cfg(not(target_arch = "bpf"))]
#[inline(always)]
unsafe fn cols64_flush(xp: &mut *const u64, wp: &mut *const u64, tot: *mut u32) {
    let mut a = [ACC_INIT; 4];
    for _ in 0..FLUSH_COLS / 8 {
        cols8(xp, wp, &mut a);
    }
    flush(&a, tot);
}

/// Add each accumulator's three 21-bit fields to the u32 row totals (wrapping: only the
/// final total, an exact dot product, has to fit).
#[inline(always)]
unsafe fn flush(a: &[u64; 4], tot: *mut u32) {
    for (k, &v) in a.iter().enumerate() {
        for l in 0..3 {
            // SAFETY: 3k + l < 12 (caller's contract on tot).
            let t = tot.add(3 * k + l);
            *t = (*t).wrapping_add(((v >> (LANE_BITS * l as u32)) & LANE_MASK) as u32);
        }
    }
}

/// Sign-extend x[k] into xu[k] for k < 8, sBPF assembly (r1 = x, r2 = xu, r3 temporary).
#[cfg(target_arch = "bpf")]
macro_rules! widen_one {
    ($k:literal) => {
        concat!(
            "r3 = *(u8 *)(r1 + ", $k, ")\n",
            "r3 <<= 56\n",
            "r3 s>>= 56\n",
            "*(u64 *)(r2 + ", $k, " * 8) = r3\n",
        )
    };
}

/// `xu[c] = x[c]` sign-extended to 64 bits (the multiplier of the lane words).
/// On sBPF eight columns per loop pass in assembly (4.4 instructions a column; the
/// compiler's loop takes about 12) when `cols` is a multiple of 8.
///
/// # Safety
/// `x` has `cols` readable i8, `xu` has `cols` writable u64 (8-aligned).
#[inline(always)]
pub unsafe fn widen_inputs(x: *const i8, cols: usize, xu: *mut u64) {
    #[cfg(target_arch = "bpf")]
    if cols % 8 == 0 && cols > 0 {
        // SAFETY: reads cols bytes at x and writes cols u64 at xu (caller's contract),
        // cols a positive multiple of 8; only the named registers are written.
        core::arch::asm!(
            "1:",
            widen_one!(0), widen_one!(1), widen_one!(2), widen_one!(3),
            widen_one!(4), widen_one!(5), widen_one!(6), widen_one!(7),
            "r1 += 8",
            "r2 += 64",
            "if r1 < r4 goto 1b",
            inout("r1") x => _,
            inout("r2") xu => _,
            out("r3") _,
            in("r4") x.add(cols),
            options(nostack, preserves_flags),
        );
        return;
    }
    for c in 0..cols {
        // SAFETY: c < cols (caller's contract).
        *xu.add(c) = *x.add(c) as i64 as u64;
    }
}

/// Operands of `matvec_lanes` (one struct: sBPF calls take at most 5 arguments, and the
/// kernel is too large to inline at every call site).
#[derive(Clone, Copy)]
pub struct LanesOp {
    /// Lane words of the first 12-row block, `lanes_bytes(rows, cols)` bytes, 8-aligned.
    pub w: *const u64,
    /// `x` widened by `widen_inputs`, `cols` entries, 8-aligned.
    pub xu: *const u64,
    pub rows: usize,
    /// A multiple of 8.
    pub cols: usize,
    /// `rows` writable i32, 4-aligned.
    pub out: *mut i32,
}

/// SWAR mat-vec over the lane layout: per column, one u64 load of x and, for each of the
/// four words of a 12-row block, one load, one multiply, one add (three MACs per word);
/// every 64 columns a flush of the twelve 21-bit fields into the block's row totals. A
/// full block's totals live in `out` itself (u32, wrapping), started at minus the fields'
/// start values; the last, partial block collects into a local buffer first.
///
/// # Safety
/// Every pointer of `op` is valid for the extent documented on `LanesOp`.
pub unsafe fn matvec_lanes(op: &LanesOp) {
    let LanesOp { w, xu, rows, cols, out } = *op;
    let blocks = (rows + BLOCK_ROWS - 1) / BLOCK_ROWS;
    let flushes = (cols + FLUSH_COLS - 1) / FLUSH_COLS;
    let start = (flushes as u32).wrapping_mul(LANE_INIT as u32).wrapping_neg();
    let full_end = xu.add(cols / FLUSH_COLS * FLUSH_COLS);
    let end = xu.add(cols);
    let mut part = [0u32; BLOCK_ROWS];
    let mut wp = w;
    for b in 0..blocks {
        let r0 = b * BLOCK_ROWS;
        let live = if rows - r0 < BLOCK_ROWS { rows - r0 } else { BLOCK_ROWS };
        // SAFETY: a full block's 12 rows lie in out (r0 + 12 <= rows).
        let tot: *mut u32 = if live == BLOCK_ROWS { out.add(r0) as *mut u32 } else { part.as_mut_ptr() };
        for i in 0..BLOCK_ROWS {
            *tot.add(i) = start;
        }
        let mut xp = xu;
        while xp < full_end {
            cols64_flush(&mut xp, &mut wp, tot);
        }
        // A tail of fewer than 64 columns (a multiple of 8).
        if xp < end {
            let mut a = [ACC_INIT; 4];
            while xp < end {
                cols8(&mut xp, &mut wp, &mut a);
            }
            flush(&a, tot);
        }
        if live < BLOCK_ROWS {
            for i in 0..live {
                // SAFETY: r0 + i < rows.
                *out.add(r0 + i) = part[i] as i32;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::vec::Vec;

    fn naive(w: &[i8], x: &[i8], rows: usize, cols: usize) -> Vec<i32> {
        (0..rows).map(|r| (0..cols).map(|c| w[r * cols + c] as i32 * x[c] as i32).sum()).collect()
    }

    fn aligned(bytes: &[i8]) -> Vec<u64> {
        let mut v = std::vec![0u64; (bytes.len() + 7) / 8];
        // SAFETY: v has at least bytes.len() bytes.
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr() as *const u8, v.as_mut_ptr() as *mut u8, bytes.len()) };
        v
    }

    fn check(w: &[i8], x: &[i8], rows: usize, cols: usize) {
        let (wa, xa) = (aligned(w), aligned(x));
        let mut out = std::vec![0i32; rows];
        // SAFETY: buffers sized rows*cols, cols, rows; u64 storage is aligned.
        unsafe { matvec_packed(wa.as_ptr() as *const u8, xa.as_ptr() as *const i8, rows, cols, out.as_mut_ptr()) };
        assert_eq!(out, naive(w, x, rows, cols));
    }

    /// Pack row-major i8 weights into the lane layout (cartridge.py `pack_lanes`).
    fn pack_lanes(w: &[i8], rows: usize, cols: usize) -> Vec<u64> {
        let mut words = std::vec![0u64; lanes_bytes(rows, cols) / 8];
        let blocks = (rows + BLOCK_ROWS - 1) / BLOCK_ROWS;
        for b in 0..blocks {
            for c in 0..cols {
                for k in 0..WORDS_PER_COL {
                    let mut v = 0i64;
                    for l in 0..3 {
                        let r = b * BLOCK_ROWS + 3 * k + l;
                        let wv = if r < rows { w[r * cols + c] as i64 } else { 0 };
                        v += wv << (LANE_BITS * l as u32);
                    }
                    words[(b * cols + c) * WORDS_PER_COL + k] = v as u64;
                }
            }
        }
        words
    }

    fn check_lanes(w: &[i8], x: &[i8], rows: usize, cols: usize) {
        let words = pack_lanes(w, rows, cols);
        let mut xu = std::vec![0u64; cols];
        let mut out = std::vec![0x5A5A_5A5Ai32; rows + 1];
        // SAFETY: buffers sized as the kernel requires.
        unsafe {
            widen_inputs(x.as_ptr(), cols, xu.as_mut_ptr());
            let op = LanesOp { w: words.as_ptr(), xu: xu.as_ptr(), rows, cols, out: out.as_mut_ptr() };
            matvec_lanes(&op);
        }
        assert_eq!(out[..rows], naive(w, x, rows, cols)[..]);
        assert_eq!(out[rows], 0x5A5A_5A5A, "wrote past the last row");
    }

    /// Pseudo-random weights (rows x cols) and inputs from a xorshift32 stream (fixed seed).
    fn xorshift_operands(seed: u32, rows: usize, cols: usize) -> (Vec<i8>, Vec<i8>) {
        let mut s = seed;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            s as i8
        };
        let w: Vec<i8> = (0..rows * cols).map(|_| next()).collect();
        let x: Vec<i8> = (0..cols).map(|_| next()).collect();
        (w, x)
    }

    #[test]
    fn lanes_edge_values_and_shapes() {
        for (rows, cols) in [(12, 32), (13, 40), (64, 64), (5, 1024), (30, 144), (24, 128), (11, 8), (1, 72)] {
            for (wv, xv) in [(-128i8, -128i8), (127, 127), (-128, 127), (0, -128), (127, 0), (0, 0)] {
                check_lanes(&std::vec![wv; rows * cols], &std::vec![xv; cols], rows, cols);
            }
        }
    }

    #[test]
    fn lanes_pseudo_random() {
        let (rows, cols) = (37, 264);
        let (w, x) = xorshift_operands(0x9e37_79b9, rows, cols);
        check_lanes(&w, &x, rows, cols);
    }

    #[test]
    fn edge_values() {
        let (rows, cols) = (16, 64);
        for (wv, xv) in [(-128i8, -128i8), (127, 127), (-128, 127), (0, -128), (127, 0)] {
            check(&std::vec![wv; rows * cols], &std::vec![xv; cols], rows, cols);
        }
    }

    #[test]
    fn pseudo_random() {
        let (rows, cols) = (37, 256);
        let (w, x) = xorshift_operands(0x1234_5678, rows, cols);
        check(&w, &x, rows, cols);
    }
}
