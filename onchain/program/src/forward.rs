//! The forward pass, one stage at a time: features -> encoder -> layers -> head -> decode.
//! Mirrors `worldmodel/intref.py`; the names match its functions.
use crate::kernels::{clamp, isqrt, matvec, norm, requant, rshift_round, sat16, sat32, sat8, scan};
use crate::model::*;
use crate::state::ControllerInput;

/// Working memory for one stage. On-chain it lives at the start of the 32 KiB heap
/// (the program installs no allocator), on the host in a Box.
#[repr(C, align(8))]
pub struct Scratch {
    pub u: [i8; MAX_IN],
    pub xn: [i8; MAX_D],
    pub acc: [i32; MAX_R],
    /// In `ssm`: SiLU(z) of the layer (i8 bytes), the gate.
    pub z: [i8; MAX_E],
    pub out: [i16; MAX_OUT],
    /// The lanes kernel's widened input; in `ssm`, SiLU(x) of the layer as i64, then per
    /// channel the start of the scan's sum, SiLU(x) * D + round.
    pub xu: [u64; MAX_E],
    pub b: [i64; MAX_N],
    pub c: [i64; MAX_N],
    pub dt: [i64; MAX_H],
    pub decay: [i64; MAX_H],
    /// Per channel: dbx, then (from the scan) C.h * m_y + SiLU(x) * D + round, the
    /// numerator of y (ssm's first pass -> second pass).
    pub y_acc: [i64; MAX_E],
}

// The scan kernel reads C at a fixed distance after B.
const _: () = assert!(
    core::mem::offset_of!(Scratch, c) == core::mem::offset_of!(Scratch, b) + 8 * scan::C_OFFSET
        && MAX_N <= scan::C_OFFSET
);

#[inline(always)]
fn w_i32(m: &Model, off: usize, i: usize) -> i64 {
    // SAFETY: Model::parse checked that the blob covers every section and is 8-aligned;
    // every section offset is a multiple of 4 and `i` indexes within its section.
    unsafe { core::ptr::read((m.at(off) as *const i32).add(i)) as i64 }
}

#[inline(always)]
fn w_u32(m: &Model, off: usize, i: usize) -> i64 {
    // SAFETY: as w_i32.
    unsafe { core::ptr::read((m.at(off) as *const u32).add(i)) as i64 }
}

#[inline(always)]
fn w_i64(m: &Model, off: usize, i: usize) -> i64 {
    // SAFETY: as w_i32; i64 sections are 8-aligned.
    unsafe { core::ptr::read((m.at(off) as *const i64).add(i)) }
}

#[inline(always)]
/// acc[i] = (W x)[row0 + i] (exact i32) for rows [row0, row1) of the linear at `lin`,
/// with the kernel of the model's weight layout (`xu` is the lanes kernel's scratch).
fn matvec(m: &Model, lin: &LinearRef, x: &[i8], row0: usize, row1: usize, acc: &mut [i32], xu: &mut [u64]) {
    assert!(x.len() >= lin.cols && acc.len() >= row1 - row0 && row0 <= row1 && row1 <= lin.rows);
    if m.dims.lanes {
        assert!(xu.len() >= lin.cols && row0 % matvec::BLOCK_ROWS == 0);
        // SAFETY: the words section holds lanes_bytes(rows, cols) bytes (Model::parse),
        // 8-aligned; block row0 / 12 starts at byte (row0 / 12) * cols * 32 (row0 is a
        // block boundary, checked) and rows [row0, row1) lie in it; x and xu hold >= cols
        // entries and acc >= row1 - row0 (checked).
        unsafe {
            matvec::widen_inputs(x.as_ptr(), lin.cols, xu.as_mut_ptr());
            let w = m.at(lin.w + row0 / matvec::BLOCK_ROWS * lin.cols * 8 * matvec::WORDS_PER_COL) as *const u64;
            let op = matvec::LanesOp { w, xu: xu.as_ptr(), rows: row1 - row0, cols: lin.cols, out: acc.as_mut_ptr() };
            matvec::matvec_lanes(&op)
        }
        return;
    }
    // SAFETY: the section holds rows*cols bytes (Model::parse) and rows [row0, row1) lie
    // in it; cols is a multiple of 8, `x` (>= cols, checked) and the weights are
    // 8-aligned; acc holds row1 - row0 entries (checked).
    unsafe {
        matvec::matvec_packed(m.at(lin.w + row0 * lin.cols), x.as_ptr(), row1 - row0, lin.cols, acc.as_mut_ptr())
    }
}

