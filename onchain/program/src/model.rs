//! Zero-copy view of a cartridge: the manifest's fields and the weights blob's offsets.
//!
//! The byte layouts are documented in `worldmodel/cartridge.py` (the writer); this
//! parser validates every dimension so that the kernels can index without checks.
use crate::error::WorldError;

pub const MAGIC: &[u8; 8] = b"MELEEWM1";
pub const LAYOUT_VERSION: u16 = 1;
/// Weight layout 1: row-major i8 matrices, the baseline `matvec_packed` kernel.
pub const WEIGHT_LAYOUT_ROWMAJOR: u16 = 1;
/// Weight layout 2: int8 weights three to a u64 in 21-bit fields, the SWAR `matvec_lanes`
/// kernel (12-row blocks; see kernels::matvec).
pub const WEIGHT_LAYOUT_LANES: u16 = 2;
pub const MANIFEST_HEADER: usize = 160;
pub const LAYER_QUANT_SIZE: usize = 32;
pub const N_FIELDS: usize = 16;
pub const LUT_SIZE: usize = 1024;
pub const SOFTPLUS_ZERO: i64 = 512;
pub const CONTROLLER_FEATURES: usize = 18;
pub const N_BUTTONS: usize = 12;
/// Manifest byte 136: session context flags (cartridge.py "Session context"); 137 u8 supported
/// stages (bit i: rules::STAGES[i]) | 140 u32 supported characters (bit c: Slippi id c).
pub const CONTEXT_FLAGS: usize = 136;
pub const SUPPORTED_STAGES: usize = 137;
pub const SUPPORTED_CHARACTERS: usize = 140;
/// Bit 0: only the stages and characters in the masks are supported.
pub const CONTEXT_DECLARES_SUPPORT: u8 = 1;
/// Bit 1: the model is fed the session's stage and characters, one-hot after the controllers.
pub const CONTEXT_ONEHOT: u8 = 2;
/// Bit 2: the model is fed RELATIVE_FEATURES that relate the fighters to each other and to
/// the stage (forward::relative_features), after the one-hot block when there is one.
pub const CONTEXT_RELATIVE: u8 = 4;
/// Bit 3: the head ends in a hit branch (HIT_WIDTH outputs per fighter) and the decode draws
/// each fighter's hit at the model's odds (forward::decode_outputs, cartridge.py bit 3).
pub const CONTEXT_SAMPLED_HIT: u8 = 8;
pub const CONTEXT_KNOWN: u8 = CONTEXT_DECLARES_SUPPORT | CONTEXT_ONEHOT | CONTEXT_RELATIVE | CONTEXT_SAMPLED_HIT;
/// The fields a drawn hit decodes from the hit branch (cartridge.HIT_FIELDS): kb_vx, kb_vy,
/// action_frame, percent, hitlag, hitstun.
pub const HIT_FIELDS: [usize; 6] = [4, 5, 8, 9, 14, 15];
/// Per fighter: the hit logit, then one output per HIT_FIELDS entry.
pub const HIT_WIDTH: usize = 1 + HIT_FIELDS.len();
/// The action field, and the categories a drawn hit decodes it to (cartridge.HIT_ACTIONS:
/// tumble, damage, downed, grabbed_thrown).
pub const ACTION_FIELD: usize = 7;
pub const HIT_ACTIONS: [usize; 4] = [10, 18, 21, 26];
/// Manifest byte 138: the hit floor, in steps of HIT_FLOOR_UNIT of Q16 probability; a hit less
/// likely than it is not drawn (0 unless CONTEXT_SAMPLED_HIT).
pub const HIT_FLOOR: usize = 138;
pub const HIT_FLOOR_UNIT: u64 = 16;
/// CONTEXT_RELATIVE's features: dx, dy, gap1, gap2.
pub const RELATIVE_FEATURES: usize = 4;
/// Playable characters: Slippi external ids 0..N_CHARACTERS.
pub const N_CHARACTERS: usize = 26;
const _: () = assert!(N_CHARACTERS == crate::state::MAX_CHARACTER as usize + 1);
/// CONTEXT_ONEHOT's features: the stage's index in rules::STAGES, then both characters.
pub const CONTEXT_FEATURES: usize = crate::rules::STAGES.len() + 2 * N_CHARACTERS;

