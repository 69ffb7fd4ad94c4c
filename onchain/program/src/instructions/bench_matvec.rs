//! `bench_matvec`: run one mat-vec kernel on a matrix and vector held in an account, for
//! benchmarks and kernel tests in the VM. Reads one account, writes only the output
//! account the caller passes; touches no model or session.
use pinocchio::{error::ProgramError, AccountView, ProgramResult};

use crate::error::WorldError;
use crate::kernels::matvec;

pub const DISCRIMINATOR: u8 = 32;

/// Accounts:
///   0. `[]`      operands, by kernel:
///                packed (0): W (rows * cols i8, row-major) | x (cols i8)
///                lanes  (1): words (matvec::lanes_bytes) | x
///                (for lanes, row_start must be a multiple of 12)
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
    if cols % 8 != 0 || cols == 0 || output.data_len() < 4 * rows || !output.is_writable() {
        return Err(WorldError::InvalidAccount.into());
    }
    // SAFETY: distinct accounts (the output is writable, the operands are only read);
    // the only borrows in this instruction.
    let ops = unsafe { operands.borrow_unchecked() };
    let out = unsafe { output.borrow_unchecked_mut() };
    let out = out[4 * row_start..].as_mut_ptr() as *mut i32;
    match kernel {
        matvec::KERNEL_PACKED => {
            if ops.len() < rows * cols + cols {
                return Err(WorldError::InvalidAccount.into());
            }
            let (w, x) = (ops[row_start * cols..].as_ptr(), ops[rows * cols..].as_ptr() as *const i8);
            // SAFETY: sizes checked above; account data and rows*cols (cols % 8 == 0) are 8-aligned.
            unsafe { matvec::matvec_packed(w, x, row_count, cols, out) }
        }
        matvec::KERNEL_LANES => {
            let x = matvec::lanes_bytes(rows, cols);
            if ops.len() < x + cols || row_start % matvec::BLOCK_ROWS != 0 {
                return Err(WorldError::InvalidAccount.into());
            }
            let s = crate::instructions::run_inference::scratch();
            let w = ops[row_start / matvec::BLOCK_ROWS * cols * 8 * matvec::WORDS_PER_COL..].as_ptr() as *const u64;
            // SAFETY: every region is inside `ops` (checked) and 8-aligned; xu holds MAX_E
            // >= cols u64 (cols <= u16::MAX is not enough, so check it).
            if cols > s.xu.len() {
                return Err(WorldError::InvalidAccount.into());
            }
            unsafe {
                matvec::widen_inputs(ops[x..].as_ptr() as *const i8, cols, s.xu.as_mut_ptr());
                let op = matvec::LanesOp { w, xu: s.xu.as_ptr(), rows: row_count, cols, out };
                matvec::matvec_lanes(&op)
            }
        }
        _ => return Err(WorldError::UnknownKernel.into()),
    }
    Ok(())
}