/// rshift_round((acc + bias) * mult, shift) for row r.
#[inline(always)]
fn requant(m: &Model, lin: &LinearRef, acc: i32, r: usize, shift: u32) -> i64 {
    let v = (acc as i64).wrapping_add(w_i32(m, lin.bias, r));
    rshift_round(v.wrapping_mul(w_i32(m, lin.mult, r)), shift)
}

/// int8 features from both fighters and controllers, and the session's context
/// `[stage, character 1, character 2]` (Slippi ids) when the model is fed it (intref.build_features).
pub fn build_features(m: &Model, fighters: &[[i16; 16]; 2], ctrl: &[ControllerInput; 2], context: [u8; 3], u: &mut [i8; MAX_IN]) {
    let mut k = 0;
    for f in fighters {
        for (spec, &v) in m.fields.iter().zip(f.iter()) {
            match spec.enc_kind {
                ENC_SCALAR => {
                    u[k] = sat8((v as i64) >> spec.enc_arg) as i8;
                    k += 1;
                }
                ENC_ONEHOT => {
                    for c in 0..spec.enc_arg as i64 {
                        u[k] = if v as i64 == c { 127 } else { 0 };
                        k += 1;
                    }
                }
                _ => {}
            }
        }
    }
    for c in ctrl {
        let head = [c.stick_x, c.stick_y, c.cstick_x, c.cstick_y, (c.l >> 1) as i8, (c.r >> 1) as i8];
        for v in head {
            u[k] = v;
            k += 1;
        }
        for b in 0..N_BUTTONS {
            u[k] = if (c.buttons >> b) & 1 == 1 { 64 } else { 0 };
            k += 1;
        }
    }
    if m.context & CONTEXT_ONEHOT != 0 {
        // One-hot stage (index in rules::STAGES), then each character; none hot for an id
        // outside the table (the harness's stage 0). Model::parse counted these in in_dim.
        for s in crate::rules::STAGES.iter() {
            u[k] = if s.id == context[0] { 127 } else { 0 };
            k += 1;
        }
        for &c in &context[1..] {
            for id in 0..N_CHARACTERS {
                u[k] = if c as usize == id { 127 } else { 0 };
                k += 1;
            }
        }
    }
    if m.context & CONTEXT_RELATIVE != 0 {
        for v in relative_features(fighters, context[0]) {
            u[k] = v;
            k += 1;
        }
    }
    while k < m.dims.in_dim {
        u[k] = 0;
        k += 1;
    }
}

/// Half a game unit for dx, dy; a quarter unit for the gaps (cartridge.REL_SHIFT_*).
const REL_SHIFT_XY: u32 = 3;
const REL_SHIFT_GAP: u32 = 2;
/// A gap with no ground below (off the stage, or a stage without a rules table).
const NO_GROUND: i8 = 127;

/// CONTEXT_RELATIVE's features (cartridge.relative_features): how far apart the fighters are
/// (dx, dy = fighter 2 - fighter 1) and how high each stands above the ground below it.
pub fn relative_features(fighters: &[[i16; 16]; 2], stage_id: u8) -> [i8; RELATIVE_FEATURES] {
    let [a, b] = fighters;
    let (x1, y1, x2, y2) = (a[0] as i64, a[1] as i64, b[0] as i64, b[1] as i64);
    let stage = crate::rules::stage_by_id(stage_id);
    let gap = |x: i64, y: i64| match stage.and_then(|s| crate::rules::ground_below(s, x as i32, y as i32)) {
        Some(g) => sat8((y - g as i64) >> REL_SHIFT_GAP) as i8,
        None => NO_GROUND,
    };
    [sat8((x2 - x1) >> REL_SHIFT_XY) as i8, sat8((y2 - y1) >> REL_SHIFT_XY) as i8, gap(x1, y1), gap(x2, y2)]
}