// Limits of the scratch memory (forward::Scratch) and of the feature/output vectors.
pub const MAX_D: usize = 512;
pub const MAX_E: usize = 1024;
pub const MAX_N: usize = 32;
pub const MAX_H: usize = 64;
pub const MAX_R: usize = 2 * MAX_E + 2 * MAX_N + MAX_H;
pub const MAX_IN: usize = 512;
pub const MAX_OUT: usize = 512;
pub const MAX_LAYERS: usize = 64;
pub const MAX_SHIFT: u32 = 62;
/// Blob bytes per weights account (cartridge.SHARD_BYTES); no section straddles shards.
pub const SHARD_SHIFT: u32 = 23;
pub const SHARD_BYTES: usize = 1 << SHARD_SHIFT;
pub const MAX_SHARDS: usize = 8;
pub const MAX_CLASSES: u8 = 64;

pub const ENC_NONE: u8 = 0;
pub const ENC_SCALAR: u8 = 1;
pub const ENC_ONEHOT: u8 = 2;
pub const DEC_KEEP: u8 = 0;
pub const DEC_ABSOLUTE: u8 = 1;
pub const DEC_DELTA: u8 = 2;
pub const DEC_ARGMAX: u8 = 3;
pub const DEC_SIGN: u8 = 4;

