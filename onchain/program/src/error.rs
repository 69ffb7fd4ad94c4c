//! Program errors, returned as `ProgramError::Custom(code)`.
use pinocchio::error::ProgramError;

#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorldError {
    /// Instruction data is empty, too short or has an unknown discriminator.
    InvalidInstruction = 1,
    /// An account has the wrong owner, discriminator or size.
    InvalidAccount = 2,
    /// The manifest does not follow the cartridge format this program reads.
    InvalidManifest = 3,
    /// The weights blob is shorter than the manifest's layout requires.
    InvalidWeights = 4,
    /// Accounts belong to different models or sessions.
    AccountMismatch = 5,
    /// `expected_frame` is not the frame the session is computing.
    StaleFrame = 6,
    /// Model dimensions exceed what the on-chain scratch memory holds.
    ModelTooLarge = 7,
    /// Unknown kernel id in a benchmark instruction.
    UnknownKernel = 8,
}

impl From<WorldError> for ProgramError {
    fn from(e: WorldError) -> Self {
        ProgramError::Custom(e as u32)
    }
}