/// An ABSOLUTE or DELTA output -> the field's next value (intref.decode_scalar); dec_arg is a
/// delta's dead band: |out| <= dec_arg leaves the field (a fighter at rest stays put).
#[inline(always)]
fn decode_scalar(spec: &FieldSpec, old: i16, v: i16) -> i16 {
    if spec.dec_kind == DEC_ABSOLUTE {
        return v;
    }
    let d = v as i64;
    if d.abs() > spec.dec_arg as i64 {
        sat16(old as i64 + d) as i16
    } else {
        old
    }
}

/// Head outputs -> next fighter state (intref.decode_outputs). `draw`: both fighters' 16-bit
/// hit draws for this frame (hit_draws), used by a CONTEXT_SAMPLED_HIT model only.
pub fn decode_outputs(m: &Model, fighters: &mut [[i16; 16]; 2], out: &[i16], draw: [u16; 2]) {
    let old = *fighters;
    let mut o = 0;
    let mut action_out = [0usize; 2];
    for (p, f) in fighters.iter_mut().enumerate() {
        for (i, (spec, v)) in m.fields.iter().zip(f.iter_mut()).enumerate() {
            match spec.dec_kind {
                DEC_ABSOLUTE | DEC_DELTA => *v = decode_scalar(spec, *v, out[o]),
                DEC_SIGN => *v = if out[o] >= 0 { 1 } else { -1 },
                DEC_ARGMAX => {
                    let mut best = 0usize;
                    for c in 1..spec.dec_arg as usize {
                        if out[o + c] > out[o + best] {
                            best = c;
                        }
                    }
                    *v = best as i16;
                    if i == ACTION_FIELD {
                        action_out[p] = o;
                    }
                }
                _ => {}
            }
            o += match spec.dec_kind {
                DEC_KEEP => 0,
                DEC_ARGMAX => spec.dec_arg as usize,
                _ => 1,
            };
        }
    }
    if m.context & CONTEXT_SAMPLED_HIT == 0 {
        return;
    }
    // The hit branch follows both fighters' field outputs (Model::parse checked out_dim and
    // that HIT_FIELDS decode as scalars and the action by argmax over > HIT_ACTIONS' classes).
    for p in 0..2 {
        let oh = o + p * HIT_WIDTH;
        let prob = hit_probability_q16(m, out[oh]);
        if prob < m.hit_floor || draw[p] as u64 >= prob {
            continue;
        }
        for (j, &f) in HIT_FIELDS.iter().enumerate() {
            fighters[p][f] = decode_scalar(&m.fields[f], old[p][f], out[oh + 1 + j]);
        }
        let mut best = HIT_ACTIONS[0];
        for &c in &HIT_ACTIONS[1..] {
            if out[action_out[p] + c] > out[action_out[p] + best] {
                best = c;
            }
        }
        fighters[p][ACTION_FIELD] = best as i16;
    }
}

/// sigmoid(logit / 256) in Q16 from the cartridge's exp LUT (cartridge.hit_probability_q16).
#[inline(always)]
fn hit_probability_q16(m: &Model, logit: i16) -> u64 {
    let k = (logit as i64).unsigned_abs() >> 2;
    let e = if (k as usize) < LUT_SIZE { w_u32(m, m.exp, k as usize) as u64 } else { 0 };
    let q20 = 1u64 << 20;
    let num = if logit < 0 { e } else { q20 };
    (num << 16) / (q20 + e)
}

/// The 16-bit uniform draw of `fighter`'s hit on `frame` of session `session_id`
/// (cartridge.hit_draw): splitmix64's finalizer over session_id * gamma ^ (2 frame + fighter + 1).
pub fn hit_draw(session_id: u64, frame: u64, fighter: u64) -> u16 {
    let mut z = session_id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ frame.wrapping_mul(2).wrapping_add(fighter + 1);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 48) as u16
}

