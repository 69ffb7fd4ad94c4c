//! INT8 matrix-vector products: `out[r] = sum_c W[r][c] * x[c]` exactly, as i32.
//!
//! Every kernel returns the exact dot product (|sum| <= cols * 2^14 < 2^31 for
//! cols <= 2^16), so the choice of kernel never changes a result; only its cost.

/// Kernel ids for the benchmark instruction.
pub const KERNEL_PACKED: u8 = 0;

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
        let mut s = 0x1234_5678u32;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            s as i8
        };
        let w: Vec<i8> = (0..rows * cols).map(|_| next()).collect();
        let x: Vec<i8> = (0..cols).map(|_| next()).collect();
        check(&w, &x, rows, cols);
    }
}