#[inline(always)]
pub fn rd_u16(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
#[inline(always)]
pub fn rd_u32(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}
#[inline(always)]
pub fn rd_i32(b: &[u8], o: usize) -> i32 {
    rd_u32(b, o) as i32
}

#[derive(Clone, Copy, Debug, Default)]
pub struct FieldSpec {
    pub enc_kind: u8,
    pub enc_arg: u8,
    pub dec_kind: u8,
    /// DEC_ARGMAX: the class count. DEC_DELTA: a dead band in state units (a head output with
    /// |out| <= dec_arg leaves the field; 0: none). Other kinds ignore it.
    pub dec_arg: u8,
}

impl FieldSpec {
    fn enc_width(&self) -> usize {
        match self.enc_kind {
            ENC_SCALAR => 1,
            ENC_ONEHOT => self.enc_arg as usize,
            _ => 0,
        }
    }
    fn dec_width(&self) -> usize {
        match self.dec_kind {
            DEC_KEEP => 0,
            DEC_ARGMAX => self.dec_arg as usize,
            _ => 1,
        }
    }
    fn valid(&self) -> bool {
        let enc_ok = match self.enc_kind {
            ENC_NONE => true,
            ENC_SCALAR => self.enc_arg <= 15,
            ENC_ONEHOT => self.enc_arg >= 1 && self.enc_arg <= MAX_CLASSES,
            _ => false,
        };
        let dec_ok = match self.dec_kind {
            DEC_KEEP | DEC_ABSOLUTE | DEC_DELTA | DEC_SIGN => true,
            DEC_ARGMAX => self.dec_arg >= 1 && self.dec_arg <= MAX_CLASSES,
            _ => false,
        };
        enc_ok && dec_ok
    }
}

/// Per-layer quantization scalars (manifest bytes 160 + 32 * layer).
#[derive(Clone, Copy, Debug, Default)]
pub struct LayerQuant {
    pub eps: u64,
    pub s_norm: u32,
    pub s_in: u32,
    pub s_u: u32,
    pub s_y: u32,
    pub s_g: u32,
    pub s_out: u32,
    pub m_y: i64,
    pub m_g: i64,
}

/// Byte offsets of one `Linear(rows x cols)` inside the weights blob.
/// Layout 1: `w` is rows*cols i8 row-major.
/// Layout 2: `w` is `matvec::lanes_bytes(rows, cols)` of lane words.
#[derive(Clone, Copy, Debug, Default)]
pub struct LinearRef {
    pub w: usize,
    pub bias: usize,
    pub mult: usize,
    pub rows: usize,
    pub cols: usize,
}

/// Byte offsets of one Mamba layer's parameters inside the weights blob.
#[derive(Clone, Copy, Debug, Default)]
pub struct LayerRef {
    pub norm_gain: usize,
    pub in_proj: LinearRef,
    pub a_q16: usize,
    pub d_skip: usize,
    pub u_mult: usize,
    pub silu_x: usize,
    pub silu_z: usize,
    pub out_proj: LinearRef,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct Dims {
    pub d: usize,
    pub e: usize,
    pub n: usize,
    pub p: usize,
    pub h: usize,
    pub layers: usize,
    pub in_dim: usize,
    pub out_dim: usize,
    /// Weight layout 2 (lane words): row chunks are whole 12-row blocks of STEP_MACS_LANES.
    pub lanes: bool,
}

/// Multiply-accumulates one mat-vec step may do: small enough that a step plus its
/// requantization fits one transaction even with the baseline kernel (~10 CU/MAC).
/// Part of the protocol: clients derive the step count from it (onchain/steps.py).
pub const STEP_MACS: usize = 96 * 1024;
/// The same for weight layout 2 (~1.3-1.8 CU/MAC): a step stays under ~0.95M CU, and its
/// rows are a multiple of the kernel's 12-row block.
pub const STEP_MACS_LANES: usize = 512 * 1024;
pub const LANE_BLOCK_ROWS: usize = crate::kernels::matvec::BLOCK_ROWS;

/// One unit of work of a frame; a transaction runs one or more consecutive steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Features + encoder -> residual.
    Encode,
    /// RMSNorm (first chunk) + in_proj rows [row0, row1) of a layer.
    InProj { layer: usize, row0: usize, row1: usize },
    /// Selective state update and gate of a layer.
    Ssm { layer: usize },
    /// out_proj rows [row0, row1) of a layer, added to the residual.
    OutProj { layer: usize, row0: usize, row1: usize },
    /// Final norm, head, decode into SessionState, frame + 1.
    Head,
}

impl Dims {
    pub fn r_rows(&self) -> usize {
        2 * self.e + 2 * self.n + self.h
    }
    pub fn state_len(&self) -> usize {
        self.layers * self.e * self.n
    }
    fn rows_per_step(&self, cols: usize) -> usize {
        if self.lanes {
            let r = STEP_MACS_LANES / cols / LANE_BLOCK_ROWS * LANE_BLOCK_ROWS;
            return if r == 0 { LANE_BLOCK_ROWS } else { r };
        }
        let r = STEP_MACS / cols;
        if r == 0 { 1 } else { r }
    }
    fn in_chunks(&self) -> usize {
        let r = self.rows_per_step(self.d);
        (self.r_rows() + r - 1) / r
    }
    fn out_chunks(&self) -> usize {
        let r = self.rows_per_step(self.e);
        (self.d + r - 1) / r
    }
    fn steps_per_layer(&self) -> usize {
        self.in_chunks() + 1 + self.out_chunks()
    }
    /// Steps in one frame: encode, L x (in_proj chunks, ssm, out_proj chunks), head.
    pub fn steps_per_frame(&self) -> usize {
        2 + self.layers * self.steps_per_layer()
    }
    pub fn step(&self, i: usize) -> Step {
        if i == 0 {
            return Step::Encode;
        }
        if i + 1 == self.steps_per_frame() {
            return Step::Head;
        }
        let per = self.steps_per_layer();
        let (layer, k) = ((i - 1) / per, (i - 1) % per);
        let (ci, ri, ro) = (self.in_chunks(), self.rows_per_step(self.d), self.rows_per_step(self.e));
        if k < ci {
            let row0 = k * ri;
            Step::InProj { layer, row0, row1: core::cmp::min(row0 + ri, self.r_rows()) }
        } else if k == ci {
            Step::Ssm { layer }
        } else {
            let row0 = (k - ci - 1) * ro;
            Step::OutProj { layer, row0, row1: core::cmp::min(row0 + ro, self.d) }
        }
    }
    /// HiddenState byte offsets after the 32-byte header: r, xn, acc, gy, h.
    pub fn hidden_offsets(&self) -> [usize; 5] {
        let pad = |x: usize| (x + 7) & !7;
        let r = 32;
        let xn = r + pad(2 * self.d);
        let acc = xn + pad(self.d);
        let gy = acc + pad(4 * self.r_rows());
        let h = gy + pad(self.e);
        [r, xn, acc, gy, h]
    }
    pub fn hidden_len(&self) -> usize {
        self.hidden_offsets()[4] + 4 * self.state_len()
    }
}

struct Cursor {
    pos: usize,
    lanes: bool,
}

impl Cursor {
    fn align8(&mut self) {
        self.pos = (self.pos + 7) & !7;
    }
    fn take(&mut self, n: usize) -> usize {
        let used = self.pos & (SHARD_BYTES - 1);
        if used != 0 && used + n > SHARD_BYTES {
            self.pos += SHARD_BYTES - used;
        }
        let at = self.pos;
        self.pos += n;
        at
    }
    fn linear(&mut self, rows: usize, cols: usize) -> LinearRef {
        self.align8();
        let w = self.take(if self.lanes { crate::kernels::matvec::lanes_bytes(rows, cols) } else { rows * cols });
        self.align8();
        let bias = self.take(4 * rows);
        let mult = self.take(4 * rows);
        self.align8();
        LinearRef { w, bias, mult, rows, cols }
    }
}

/// A validated cartridge: borrowed manifest and weights plus precomputed offsets.
pub struct Model<'a> {
    pub manifest: &'a [u8],
    /// The weights blob in shards of SHARD_BYTES (the last may be shorter).
    pub shards: [&'a [u8]; MAX_SHARDS],
    pub dims: Dims,
    pub weight_layout: u16,
    /// Manifest byte 136 (CONTEXT_*): whether build_features appends the session's context.
    pub context: u8,
    /// The least Q16 probability a drawn hit needs (manifest byte 138 * HIT_FLOOR_UNIT).
    pub hit_floor: u64,
    pub fields: [FieldSpec; N_FIELDS],
    pub s_enc: u32,
    pub s_head: u32,
    pub s_norm_f: u32,
    pub eps_f: u64,
    pub softplus: usize,
    pub exp: usize,
    pub encoder: LinearRef,
    first_layer: usize,
    pub final_gain: usize,
    pub head: LinearRef,
}

impl<'a> Model<'a> {
    /// Parse and validate. Each shard must be 8-byte aligned (account data is) and
    /// `shards` must hold every shard the blob needs, in order.
    pub fn parse(manifest: &'a [u8], shards: &[&'a [u8]]) -> Result<Self, WorldError> {
        use WorldError::{InvalidManifest, InvalidWeights, ModelTooLarge};
        if manifest.len() < MANIFEST_HEADER || &manifest[..8] != MAGIC {
            return Err(InvalidManifest);
        }
        let weight_layout = rd_u16(manifest, 10);
        if rd_u16(manifest, 8) != LAYOUT_VERSION || (weight_layout != WEIGHT_LAYOUT_ROWMAJOR && weight_layout != WEIGHT_LAYOUT_LANES) {
            return Err(InvalidManifest);
        }
        let lanes = weight_layout == WEIGHT_LAYOUT_LANES;
        let g = |o| rd_u16(manifest, o) as usize;
        let (d, e, n, p, layers, in_dim, out_dim, n_fields) = (g(12), g(14), g(16), g(18), g(20), g(22), g(24), g(26));
        if n_fields != N_FIELDS || p == 0 || e % p != 0 || d % 8 != 0 || e % 8 != 0 || d == 0 || n == 0 || layers == 0 {
            return Err(InvalidManifest);
        }
        let h = e / p;
        if d > MAX_D || e > MAX_E || n > MAX_N || h > MAX_H || layers > MAX_LAYERS || in_dim > MAX_IN || out_dim > MAX_OUT {
            return Err(ModelTooLarge);
        }
        if manifest.len() < MANIFEST_HEADER + LAYER_QUANT_SIZE * layers {
            return Err(InvalidManifest);
        }
        let mut fields = [FieldSpec::default(); N_FIELDS];
        let (mut enc, mut dec) = (0usize, 0usize);
        for (i, f) in fields.iter_mut().enumerate() {
            let o = 64 + 4 * i;
            *f = FieldSpec { enc_kind: manifest[o], enc_arg: manifest[o + 1], dec_kind: manifest[o + 2], dec_arg: manifest[o + 3] };
            if !f.valid() {
                return Err(InvalidManifest);
            }
            enc += f.enc_width();
            dec += f.dec_width();
        }
        // Context bits this program does not know would change what the model expects.
        let context = manifest[CONTEXT_FLAGS];
        if context & !CONTEXT_KNOWN != 0 {
            return Err(InvalidManifest);
        }
        let ctx_features = if context & CONTEXT_ONEHOT != 0 { CONTEXT_FEATURES } else { 0 }
            + if context & CONTEXT_RELATIVE != 0 { RELATIVE_FEATURES } else { 0 };
        let hit_outputs = if context & CONTEXT_SAMPLED_HIT != 0 { 2 * HIT_WIDTH } else { 0 };
        if (2 * enc + 2 * CONTROLLER_FEATURES + ctx_features + 7) & !7 != in_dim || 2 * dec + hit_outputs != out_dim {
            return Err(InvalidManifest);
        }
        // A drawn hit decodes HIT_FIELDS as deltas or absolutes (one output each) and picks the
        // action among the 32 categories' logits.
        if context & CONTEXT_SAMPLED_HIT != 0
            && (HIT_FIELDS.iter().any(|&f| fields[f].dec_kind != DEC_DELTA && fields[f].dec_kind != DEC_ABSOLUTE)
                || fields[ACTION_FIELD].dec_kind != DEC_ARGMAX
                || (fields[ACTION_FIELD].dec_arg as usize) <= HIT_ACTIONS[HIT_ACTIONS.len() - 1])
        {
            return Err(InvalidManifest);
        }
        let hit_floor = manifest[HIT_FLOOR] as u64 * HIT_FLOOR_UNIT;
        if hit_floor != 0 && context & CONTEXT_SAMPLED_HIT == 0 {
            return Err(InvalidManifest);
        }
        let (s_enc, s_head, s_norm_f) = (manifest[128] as u32, manifest[129] as u32, manifest[130] as u32);
        let eps_f = rd_u32(manifest, 132) as u64;
        if s_enc > MAX_SHIFT || s_head > MAX_SHIFT || s_norm_f > MAX_SHIFT || eps_f == 0 {
            return Err(InvalidManifest);
        }
        for l in 0..layers {
            let q = layer_quant_at(manifest, l);
            let shifts = [q.s_norm, q.s_in, q.s_u, q.s_y, q.s_g, q.s_out];
            if q.eps == 0 || shifts.iter().any(|&s| s > MAX_SHIFT) {
                return Err(InvalidManifest);
            }
        }
        // Offsets, mirroring cartridge.Cartridge.weights_bytes.
        let mut c = Cursor { pos: 0, lanes };
        let softplus = c.take(4 * LUT_SIZE);
        let exp = c.take(4 * LUT_SIZE);
        let encoder = c.linear(d, in_dim);
        let first_layer = c.pos;
        for _ in 0..layers {
            let _ = layer_at(&mut c, d, e, n, h);
        }
        let final_gain = c.take(4 * d);
        c.align8();
        let head = c.linear(out_dim, d);
        let wlen = rd_u32(manifest, 28) as usize;
        let n_shards = (wlen + SHARD_BYTES - 1) >> SHARD_SHIFT;
        if c.pos != wlen || n_shards > MAX_SHARDS || shards.len() < n_shards {
            return Err(InvalidWeights);
        }
        let mut held: [&[u8]; MAX_SHARDS] = [&[]; MAX_SHARDS];
        for k in 0..n_shards {
            let need = core::cmp::min(SHARD_BYTES, wlen - k * SHARD_BYTES);
            if shards[k].len() < need || (shards[k].as_ptr() as usize) % 8 != 0 {
                return Err(InvalidWeights);
            }
            held[k] = shards[k];
        }
        Ok(Model {
            manifest,
            shards: held,
            dims: Dims { d, e, n, p, h, layers, in_dim, out_dim, lanes },
            weight_layout,
            context,
            hit_floor,
            fields,
            s_enc,
            s_head,
            s_norm_f,
            eps_f,
            softplus,
            exp,
            encoder,
            first_layer,
            final_gain,
            head,
        })
    }

    pub fn layer(&self, i: usize) -> LayerRef {
        let dm = &self.dims;
        let mut c = Cursor { pos: self.first_layer, lanes: self.dims.lanes };
        for _ in 0..i {
            let _ = layer_at(&mut c, dm.d, dm.e, dm.n, dm.h);
        }
        layer_at(&mut c, dm.d, dm.e, dm.n, dm.h)
    }

    /// Pointer to blob offset `off`.
    ///
    /// # Safety
    /// `off` must be inside a section of the parsed layout: parse checked that every
    /// shard holding sections is present and long enough, and sections never straddle.
    #[inline(always)]
    pub unsafe fn at(&self, off: usize) -> *const u8 {
        self.shards.get_unchecked(off >> SHARD_SHIFT).as_ptr().add(off & (SHARD_BYTES - 1))
    }

    pub fn layer_quant(&self, i: usize) -> LayerQuant {
        layer_quant_at(self.manifest, i)
    }

    /// Expected sha256 of the weights (manifest bytes 32..64).
    pub fn weights_hash(&self) -> &[u8] {
        &self.manifest[32..64]
    }
}