/// Both fighters' draws for one frame (cartridge.hit_draws).
pub fn hit_draws(session_id: u64, frame: u64) -> [u16; 2] {
    [hit_draw(session_id, frame, 0), hit_draw(session_id, frame, 1)]
}

/// Encoder: r = sat16(requant(W_enc u)).
pub fn encode(m: &Model, s: &mut Scratch, r: &mut [i16]) {
    let lin = m.encoder;
    matvec(m, &lin, &s.u, 0, lin.rows, &mut s.acc, &mut s.xu);
    requant_rows_i16(m, &lin, &s.acc, m.s_enc, &mut r[..lin.rows]);
}

/// out[i] = sat16(requant(acc[i])) for every row of `lin` (kernels::requant::requant_i16).
#[inline(always)]
fn requant_rows_i16(m: &Model, lin: &LinearRef, acc: &[i32], shift: u32, out: &mut [i16]) {
    assert!(acc.len() >= lin.rows && out.len() >= lin.rows);
    // SAFETY: bias and mult are sections of lin.rows i32 (Model::parse), acc and out hold
    // >= lin.rows entries (asserted).
    unsafe {
        let op = requant::Requant {
            acc: acc.as_ptr(),
            bias: m.at(lin.bias) as *const i32,
            mult: m.at(lin.mult) as *const i32,
            out: out.as_mut_ptr() as *mut u8,
            lut: core::ptr::null(),
            count: lin.rows,
            shift,
        };
        requant::requant_i16(&op)
    }
}

/// RMSNorm of the residual into s.xn (intref.rms_norm; the passes are kernels::norm).
#[inline(always)]
fn rms_norm(m: &Model, r: &[i16], gain: usize, eps: u64, shift: u32, xn: &mut [i8]) {
    let d = m.dims.d;
    assert!(r.len() >= d && xn.len() >= d);
    // SAFETY: r holds >= d entries (asserted).
    let ss = unsafe { norm::sum_squares(r.as_ptr(), d) };
    let rms = isqrt(ss / d as u64 + eps);
    let inv = ((1u64 << 30) / rms) as i64;
    // SAFETY: the gain section holds d i32 (Model::parse); r and xn >= d entries (asserted).
    unsafe {
        let op = norm::NormScale { r: r.as_ptr(), gain: m.at(gain) as *const i32, xn: xn.as_mut_ptr(), d, inv, shift };
        norm::scale(&op)
    }
}

/// exp(-|A| dt) in Q20 (intref.decay_q20).
#[inline(always)]
fn decay_q20(m: &Model, a_q16: i64, dt_q20: i64) -> i64 {
    let x = (a_q16.wrapping_mul(dt_q20)) >> 16;
    let k = x >> 14;
    if k >= LUT_SIZE as i64 {
        return 0;
    }
    let f = x & 0x3FFF;
    let e_f = (1i64 << 20) - f + ((f * f) >> 21);
    (w_u32(m, m.exp, k as usize) * e_f) >> 20
}

/// The activations a frame carries between transactions (they live in HiddenState).
pub struct FrameBufs<'a> {
    pub r: &'a mut [i16],  // (D,)  residual stream
    pub xn: &'a mut [i8],  // (D,)  normalized input of the current layer
    pub acc: &'a mut [i32], // (R,) in_proj accumulators of the current layer
    pub gy: &'a mut [i8],  // (E,)  gated SSM output of the current layer
}

/// Step 1 of a layer, by row chunks: RMSNorm (first chunk) and in_proj rows [row0, row1).
#[inline(always)]
pub fn in_proj_rows(m: &Model, layer: usize, s: &mut Scratch, f: &mut FrameBufs, row0: usize, row1: usize) {
    let lay = m.layer(layer);
    if row0 == 0 {
        let q = m.layer_quant(layer);
        rms_norm(m, f.r, lay.norm_gain, q.eps, q.s_norm, f.xn);
    }
    matvec(m, &lay.in_proj, f.xn, row0, row1, &mut f.acc[row0..], &mut s.xu);
}

