//! Thin wrappers over the runtime: PDA derivation, sha256, the clock and rent sysvars,
//! and creating / growing program accounts by CPI to the system program.
//!
//! The syscalls exist only on the sBPF target; host builds (the crate's unit tests,
//! which never call these) get stubs that fail.
use pinocchio::{
    cpi::{invoke_signed, Seed, Signer},
    error::ProgramError,
    instruction::{InstructionAccount, InstructionView},
    AccountView, Address, ProgramResult,
};

use crate::error::WorldError;

/// The system program (all-zero address).
pub const SYSTEM_PROGRAM: Address = Address::new_from_array([0; 32]);
/// Most an account may grow in one instruction (the runtime's slack after its data).
pub const MAX_GROWTH: usize = 10_240;

/// `find_program_address`: the canonical PDA and its bump for `seeds`.
#[cfg(any(target_arch = "bpf", target_os = "solana"))]
pub fn find_pda(seeds: &[&[u8]], program_id: &Address) -> (Address, u8) {
    Address::find_program_address(seeds, program_id)
}

#[cfg(not(any(target_arch = "bpf", target_os = "solana")))]
pub fn find_pda(_seeds: &[&[u8]], _program_id: &Address) -> (Address, u8) {
    unimplemented!("PDA derivation needs the sBPF runtime")
}

/// Check that `acc` is the canonical PDA of `seeds`; returns the bump.
pub fn expect_pda(acc: &AccountView, seeds: &[&[u8]], program_id: &Address) -> Result<u8, ProgramError> {
    let (addr, bump) = find_pda(seeds, program_id);
    if acc.address() != &addr {
        return Err(WorldError::InvalidPda.into());
    }
    Ok(bump)
}

/// sha256 over the concatenation of `parts`.
#[cfg(any(target_arch = "bpf", target_os = "solana"))]
pub fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut out = [0u8; 32];
    // SAFETY: `parts` is a slice of fat pointers (ptr, len), the layout sol_sha256 reads;
    // `out` has the 32 bytes the syscall writes.
    unsafe {
        pinocchio::syscalls::sol_sha256(parts.as_ptr() as *const u8, parts.len() as u64, out.as_mut_ptr());
    }
    out
}

#[cfg(not(any(target_arch = "bpf", target_os = "solana")))]
pub fn sha256(_parts: &[&[u8]]) -> [u8; 32] {
    unimplemented!("sha256 needs the sBPF runtime")
}

/// The Clock sysvar's unix_timestamp (seconds). Uses the long-standing `sol_get_clock_sysvar`
/// syscall, which every runtime this program targets (LiteSVM, MagicBlock's ER) has.
#[cfg(any(target_arch = "bpf", target_os = "solana"))]
#[allow(deprecated)]
pub fn now() -> i64 {
    // Clock: u64 slot | i64 epoch_start_timestamp | u64 epoch | u64 leader_schedule_epoch |
    // i64 unix_timestamp
    let mut clock = [0u64; 5];
    // SAFETY: the syscall writes the 40-byte Clock into `clock`.
    unsafe { pinocchio::syscalls::sol_get_clock_sysvar(clock.as_mut_ptr() as *mut u8) };
    clock[4] as i64
}

#[cfg(not(any(target_arch = "bpf", target_os = "solana")))]
pub fn now() -> i64 {
    0
}

/// `sol_sha256`'s input that `create_program_address` hashes for a PDA.
const PDA_MARKER: &[u8; 21] = b"ProgramDerivedAddress";

/// Check that `acc` is the program address of `seeds` + `bump` under `program_id`:
/// sha256(seeds | bump | program_id | "ProgramDerivedAddress") == address. One `sol_sha256`
/// (a few hundred CU) instead of `create_program_address` (1,500): the on-curve test that the
/// syscall adds is not needed for an account that exists and is owned by `program_id`, because
/// only this program can create accounts it owns, and it creates them only at canonical PDAs.
pub fn check_address(acc: &AccountView, seeds: &[&[u8]], bump: u8, program_id: &Address) -> Result<(), WorldError> {
    let mut parts: [&[u8]; 6] = [&[]; 6];
    if seeds.len() > 3 {
        return Err(WorldError::InvalidPda);
    }
    let bump = [bump];
    parts[..seeds.len()].copy_from_slice(seeds);
    parts[seeds.len()] = &bump;
    parts[seeds.len() + 1] = program_id.as_ref();
    parts[seeds.len() + 2] = PDA_MARKER;
    if sha256(&parts[..seeds.len() + 3]) != *acc.address().as_array() {
        return Err(WorldError::InvalidPda);
    }
    Ok(())
}

