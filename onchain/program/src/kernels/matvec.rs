//! INT8 matrix-vector products: `out[r] = sum_c W[r][c] * x[c]` exactly, as i32.
//!
//! Every kernel returns the exact dot product (|sum| <= cols * 2^14 < 2^31 for
//! cols <= 2^16), so the choice of kernel never changes a result; only its cost.

/// Kernel ids for the benchmark instruction.
pub const KERNEL_PACKED: u8 = 0;
pub const KERNEL_LANES: u8 = 1;

/// Lane layout (weight layout 2): three 21-bit lanes per u64 word, four words per column
/// of a 12-row block. A lane holds offset-binary products (w + 128)(x + 128) <= 65025, so
/// 32 of them sum below 2^21: lanes are flushed to 64-bit row totals every 32 columns.
pub const LANE_BITS: u32 = 21;
pub const LANE_MASK: u64 = (1 << LANE_BITS) - 1;
pub const WORDS_PER_COL: usize = 4;
pub const BLOCK_ROWS: usize = 3 * WORDS_PER_COL;
pub const FLUSH_COLS: usize = 32;

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

/// Eight columns of one 12-row block: for each column one load of x, then four
/// (load word, multiply, add). Advances `xp` by 8 columns and `wp` by 32 words.
///
/// On sBPF this is written out in assembly: LLVM's schedule of the same code hoists loads
/// and spills the x pointer (about 1.3 instructions per MAC instead of 13/12).
///
/// # Safety
/// `xp` has 8 readable u64 and `wp` 32 readable u64, both 8-aligned.
#[cfg(target_arch = "bpf")]
#[inline(always)]
unsafe fn cols8(xp: &mut *const u64, wp: &mut *const u64, a0: &mut u64, a1: &mut u64, a2: &mut u64, a3: &mut u64) {
    // SAFETY: reads 64 bytes at xp and 256 at wp (caller's contract); writes only the
    // named registers.
    core::arch::asm!(
            "{x} = *(u64 *)({xp} + 0)",
            "{t} = *(u64 *)({wp} + 0)",
            "{t} *= {x}",
            "{a0} += {t}",
            "{t} = *(u64 *)({wp} + 8)",
            "{t} *= {x}",
            "{a1} += {t}",
            "{t} = *(u64 *)({wp} + 16)",
            "{t} *= {x}",
            "{a2} += {t}",
            "{t} = *(u64 *)({wp} + 24)",
            "{t} *= {x}",
            "{a3} += {t}",
            "{x} = *(u64 *)({xp} + 8)",
            "{t} = *(u64 *)({wp} + 32)",
            "{t} *= {x}",
            "{a0} += {t}",
            "{t} = *(u64 *)({wp} + 40)",
            "{t} *= {x}",
            "{a1} += {t}",
            "{t} = *(u64 *)({wp} + 48)",
            "{t} *= {x}",
            "{a2} += {t}",
            "{t} = *(u64 *)({wp} + 56)",
            "{t} *= {x}",
            "{a3} += {t}",
            "{x} = *(u64 *)({xp} + 16)",
            "{t} = *(u64 *)({wp} + 64)",
            "{t} *= {x}",
            "{a0} += {t}",
            "{t} = *(u64 *)({wp} + 72)",
            "{t} *= {x}",
            "{a1} += {t}",
            "{t} = *(u64 *)({wp} + 80)",
            "{t} *= {x}",
            "{a2} += {t}",
            "{t} = *(u64 *)({wp} + 88)",
            "{t} *= {x}",
            "{a3} += {t}",
            "{x} = *(u64 *)({xp} + 24)",
            "{t} = *(u64 *)({wp} + 96)",
            "{t} *= {x}",
            "{a0} += {t}",
            "{t} = *(u64 *)({wp} + 104)",
            "{t} *= {x}",
            "{a1} += {t}",
            "{t} = *(u64 *)({wp} + 112)",
            "{t} *= {x}",
            "{a2} += {t}",
            "{t} = *(u64 *)({wp} + 120)",
            "{t} *= {x}",
            "{a3} += {t}",
            "{x} = *(u64 *)({xp} + 32)",
            "{t} = *(u64 *)({wp} + 128)",
            "{t} *= {x}",
            "{a0} += {t}",
            "{t} = *(u64 *)({wp} + 136)",
            "{t} *= {x}",
            "{a1} += {t}",
            "{t} = *(u64 *)({wp} + 144)",
            "{t} *= {x}",
            "{a2} += {t}",
            "{t} = *(u64 *)({wp} + 152)",
            "{t} *= {x}",
            "{a3} += {t}",
            "{x} = *(u64 *)({xp} + 40)",
            "{t} = *(u64 *)({wp} + 160)",
            "{t} *= {x}",
            "{a0} += {t}",
            "{t} = *(u64 *)({wp} + 168)",
            "{t} *= {x}",
            "{a1} += {t}",
            "{t} = *(u64 *)({wp} + 176)",
            "{t} *= {x}",
            "{a2} += {t}",
            "{t} = *(u64 *)({wp} + 184)",
            "{t} *= {x}",
            "{a3} += {t}",
            "{x} = *(u64 *)({xp} + 48)",
            "{t} = *(u64 *)({wp} + 192)",
            "{t} *= {x}",
            "{a0} += {t}",
            "{t} = *(u64 *)({wp} + 200)",
            "{t} *= {x}",
            "{a1} += {t}",
            "{t} = *(u64 *)({wp} + 208)",
            "{t} *= {x}",
            "{a2} += {t}",
            "{t} = *(u64 *)({wp} + 216)",
            "{t} *= {x}",
            "{a3} += {t}",
            "{x} = *(u64 *)({xp} + 56)",
            "{t} = *(u64 *)({wp} + 224)",
            "{t} *= {x}",
            "{a0} += {t}",
            "{t} = *(u64 *)({wp} + 232)",
            "{t} *= {x}",
            "{a1} += {t}",
            "{t} = *(u64 *)({wp} + 240)",
            "{t} *= {x}",
            "{a2} += {t}",
            "{t} = *(u64 *)({wp} + 248)",
            "{t} *= {x}",
            "{a3} += {t}",
        xp = in(reg) *xp,
        wp = in(reg) *wp,
        a0 = inout(reg) *a0,
        a1 = inout(reg) *a1,
        a2 = inout(reg) *a2,
        a3 = inout(reg) *a3,
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
unsafe fn cols8(xp: &mut *const u64, wp: &mut *const u64, a0: &mut u64, a1: &mut u64, a2: &mut u64, a3: &mut u64) {
    for i in 0..8 {
        // SAFETY: as above.
        let xv = *xp.add(i);
        *a0 = a0.wrapping_add((*wp.add(4 * i)).wrapping_mul(xv));
        *a1 = a1.wrapping_add((*wp.add(4 * i + 1)).wrapping_mul(xv));
        *a2 = a2.wrapping_add((*wp.add(4 * i + 2)).wrapping_mul(xv));
        *a3 = a3.wrapping_add((*wp.add(4 * i + 3)).wrapping_mul(xv));
    }
    *xp = xp.add(8);
    *wp = wp.add(32);
}

/// 32 columns of one 12-row block (one flush period), then the flush: each word's three
/// 21-bit lanes are added to the block's row totals `tot[3k + lane]`. Advances `xp` by
/// 32 columns and `wp` by 128 words. Written out in assembly on sBPF (see `cols8`).
///
/// # Safety
/// `xp` has 32 readable u64, `wp` 128, `tot` 12 writable u64, all 8-aligned.
#[cfg(target_arch = "bpf")]
#[inline(always)]
unsafe fn cols32_flush(xp: &mut *const u64, wp: &mut *const u64, tot: *mut u64) {
    // SAFETY: reads 256 bytes at xp and 1024 at wp, reads and writes 96 bytes at tot
    // (caller's contract); clobbers only the named registers.
    core::arch::asm!(
        "{a0} = 0",
        "{a1} = 0",
        "{a2} = 0",
        "{a3} = 0",
        "{x} = *(u64 *)({xp} + 0)",
        "{t} = *(u64 *)({wp} + 0)",
        "{t} *= {x}",
        "{a0} += {t}",
        "{t} = *(u64 *)({wp} + 8)",
        "{t} *= {x}",
        "{a1} += {t}",
        "{t} = *(u64 *)({wp} + 16)",
        "{t} *= {x}",
        "{a2} += {t}",
        "{t} = *(u64 *)({wp} + 24)",
        "{t} *= {x}",
        "{a3} += {t}",
        "{x} = *(u64 *)({xp} + 8)",
        "{t} = *(u64 *)({wp} + 32)",
        "{t} *= {x}",
        "{a0} += {t}",
        "{t} = *(u64 *)({wp} + 40)",
        "{t} *= {x}",
        "{a1} += {t}",
        "{t} = *(u64 *)({wp} + 48)",
        "{t} *= {x}",
        "{a2} += {t}",
        "{t} = *(u64 *)({wp} + 56)",
        "{t} *= {x}",
        "{a3} += {t}",
        "{x} = *(u64 *)({xp} + 16)",
        "{t} = *(u64 *)({wp} + 64)",
        "{t} *= {x}",
        "{a0} += {t}",
        "{t} = *(u64 *)({wp} + 72)",
        "{t} *= {x}",
        "{a1} += {t}",
        "{t} = *(u64 *)({wp} + 80)",
        "{t} *= {x}",
        "{a2} += {t}",
        "{t} = *(u64 *)({wp} + 88)",
        "{t} *= {x}",
        "{a3} += {t}",
        "{x} = *(u64 *)({xp} + 24)",
        "{t} = *(u64 *)({wp} + 96)",
        "{t} *= {x}",
        "{a0} += {t}",
        "{t} = *(u64 *)({wp} + 104)",
        "{t} *= {x}",
        "{a1} += {t}",
        "{t} = *(u64 *)({wp} + 112)",
        "{t} *= {x}",
        "{a2} += {t}",
        "{t} = *(u64 *)({wp} + 120)",
        "{t} *= {x}",
        "{a3} += {t}",
        "{x} = *(u64 *)({xp} + 32)",
        "{t} = *(u64 *)({wp} + 128)",
        "{t} *= {x}",
        "{a0} += {t}",
        "{t} = *(u64 *)({wp} + 136)",
        "{t} *= {x}",
        "{a1} += {t}",
        "{t} = *(u64 *)({wp} + 144)",
        "{t} *= {x}",
        "{a2} += {t}",
        "{t} = *(u64 *)({wp} + 152)",
        "{t} *= {x}",
        "{a3} += {t}",
        "{x} = *(u64 *)({xp} + 40)",
        "{t} = *(u64 *)({wp} + 160)",
        "{t} *= {x}",
        "{a0} += {t}",
        "{t} = *(u64 *)({wp} + 168)",
        "{t} *= {x}",
        "{a1} += {t}",
        "{t} = *(u64 *)({wp} + 176)",
        "{t} *= {x}",
        "{a2} += {t}",
        "{t} = *(u64 *)({wp} + 184)",
        "{t} *= {x}",
        "{a3} += {t}",
        "{x} = *(u64 *)({xp} + 48)",
        "{t} = *(u64 *)({wp} + 192)",
        "{t} *= {x}",
        "{a0} += {t}",
        "{t} = *(u64 *)({wp} + 200)",
        "{t} *= {x}",
        "{a1} += {t}",
        "{t} = *(u64 *)({wp} + 208)",
        "{t} *= {x}",
        "{a2} += {t}",
        "{t} = *(u64 *)({wp} + 216)",
        "{t} *= {x}",
        "{a3} += {t}",
        "{x} = *(u64 *)({xp} + 56)",
        "{t} = *(u64 *)({wp} + 224)",
        "{t} *= {x}",
        "{a0} += {t}",
        "{t} = *(u64 *)({wp} + 232)",
        "{t} *= {x}",
        "{a1} += {t}",
        "{t} = *(u64 *)({wp} + 240)",
        "{t} *= {x}",
        "{a2} += {t}",
        "{t} = *(u64 *)({wp} + 248)",
        "{t} *= {x}",
        "{a3} += {t}",
        "{x} = *(u64 *)({xp} + 64)",
        "{t} = *(u64 *)({wp} + 256)",
        "{t} *= {x}",
        "{a0} += {t}",
        "{t} = *(u64 *)({wp} + 264)",
        "{t} *= {x}",
        "{a1} += {t}",
        "{t} = *(u64 *)({wp} + 272)",
        "{t} *= {x}",
        "{a2} += {t}",
        "{t} = *(u64 *)({wp} + 280)",
        "{t} *= {x}",
        "{a3} += {t}",
        "{x} = *(u64 *)({xp} + 72)",
        "{t} = *(u64 *)({wp} + 288)",
        "{t} *= {x}",
        "{a0} += {t}",
        "{t} = *(u64 *)({wp} + 296)",
        "{t} *= {x}",
        "{a1} += {t}",
        "{t} = *(u64 *)({wp} + 304)",
        "{t} *= {x}",
        "{a2} += {t}",
        "{t} = *(u64 *)({wp} + 312)",
        "{t} *= {x}",
        "{a3} += {t}",
        "{x} = *(u64 *)({xp} + 80)",
        "{t} = *(u64 *)({wp} + 320)",
        "{t} *= {x}",
        "{a0} += {t}",
        "{t} = *(u64 *)({wp} + 328)",
        "{t} *= {x}",
        "{a1} += {t}",
        "{t} = *(u64 *)({wp} + 336)",
        "{t} *= {x}",
        "{a2} += {t}",
        "{t} = *(u64 *)({wp} + 344)",
        "{t} *= {x}",
        "{a3} += {t}",
        "{x} = *(u64 *)({xp} + 88)",
        "{t} = *(u64 *)({wp} + 352)",
        "{t} *= {x}",
        "{a0} += {t}",
        "{t} = *(u64 *)({wp} + 360)",
        "{t} *= {x}",
        "{a1} += {t}",
        "{t} = *(u64 *)({wp} + 368)",
        "{t} *= {x}",
        "{a2} += {t}",
        "{t} = *(u64 *)({wp} + 376)",
        "{t} *= {x}",
        "{a3} += {t}",
        "{x} = *(u64 *)({xp} + 96)",
        "{t} = *(u64 *)({wp} + 384)",
        "{t} *= {x}",
        "{a0} += {t}",
        "{t} = *(u64 *)({wp} + 392)",
        "{t} *= {x}",
        "{a1} += {t}",
        "{t} = *(u64 *)({wp} + 400)",
        "{t} *= {x}",
        "{a2} += {t}",
        "{t} = *(u64 *)({wp} + 408)",
        "{t} *= {x}",
        "{a3} += {t}",
        "{x} = *(u64 *)({xp} + 104)",
        "{t} = *(u64 *)({wp} + 416)",
        "{t} *= {x}",
        "{a0} += {t}",
        "{t} = *(u64 *)({wp} + 424)",
        "{t} *= {x}",
        "{a1} += {t}",
        "{t} = *(u64 *)({wp} + 432)",
        "{t} *= {x}",
        "{a2} += {t}",
        "{t} = *(u64 *)({wp} + 440)",
        "{t} *= {x}",
        "{a3} += {t}",
        "{x} = *(u64 *)({xp} + 112)",
        "{t} = *(u64 *)({wp} + 448)",
        "{t} *= {x}",
        "{a0} += {t}",
        "{t} = *(u64 *)({wp} + 456)",
        "{t} *= {x}",
        "{a1} += {t}",
        "{t} = *(u64 *)({wp} + 464)",
        "{t} *= {x}",
        "{a2} += {t}",
        "{t} = *(u64 *)({wp} + 472)",
        "{t} *= {x}",
        "{a3} += {t}",
        "{x} = *(u64 *)({xp} + 120)",
        "{t} = *(u64 *)({wp} + 480)",
        "{t} *= {x}",
        "{a0} += {t}",
        "{t} = *(u64 *)({wp} + 488)",
        "{t} *= {x}",
        "{a1} += {t}",
        "{t} = *(u64 *)({wp} + 496)",
        "{t} *= {x}",
        "{a2} += {t}",
        "{t} = *(u64 *)({wp} + 504)",
        "{t} *= {x}",
        "{a3} += {t}",
        "{x} = *(u64 *)({xp} + 128)",
        "{t} = *(u64 *)({wp} + 512)",
        "{t} *= {x}",
        "{a0} += {t}",
        "{t} = *(u64 *)({wp} + 520)",
        "{t} *= {x}",
        "{a1} += {t}",
        "{t} = *(u64 *)({wp} + 528)",
        "{t} *= {x}",
        "{a2} += {t}",
        "{t} = *(u64 *)({wp} + 536)",
        "{t} *= {x}",
        "{a3} += {t}",
        "{x} = *(u64 *)({xp} + 136)",
        "{t} = *(u64 *)({wp} + 544)",
        "{t} *= {x}",
        "{a0} += {t}",
        "{t} = *(u64 *)({wp} + 552)",
        "{t} *= {x}",
        "{a1} += {t}",
        "{t} = *(u64 *)({wp} + 560)",
        "{t} *= {x}",
        "{a2} += {t}",
        "{t} = *(u64 *)({wp} + 568)",
        "{t} *= {x}",
        "{a3} += {t}",
        "{x} = *(u64 *)({xp} + 144)",
        "{t} = *(u64 *)({wp} + 576)",
        "{t} *= {x}",
        "{a0} += {t}",
        "{t} = *(u64 *)({wp} + 584)",
        "{t} *= {x}",
        "{a1} += {t}",
        "{t} = *(u64 *)({wp} + 592)",
        "{t} *= {x}",
        "{a2} += {t}",
        "{t} = *(u64 *)({wp} + 600)",
        "{t} *= {x}",
        "{a3} += {t}",
        "{x} = *(u64 *)({xp} + 152)",
        "{t} = *(u64 *)({wp} + 608)",
        "{t} *= {x}",
        "{a0} += {t}",
        "{t} = *(u64 *)({wp} + 616)",
        "{t} *= {x}",
        "{a1} += {t}",
        "{t} = *(u64 *)({wp} + 624)",
        "{t} *= {x}",
        "{a2} += {t}",
        "{t} = *(u64 *)({wp} + 632)",
        "{t} *= {x}",
        "{a3} += {t}",
        "{x} = *(u64 *)({xp} + 160)",
        "{t} = *(u64 *)({wp} + 640)",
        "{t} *= {x}",
        "{a0} += {t}",
        "{t} = *(u64 *)({wp} + 648)",
        "{t} *= {x}",
        "{a1} += {t}",
        "{t} = *(u64 *)({wp} + 656)",
        "{t} *= {x}",
        "{a2} += {t}",
        "{t} = *(u64 *)({wp} + 664)",
        "{t} *= {x}",
        "{a3} += {t}",
        "{x} = *(u64 *)({xp} + 168)",
        "{t} = *(u64 *)({wp} + 672)",
        "{t} *= {x}",
        "{a0} += {t}",
        "{t} = *(u64 *)({wp} + 680)",
        "{t} *= {x}",
        "{a1} += {t}",
        "{t} = *(u64 *)({wp} + 688)",
        "{t} *= {x}",
        "{a2} += {t}",
        "{t} = *(u64 *)({wp} + 696)",
        "{t} *= {x}",
        "{a3} += {t}",
        "{x} = *(u64 *)({xp} + 176)",
        "{t} = *(u64 *)({wp} + 704)",
        "{t} *= {x}",
        "{a0} += {t}",
        "{t} = *(u64 *)({wp} + 712)",
        "{t} *= {x}",
        "{a1} += {t}",
        "{t} = *(u64 *)({wp} + 720)",
        "{t} *= {x}",
        "{a2} += {t}",
        "{t} = *(u64 *)({wp} + 728)",
        "{t} *= {x}",
        "{a3} += {t}",
        "{x} = *(u64 *)({xp} + 184)",
        "{t} = *(u64 *)({wp} + 736)",
        "{t} *= {x}",
        "{a0} += {t}",
        "{t} = *(u64 *)({wp} + 744)",
        "{t} *= {x}",
        "{a1} += {t}",
        "{t} = *(u64 *)({wp} + 752)",
        "{t} *= {x}",
        "{a2} += {t}",
        "{t} = *(u64 *)({wp} + 760)",
        "{t} *= {x}",
        "{a3} += {t}",
        "{x} = *(u64 *)({xp} + 192)",
        "{t} = *(u64 *)({wp} + 768)",
        "{t} *= {x}",
        "{a0} += {t}",
        "{t} = *(u64 *)({wp} + 776)",
        "{t} *= {x}",
        "{a1} += {t}",
        "{t} = *(u64 *)({wp} + 784)",
        "{t} *= {x}",
        "{a2} += {t}",
        "{t} = *(u64 *)({wp} + 792)",
        "{t} *= {x}",
        "{a3} += {t}",
        "{x} = *(u64 *)({xp} + 200)",
        "{t} = *(u64 *)({wp} + 800)",
        "{t} *= {x}",
        "{a0} += {t}",
        "{t} = *(u64 *)({wp} + 808)",
        "{t} *= {x}",
        "{a1} += {t}",
        "{t} = *(u64 *)({wp} + 816)",
        "{t} *= {x}",
        "{a2} += {t}",
        "{t} = *(u64 *)({wp} + 824)",
        "{t} *= {x}",
        "{a3} += {t}",
        "{x} = *(u64 *)({xp} + 208)",
        "{t} = *(u64 *)({wp} + 832)",
        "{t} *= {x}",
        "{a0} += {t}",
        "{t} = *(u64 *)({wp} + 840)",
        "{t} *= {x}",
        "{a1} += {t}",
        "{t} = *(u64 *)({wp} + 848)",
        "{t} *= {x}",
        "{a2} += {t}",
        "{t} = *(u64 *)({wp} + 856)",
        "{t} *= {x}",
        "{a3} += {t}",
        "{x} = *(u64 *)({xp} + 216)",
        "{t} = *(u64 *)({wp} + 864)",
        "{t} *= {x}",
        "{a0} += {t}",
        "{t} = *(u64 *)({wp} + 872)",
        "{t} *= {x}",
        "{a1} += {t}",
        "{t} = *(u64 *)({wp} + 880)",
        "{t} *= {x}",
        "{a2} += {t}",
        "{t} = *(u64 *)({wp} + 888)",
        "{t} *= {x}",
        "{a3} += {t}",
        "{x} = *(u64 *)({xp} + 224)",
        "{t} = *(u64 *)({wp} + 896)",
        "{t} *= {x}",
        "{a0} += {t}",
        "{t} = *(u64 *)({wp} + 904)",
        "{t} *= {x}",
        "{a1} += {t}",
        "{t} = *(u64 *)({wp} + 912)",
        "{t} *= {x}",
        "{a2} += {t}",
        "{t} = *(u64 *)({wp} + 920)",
        "{t} *= {x}",
        "{a3} += {t}",
        "{x} = *(u64 *)({xp} + 232)",
        "{t} = *(u64 *)({wp} + 928)",
        "{t} *= {x}",
        "{a0} += {t}",
        "{t} = *(u64 *)({wp} + 936)",
        "{t} *= {x}",
        "{a1} += {t}",
        "{t} = *(u64 *)({wp} + 944)",
        "{t} *= {x}",
        "{a2} += {t}",
        "{t} = *(u64 *)({wp} + 952)",
        "{t} *= {x}",
        "{a3} += {t}",
        "{x} = *(u64 *)({xp} + 240)",
        "{t} = *(u64 *)({wp} + 960)",
        "{t} *= {x}",
        "{a0} += {t}",
        "{t} = *(u64 *)({wp} + 968)",
        "{t} *= {x}",
        "{a1} += {t}",
        "{t} = *(u64 *)({wp} + 976)",
        "{t} *= {x}",
        "{a2} += {t}",
        "{t} = *(u64 *)({wp} + 984)",
        "{t} *= {x}",
        "{a3} += {t}",
        "{x} = *(u64 *)({xp} + 248)",
        "{t} = *(u64 *)({wp} + 992)",
        "{t} *= {x}",
        "{a0} += {t}",
        "{t} = *(u64 *)({wp} + 1000)",
        "{t} *= {x}",
        "{a1} += {t}",
        "{t} = *(u64 *)({wp} + 1008)",
        "{t} *= {x}",
        "{a2} += {t}",
        "{t} = *(u64 *)({wp} + 1016)",
        "{t} *= {x}",
        "{a3} += {t}",
        "{t} = {a0}",
        "{t} &= 2097151",
        "{x} = *(u64 *)({tp} + 0)",
        "{x} += {t}",
        "*(u64 *)({tp} + 0) = {x}",
        "{t} = {a0}",
        "{t} >>= 21",
        "{t} &= 2097151",
        "{x} = *(u64 *)({tp} + 8)",
        "{x} += {t}",
        "*(u64 *)({tp} + 8) = {x}",
        "{a0} >>= 42",
        "{x} = *(u64 *)({tp} + 16)",
        "{x} += {a0}",
        "*(u64 *)({tp} + 16) = {x}",
        "{t} = {a1}",
        "{t} &= 2097151",
        "{x} = *(u64 *)({tp} + 24)",
        "{x} += {t}",
        "*(u64 *)({tp} + 24) = {x}",
        "{t} = {a1}",
        "{t} >>= 21",
        "{t} &= 2097151",
        "{x} = *(u64 *)({tp} + 32)",
        "{x} += {t}",
        "*(u64 *)({tp} + 32) = {x}",
        "{a1} >>= 42",
        "{x} = *(u64 *)({tp} + 40)",
        "{x} += {a1}",
        "*(u64 *)({tp} + 40) = {x}",
        "{t} = {a2}",
        "{t} &= 2097151",
        "{x} = *(u64 *)({tp} + 48)",
        "{x} += {t}",
        "*(u64 *)({tp} + 48) = {x}",
        "{t} = {a2}",
        "{t} >>= 21",
        "{t} &= 2097151",
        "{x} = *(u64 *)({tp} + 56)",
        "{x} += {t}",
        "*(u64 *)({tp} + 56) = {x}",
        "{a2} >>= 42",
        "{x} = *(u64 *)({tp} + 64)",
        "{x} += {a2}",
        "*(u64 *)({tp} + 64) = {x}",
        "{t} = {a3}",
        "{t} &= 2097151",
        "{x} = *(u64 *)({tp} + 72)",
        "{x} += {t}",
        "*(u64 *)({tp} + 72) = {x}",
        "{t} = {a3}",
        "{t} >>= 21",
        "{t} &= 2097151",
        "{x} = *(u64 *)({tp} + 80)",
        "{x} += {t}",
        "*(u64 *)({tp} + 80) = {x}",
        "{a3} >>= 42",
        "{x} = *(u64 *)({tp} + 88)",
        "{x} += {a3}",
        "*(u64 *)({tp} + 88) = {x}",
        "{xp} += 256",
        "{wp} += 1024",
        xp = inout(reg) *xp,
        wp = inout(reg) *wp,
        tp = in(reg) tot,
        a0 = out(reg) _,
        a1 = out(reg) _,
        a2 = out(reg) _,
        a3 = out(reg) _,
        x = out(reg) _,
        t = out(reg) _,
        options(nostack, preserves_flags),
    );
}

/// Portable twin of the sBPF assembly.
#[cfg(not(target_arch = "bpf"))]
#[inline(always)]
unsafe fn cols32_flush(xp: &mut *const u64, wp: &mut *const u64, tot: *mut u64) {
    let (mut a0, mut a1, mut a2, mut a3) = (0u64, 0u64, 0u64, 0u64);
    for _ in 0..4 {
        cols8(xp, wp, &mut a0, &mut a1, &mut a2, &mut a3);
    }
    flush(a0, a1, a2, a3, tot);
}

/// Add each word's three lanes to the row totals.
#[inline(always)]
unsafe fn flush(a0: u64, a1: u64, a2: u64, a3: u64, tot: *mut u64) {
    for (k, a) in [a0, a1, a2, a3].into_iter().enumerate() {
        // SAFETY: 3k + 2 < 12 (caller's contract on tot).
        *tot.add(3 * k) += a & LANE_MASK;
        *tot.add(3 * k + 1) += (a >> LANE_BITS) & LANE_MASK;
        *tot.add(3 * k + 2) += a >> (2 * LANE_BITS);
    }
}

/// `sum_c (x[c] + 128)`, and `xu[c] = x[c] + 128` widened to u64 (the lane multiplier).
///
/// # Safety
/// `x` has `cols` readable i8, `xu` has `cols` writable u64.
#[inline(always)]
pub unsafe fn offset_inputs(x: *const i8, cols: usize, xu: *mut u64) -> i64 {
    let mut sum = 0i64;
    for c in 0..cols {
        // SAFETY: c < cols (caller's contract).
        let v = (*x.add(c) as u8 ^ 0x80) as u64;
        *xu.add(c) = v;
        sum += v as i64;
    }
    sum
}

/// Operands of `matvec_lanes` (one struct: sBPF calls take at most 5 arguments, and the
/// kernel is too large to inline at every call site).
#[derive(Clone, Copy)]
pub struct LanesOp {
    /// Lane words of the first 12-row block, `lanes_bytes(rows, cols)` bytes, 8-aligned.
    pub w: *const u64,
    /// `x[c] + 128` widened (from `offset_inputs`), `cols` entries.
    pub xu: *const u64,
    /// `offset_inputs`' return value: sum of xu.
    pub sum_xu: i64,
    pub rows: usize,
    /// A multiple of 8.
    pub cols: usize,
    /// `rows` row sums, `sum_c (w[r][c] + 128)`.
    pub rowsum: *const i32,
    /// `rows` writable i32.
    pub out: *mut i32,
}

/// SWAR mat-vec over the lane layout: per column, one u64 load of x and, for each of the
/// four words of a 12-row block, one load, one multiply, one add (three MACs per word).
/// Offsets are undone at the end: sum (w+128)(x+128) - 128 sum(x+128) - 128 rowsum
/// + 16384 cols, where `rowsum[r] = sum_c (w[r][c] + 128)` is stored with the weights.
///
/// # Safety
/// Every pointer of `op` is valid for the extent documented on `LanesOp`.
pub unsafe fn matvec_lanes(op: &LanesOp) {
    let LanesOp { w, xu, sum_xu, rows, cols, rowsum, out } = *op;
    let blocks = (rows + BLOCK_ROWS - 1) / BLOCK_ROWS;
    let bias = (cols as i64) * 16384 - 128 * sum_xu;
    let mut wp = w;
    for b in 0..blocks {
        let mut tot = [0u64; BLOCK_ROWS];
        let mut xp = xu;
        let full = xu.add(cols / FLUSH_COLS * FLUSH_COLS);
        while xp < full {
            cols32_flush(&mut xp, &mut wp, tot.as_mut_ptr());
        }
        // A tail of fewer than 32 columns (a multiple of 8).
        let end = xu.add(cols);
        if xp < end {
            let (mut a0, mut a1, mut a2, mut a3) = (0u64, 0u64, 0u64, 0u64);
            while xp < end {
                cols8(&mut xp, &mut wp, &mut a0, &mut a1, &mut a2, &mut a3);
            }
            flush(a0, a1, a2, a3, tot.as_mut_ptr());
        }
        let r0 = b * BLOCK_ROWS;
        let live = if rows - r0 < BLOCK_ROWS { rows - r0 } else { BLOCK_ROWS };
        for i in 0..live {
            // SAFETY: r0 + i < rows.
            let v = tot[i] as i64 + bias - 128 * (*rowsum.add(r0 + i) as i64);
            *out.add(r0 + i) = v as i32;
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
    fn pack_lanes(w: &[i8], rows: usize, cols: usize) -> (Vec<u64>, Vec<i32>) {
        let mut words = std::vec![0u64; lanes_bytes(rows, cols) / 8];
        let blocks = (rows + BLOCK_ROWS - 1) / BLOCK_ROWS;
        for b in 0..blocks {
            for c in 0..cols {
                for k in 0..WORDS_PER_COL {
                    let mut v = 0u64;
                    for l in 0..3 {
                        let r = b * BLOCK_ROWS + 3 * k + l;
                        let wu = if r < rows { (w[r * cols + c] as i32 + 128) as u64 } else { 128 };
                        v |= wu << (LANE_BITS * l as u32);
                    }
                    words[(b * cols + c) * WORDS_PER_COL + k] = v;
                }
            }
        }
        let rowsum = (0..rows).map(|r| (0..cols).map(|c| w[r * cols + c] as i32 + 128).sum()).collect();
        (words, rowsum)
    }

    fn check_lanes(w: &[i8], x: &[i8], rows: usize, cols: usize) {
        let (words, rowsum) = pack_lanes(w, rows, cols);
        let mut xu = std::vec![0u64; cols];
        let mut out = std::vec![0i32; rows];
        // SAFETY: buffers sized as the kernel requires.
        unsafe {
            let s = offset_inputs(x.as_ptr(), cols, xu.as_mut_ptr());
            let op = LanesOp { w: words.as_ptr(), xu: xu.as_ptr(), sum_xu: s, rows, cols, rowsum: rowsum.as_ptr(), out: out.as_mut_ptr() };
            matvec_lanes(&op);
        }
        assert_eq!(out, naive(w, x, rows, cols));
    }

    #[test]
    fn lanes_edge_values_and_shapes() {
        for (rows, cols) in [(12, 32), (13, 40), (64, 64), (5, 1024), (30, 144)] {
            for (wv, xv) in [(-128i8, -128i8), (127, 127), (-128, 127), (0, -128), (127, 0), (0, 0)] {
                check_lanes(&std::vec![wv; rows * cols], &std::vec![xv; cols], rows, cols);
            }
        }
    }

    #[test]
    fn lanes_pseudo_random() {
        let (rows, cols) = (37, 264);
        let mut s = 0x9e37_79b9u32;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            s as i8
        };
        let w: Vec<i8> = (0..rows * cols).map(|_| next()).collect();
        let x: Vec<i8> = (0..cols).map(|_| next()).collect();
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