/// Step 2 of a layer: requantize in_proj, selective state update over this layer's
/// state `h` (E * N), C.h + D.x, SiLU gate -> f.gy (intref.mamba_layer, middle part).
///
/// Per head the channel-independent factors are computed once (dt * u_mult, decay, D);
/// per head the channels' N-state loops are `kernels::scan::scan_head` (sBPF assembly).
/// dt * xa * u_mult is evaluated as (dt * u_mult) * xa: wrapping multiplication is
/// associative and commutative mod 2^64, so the product is the same bits as intref's.
#[inline(always)]
pub fn ssm(m: &Model, layer: usize, s: &mut Scratch, f: &mut FrameBufs, h: &mut [i32]) {
    let Dims { e, n, p, h: heads, .. } = m.dims;
    let lay = m.layer(layer);
    let q = m.layer_quant(layer);
    let lin = lay.in_proj;
    assert!(f.acc.len() >= lin.rows && f.gy.len() >= e && h.len() >= e * n && n <= MAX_N && e <= MAX_E);
    let (m_y, m_g, s_y, s_g) = (q.m_y, q.m_g, q.s_y, q.s_g);
    let round_y = (1i64 << s_y) >> 1;
    // SAFETY: bias and mult hold lin.rows i32 (Model::parse), silu_x/silu_z 256 i8; acc
    // holds lin.rows i32 (asserted); z, xu hold MAX_E >= e and b, c MAX_N >= n entries;
    // the row ranges e, e, n, n below end at 2e + 2n <= lin.rows.
    unsafe {
        let (bias, mult) = (m.at(lin.bias) as *const i32, m.at(lin.mult) as *const i32);
        let acc = f.acc.as_ptr();
        let mut op = requant::Requant { acc, bias, mult, out: s.z.as_mut_ptr() as *mut u8, lut: m.at(lay.silu_z), count: e, shift: q.s_in };
        requant::requant_lut8(&op); // SiLU(z), the gate of pass 2
        op = requant::Requant { acc: acc.add(e), bias: bias.add(e), mult: mult.add(e), out: s.xu.as_mut_ptr() as *mut u8, lut: m.at(lay.silu_x), ..op };
        requant::requant_lut(&op); // SiLU(x), as i64
        op = requant::Requant { acc: acc.add(2 * e), bias: bias.add(2 * e), mult: mult.add(2 * e), out: s.b.as_mut_ptr() as *mut u8, count: n, ..op };
        requant::requant_i64(&op);
        op = requant::Requant { acc: acc.add(2 * e + n), bias: bias.add(2 * e + n), mult: mult.add(2 * e + n), out: s.c.as_mut_ptr() as *mut u8, ..op };
        requant::requant_i64(&op);
    }
    // C * m_y: the scan's sum is then y_acc * m_y directly (the same bits mod 2^64, as
    // wrapping multiplication distributes over wrapping addition).
    for k in 0..n {
        s.c[k] = s.c[k].wrapping_mul(m_y);
    }
    // Pass 1, per head: dt, decay, each channel's dbx (into y_acc) and the start of its sum
    // xa * D + round (over xa in xu, no longer needed), then the scan of all of the head's
    // channels in one kernel call (scan::scan_head), which leaves in y_acc
    // y_acc * m_y + xa * D + round, the rounded numerator of y.
    let bc = s.b.as_ptr();
    let (s_u, round_u) = (q.s_u, (1i64 << q.s_u) >> 1);
    for hd in 0..heads {
        let row = 2 * e + 2 * n + hd;
        let idx = clamp(requant(m, &lin, f.acc[row], row, q.s_in) + SOFTPLUS_ZERO, 0, LUT_SIZE as i64 - 1);
        let dt = w_u32(m, m.softplus, idx as usize);
        let decay = decay_q20(m, w_u32(m, lay.a_q16, hd), dt);
        let du = dt.wrapping_mul(w_i32(m, lay.u_mult, hd));
        let dskip = w_i64(m, lay.d_skip, hd);
        // The whole head takes the unclamped scan when even its largest possible dbx
        // cannot saturate a state: |dbx| <= (|du| * 128 + round) >> s_u, + 1 for the floor
        // of a negative value (|du| < 2^55 keeps |du| * 128 from wrapping).
        let abs_du = du.unsigned_abs();
        let clamp_head =
            !(abs_du < 1 << 55 && scan::cannot_saturate(decay, ((((abs_du << 7) as i64) + round_u) >> s_u) + 1));
        // SAFETY: channels hd*p..hd*p+p < e: xu and y_acc hold MAX_E >= e entries, and
        // their state rows (n i32 each) lie in h (asserted); b holds n <= MAX_N entries and
        // c = b + C_OFFSET (the layout is checked below Scratch).
        unsafe {
            let xap = (s.xu.as_mut_ptr() as *mut i64).add(hd * p);
            let yd = s.y_acc.as_mut_ptr().add(hd * p);
            for i in 0..p {
                let xa = *xap.add(i);
                *yd.add(i) = sat32(du.wrapping_mul(xa).wrapping_add(round_u) >> s_u);
                *xap.add(i) = xa.wrapping_mul(dskip).wrapping_add(round_y);
            }
            let op = scan::HeadScan {
                h: h.as_mut_ptr().add(hd * p * n),
                bc,
                yd,
                y0: xap,
                channels: p,
                n,
                decay,
                clamp: clamp_head,
            };
            scan::scan_head(&op);
        }
    }
    // Pass 2, per channel: y = sat8(numerator >> s_y), times SiLU(z) (kernels::requant::gate).
    let g = requant::Gate { num: s.y_acc.as_ptr(), gz: s.z.as_ptr() as *const u8, out: f.gy.as_mut_ptr() as *mut u8, count: e, s_y, s_g, m_g };
    // SAFETY: y_acc and z hold MAX_E >= e entries, gy >= e (asserted).
    unsafe { requant::gate(&g) };
}