#[inline(always)]
fn layer_at(c: &mut Cursor, d: usize, e: usize, n: usize, h: usize) -> LayerRef {
    let norm_gain = c.take(4 * d);
    let in_proj = c.linear(2 * e + 2 * n + h, d);
    c.align8();
    let a_q16 = c.take(4 * h);
    c.align8();
    let d_skip = c.take(8 * h);
    let u_mult = c.take(4 * h);
    c.align8();
    let silu_x = c.take(256);
    let silu_z = c.take(256);
    let out_proj = c.linear(d, e);
    LayerRef { norm_gain, in_proj, a_q16, d_skip, u_mult, silu_x, silu_z, out_proj }
}

fn layer_quant_at(m: &[u8], i: usize) -> LayerQuant {
    let o = MANIFEST_HEADER + LAYER_QUANT_SIZE * i;
    LayerQuant {
        eps: rd_u32(m, o) as u64,
        s_norm: m[o + 4] as u32,
        s_in: m[o + 5] as u32,
        s_u: m[o + 6] as u32,
        s_y: m[o + 7] as u32,
        s_g: m[o + 8] as u32,
        s_out: m[o + 9] as u32,
        m_y: rd_i32(m, o + 12) as i64,
        m_g: rd_i32(m, o + 16) as i64,
    }
}