/// Lamports that make an account of `len` bytes rent-exempt (Rent sysvar:
/// u64 lamports_per_byte_year, f64 exemption_threshold, u8 burn_percent).
#[cfg(any(target_arch = "bpf", target_os = "solana"))]
#[allow(deprecated)]
pub fn rent_exempt(len: usize) -> u64 {
    let mut rent = [0u64; 3];
    // SAFETY: the syscall writes the 17-byte Rent struct into the 24-byte buffer.
    unsafe { pinocchio::syscalls::sol_get_rent_sysvar(rent.as_mut_ptr() as *mut u8) };
    (128 + len as u64) * scale_by_f64(rent[0], rent[1])
}

/// `value * threshold` for the f64 `threshold` given by its bits, without floating
/// point (sBPF has none): exact for thresholds with few mantissa bits (2.0 on today's
/// clusters, 1.0 after SIMD-0194), rounded up otherwise so accounts stay rent-exempt.
pub fn scale_by_f64(value: u64, bits: u64) -> u64 {
    let exp = ((bits >> 52) & 0x7ff) as i32;
    if exp == 0 {
        return 0; // zero or subnormal threshold
    }
    let mut mant = (bits & ((1u64 << 52) - 1)) | (1u64 << 52);
    let tz = mant.trailing_zeros();
    mant >>= tz;
    // threshold = mant * 2^(exp - 1023 - 52 + tz)
    let mut shift = exp - 1023 - 52 + tz as i32;
    // Keep value * mant inside 64 bits: drop low mantissa bits, rounding up. (Overflow
    // checked multiplies lower to __multi3, which sBPF lacks, so bound bit widths.)
    let width = |v: u64| 64 - v.leading_zeros();
    while width(value) + width(mant) > 64 {
        mant = (mant >> 1) + (mant & 1);
        shift += 1;
    }
    let prod = value * mant;
    if prod == 0 {
        0
    } else if shift >= 0 {
        if width(prod) as i32 + shift > 64 { u64::MAX } else { prod << shift }
    } else if -shift >= 64 {
        1
    } else {
        let s = (-shift) as u32;
        (prod >> s) + ((prod & ((1u64 << s) - 1)) != 0) as u64
    }
}

#[cfg(not(any(target_arch = "bpf", target_os = "solana")))]
pub fn rent_exempt(len: usize) -> u64 {
    (128 + len as u64) * 6960
}

#[cfg(test)]
mod tests {
    #[test]
    fn scale_by_f64_matches_float_math() {
        for t in [1.0f64, 2.0, 0.5, 1.5, 3.0, 10.0, 0.1] {
            for v in [0u64, 1, 3480, 6960, 10_000_000] {
                let got = super::scale_by_f64(v, t.to_bits());
                let want = (v as f64 * t).ceil() as u64;
                assert!(got == want || got == want + 1, "{v} * {t}: {got} vs {want}");
            }
        }
    }
}

#[inline(always)]
fn system_ix<const N: usize>(
    data: &[u8],
    metas: &[InstructionAccount],
    accounts: &[&AccountView; N],
    seeds: &[Seed],
) -> ProgramResult {
    let ix = InstructionView { program_id: &SYSTEM_PROGRAM, data, accounts: metas };
    if seeds.is_empty() {
        invoke_signed(&ix, accounts, &[])
    } else {
        invoke_signed(&ix, accounts, &[Signer::from(seeds)])
    }
}

/// Transfer `lamports` from the signing wallet `from` to `to` (system program CPI).
#[inline(always)]
pub fn transfer(from: &AccountView, to: &AccountView, lamports: u64) -> ProgramResult {
    if lamports == 0 {
        return Ok(());
    }
    let mut data = [0u8; 12];
    data[0] = 2; // SystemInstruction::Transfer
    data[4..12].copy_from_slice(&lamports.to_le_bytes());
    let metas = [InstructionAccount::writable_signer(from.address()), InstructionAccount::writable(to.address())];
    system_ix(&data, &metas, &[from, to], &[])
}