/// Step 3 of a layer, by row chunks: out_proj rows [row0, row1) added to the residual.
#[inline(always)]
pub fn out_proj_rows(m: &Model, layer: usize, s: &mut Scratch, f: &mut FrameBufs, row0: usize, row1: usize) {
    let lin = m.layer(layer).out_proj;
    let s_out = m.layer_quant(layer).s_out;
    matvec(m, &lin, f.gy, row0, row1, &mut s.acc, &mut s.xu);
    assert!(row1 <= f.r.len());
    // SAFETY: bias and mult hold lin.rows >= row1 i32 (Model::parse); acc holds the
    // row1 - row0 totals just written; r holds >= row1 entries (asserted).
    unsafe {
        let op = requant::Requant {
            acc: s.acc.as_ptr(),
            bias: (m.at(lin.bias) as *const i32).add(row0),
            mult: (m.at(lin.mult) as *const i32).add(row0),
            out: f.r.as_mut_ptr().add(row0) as *mut u8,
            lut: core::ptr::null(),
            count: row1 - row0,
            shift: s_out,
        };
        requant::residual_add(&op)
    }
}

/// Final RMSNorm and output head: out = sat16(requant(W_head xn)).
#[inline(always)]
pub fn head(m: &Model, s: &mut Scratch, r: &[i16]) {
    rms_norm(m, r, m.final_gain, m.eps_f, m.s_norm_f, &mut s.xn);
    let lin = m.head;
    matvec(m, &lin, &s.xn, 0, lin.rows, &mut s.acc, &mut s.xu);
    requant_rows_i16(m, &lin, &s.acc, m.s_head, &mut s.out);
}

#[cfg(test)]
mod tests {
    use super::hit_draw;

    #[test]
    fn hit_draws_match_the_reference() {
        // cartridge.hit_draw(session_id, frame, fighter) for these arguments
        let want = [(0u64, 0u64, 0u64, 22162u16), (0, 0, 1, 56274), (7, 123, 0, 44399), (7, 123, 1, 29098), (u64::MAX, u64::MAX, 1, 13157)];
        for (sid, frame, p, v) in want {
            assert_eq!(hit_draw(sid, frame, p), v, "session {sid} frame {frame} fighter {p}");
        }
    }
}
