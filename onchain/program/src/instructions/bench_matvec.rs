//! `bench_matvec`: run one mat-vec kernel on a matrix and vector held in an account, for
//! benchmarks and kernel tests in the VM. Reads one account, writes only the output
//! account the caller passes; touches no model or session.
use pinocchio::{error::ProgramError, AccountView, ProgramResult};

use crate::error::WorldError;
use crate::kernels::matvec;

pub const DISCRIMINATOR: u8 = 32;

/// Accounts:
///   0. `[]`      operands: W (rows * cols i8, row-major) then x (cols i8)
///   1. `[WRITE]` output: rows x i32
///
/// Data (after the discriminator), 9 bytes:
///   0 u8 kernel | 1 u16 rows | 3 u16 cols | 5 u16 row_start | 7 u16 row_count
/// (a row range lets a shape too big for one transaction be measured in parts).
#[inline(always)]
pub fn process(accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
    if data.len() != 9 {
        return Err(WorldError::InvalidInstruction.into());
    }
    let kernel = data[0];
    let rows = u16::from_le_bytes([data[1], data[2]]) as usize;
    let cols = u16::from_le_bytes([data[3], data[4]]) as usize;
    let row_start = u16::from_le_bytes([data[5], data[6]]) as usize;
    let row_count = u16::from_le_bytes([data[7], data[8]]) as usize;
    if row_start + row_count > rows {
        return Err(WorldError::InvalidInstruction.into());
    }
    let [operands, output, ..] = accounts else {
        return Err(ProgramError::NotEnoughAccountKeys);
    };
    if cols % 8 != 0 || operands.data_len() < rows * cols + cols || output.data_len() < 4 * rows || !output.is_writable() {
        return Err(WorldError::InvalidAccount.into());
    }
    // SAFETY: distinct accounts (a duplicate could not be both read-only and writable
    // with these sizes checked); only borrows in this instruction.
    let ops = unsafe { operands.borrow_unchecked() };
    let out = unsafe { output.borrow_unchecked_mut() };
    let (w, x) = (ops[row_start * cols..].as_ptr(), ops[rows * cols..].as_ptr() as *const i8);
    let out = out[4 * row_start..].as_mut_ptr() as *mut i32;
    if (x as usize) % 8 != 0 {
        return Err(WorldError::InvalidAccount.into());
    }
    match kernel {
        // SAFETY: sizes and alignment checked above; account data is 8-aligned.
        matvec::KERNEL_PACKED => unsafe { matvec::matvec_packed(w, x, row_count, cols, out) },
        _ => return Err(WorldError::UnknownKernel.into()),
    }
    Ok(())
}