/// Create the PDA `acc` (signed by `seeds`, which end with the bump) with `space` bytes
/// owned by `program_id`, rent paid by `payer`. Works even if someone has already sent
/// lamports to the address (then it tops up, allocates and assigns instead of
/// CreateAccount, which would fail).
#[inline(always)]
pub fn create_pda(payer: &AccountView, acc: &AccountView, space: usize, program_id: &Address, seeds: &[Seed]) -> ProgramResult {
    if !acc.is_data_empty() || !acc.owned_by(&SYSTEM_PROGRAM) {
        return Err(WorldError::AlreadyInitialized.into());
    }
    if space > MAX_GROWTH {
        return Err(WorldError::UploadOutOfRange.into());
    }
    let need = rent_exempt(space);
    let have = acc.lamports();
    let pair = [payer, acc];
    if have == 0 {
        let mut data = [0u8; 52];
        data[0] = 0; // SystemInstruction::CreateAccount
        data[4..12].copy_from_slice(&need.to_le_bytes());
        data[12..20].copy_from_slice(&(space as u64).to_le_bytes());
        data[20..52].copy_from_slice(program_id.as_ref());
        let metas = [InstructionAccount::writable_signer(payer.address()), InstructionAccount::writable_signer(acc.address())];
        return system_ix(&data, &metas, &pair, seeds);
    }
    transfer(payer, acc, need.saturating_sub(have))?;
    let metas = [InstructionAccount::writable_signer(acc.address())];
    let mut data = [0u8; 12];
    data[0] = 8; // SystemInstruction::Allocate { space }
    data[4..12].copy_from_slice(&(space as u64).to_le_bytes());
    system_ix(&data, &metas, &[acc], seeds)?;
    let mut data = [0u8; 36];
    data[0] = 1; // SystemInstruction::Assign { owner }
    data[4..36].copy_from_slice(program_id.as_ref());
    system_ix(&data, &metas, &[acc], seeds)
}

/// Grow a program-owned account to `new_len` bytes (zero-filled), topping its lamports
/// up to rent exemption from `payer`. At most MAX_GROWTH bytes per instruction: each
/// account may be grown once per instruction.
#[inline(always)]
pub fn grow(payer: &AccountView, acc: &mut AccountView, new_len: usize) -> ProgramResult {
    let old = acc.data_len();
    if new_len <= old {
        return Ok(());
    }
    if new_len - old > MAX_GROWTH {
        return Err(WorldError::UploadOutOfRange.into());
    }
    transfer(payer, &*acc, rent_exempt(new_len).saturating_sub(acc.lamports()))?;
    // SAFETY: the runtime serializes MAX_GROWTH bytes of slack after every account's
    // data, and this account grows at most once per instruction, by at most MAX_GROWTH
    // bytes (checked above), so the new length stays inside that region. No borrow of
    // the data is alive. The new bytes are zeroed before anyone reads them.
    unsafe {
        (*acc.account_mut_ptr()).data_len = new_len as u64;
        core::ptr::write_bytes(acc.data_mut_ptr().add(old), 0, new_len - old);
    }
    Ok(())
}

/// Fails unless `acc` is this program's account with discriminator `disc`, the current
/// version, and at least `min_len` bytes.
pub fn check_owned(acc: &AccountView, program_id: &Address, disc: u8, min_len: usize) -> Result<(), WorldError> {
    if !acc.owned_by(program_id) || acc.data_len() < min_len {
        return Err(WorldError::InvalidAccount);
    }
    // SAFETY: read-only peek at two header bytes; no mutable borrow is alive here.
    let d = unsafe { acc.borrow_unchecked() };
    if d[0] != disc || d[1] != crate::state::VERSION {
        return Err(WorldError::InvalidAccount);
    }
    Ok(())
}

pub fn require_signer(acc: &AccountView) -> Result<(), WorldError> {
    if acc.is_signer() { Ok(()) } else { Err(WorldError::MissingSigner) }
}

pub fn require_writable(acc: &AccountView) -> Result<(), WorldError> {
    if acc.is_writable() { Ok(()) } else { Err(WorldError::InvalidAccount) }
}

pub fn require_system_program(acc: &AccountView) -> Result<(), WorldError> {
    if acc.address() == &SYSTEM_PROGRAM { Ok(()) } else { Err(WorldError::InvalidAccount) }
}
