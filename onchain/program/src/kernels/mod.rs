//! Integer kernels. Each mirrors a function of `worldmodel/intref.py`.
pub mod matvec;
pub mod norm;
pub mod requant;
pub mod scan;

/// `(v + (1 << s >> 1)) >> s`: round half up, arithmetic shift (intref.rshift_round).
#[inline(always)]
pub fn rshift_round(v: i64, s: u32) -> i64 {
    v.wrapping_add((1i64 << s) >> 1) >> s
}

#[inline(always)]
pub fn clamp(v: i64, lo: i64, hi: i64) -> i64 {
    if v < lo {
        lo
    } else if v > hi {
        hi
    } else {
        v
    }
}

#[inline(always)]
pub fn sat8(v: i64) -> i64 {
    clamp(v, -128, 127)
}

#[inline(always)]
pub fn sat16(v: i64) -> i64 {
    clamp(v, -32768, 32767)
}

#[inline(always)]
pub fn sat32(v: i64) -> i64 {
    clamp(v, i32::MIN as i64, i32::MAX as i64)
}

/// floor(sqrt(n)), bit by bit (math.isqrt): no division, no floats.
pub fn isqrt(n: u64) -> u64 {
    let mut rem = n;
    let mut root = 0u64;
    let mut bit = 1u64 << 62;
    while bit > rem {
        bit >>= 2;
    }
    while bit != 0 {
        if rem >= root + bit {
            rem -= root + bit;
            root = (root >> 1) + bit;
        } else {
            root >>= 1;
        }
        bit >>= 2;
    }
    root
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isqrt_matches_float_on_edges() {
        for n in [0u64, 1, 2, 3, 4, 15, 16, 17, 1 << 40, (1 << 62) + 12345, u64::MAX >> 1] {
            let r = isqrt(n);
            assert!(r * r <= n, "{n}");
            assert!((r + 1).checked_mul(r + 1).map_or(true, |s| s > n), "{n}");
        }
    }

    #[test]
    fn rshift_round_is_round_half_up() {
        assert_eq!(rshift_round(3, 1), 2); // 1.5 -> 2
        assert_eq!(rshift_round(-3, 1), -1); // -1.5 -> -1
        assert_eq!(rshift_round(-5, 2), -1); // -1.25 -> -1
        assert_eq!(rshift_round(7, 0), 7);
    }
}
