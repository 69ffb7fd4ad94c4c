//! Program errors, returned as `ProgramError::Custom(code)`. Codes are part of the
//! protocol (onchain/errors.py mirrors them): never renumber, only append.
use pinocchio::error::ProgramError;

#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorldError {
    /// Instruction data is empty, too short, too long or has an unknown discriminator.
    InvalidInstruction = 1,
    /// An account has the wrong owner, discriminator, size or writability.
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
    /// A required signature is missing.
    MissingSigner = 9,
    /// The signer is not the account's authority / not a player of the session / not
    /// the player of the slot it writes.
    Unauthorized = 10,
    /// An account to be created is not at the program address derived from its seeds.
    InvalidPda = 11,
    /// The account to be created already exists.
    AlreadyInitialized = 12,
    /// The model is finalized: its manifest and weights can no longer change.
    AlreadyFinalized = 13,
    /// The model is not finalized yet (sessions and inference need a finalized model).
    NotFinalized = 14,
    /// sha256 of the uploaded weights differs from the manifest's.
    HashMismatch = 15,
    /// A weights shard is missing bytes (not fully uploaded).
    WeightsIncomplete = 16,
    /// An upload chunk lies outside its shard, or grows the account by more than
    /// 10,240 bytes in one instruction.
    UploadOutOfRange = 17,
    /// The blob is larger than one finalize transaction can hash (FINALIZE_MAX_BYTES).
    WeightsTooLargeToHash = 18,
    /// A ControllerInput value is out of range (stick -128, button bits 12..15).
    InvalidInput = 19,
    /// The session is not active (waiting for player 2, or not fully created).
    SessionNotActive = 20,
    /// join_session on a session that is not waiting for a player, or by player 1.
    SessionNotJoinable = 21,
    /// submit_input for a frame already computed, too far ahead, or older than the
    /// player's last input.
    StaleInput = 22,
    /// close_session by someone who is not a player before the inactivity timeout.
    CloseTooEarly = 23,
    /// HiddenState is not grown to the model's size yet (repeat create_session).
    HiddenNotReady = 24,
    /// upload_weights while a multi-transaction finalize has hashed part of the blob
    /// (reset it with finalize_weights(max_bytes = 0) first).
    HashingInProgress = 25,
    /// delegate_session: only a fresh session (frame 0, HiddenState full, no frame in flight).
    SessionNotDelegatable = 26,
    /// run_inference's next-frame form (NEXT_FRAME) while the session has no scheduled crank.
    CrankNotScheduled = 27,
    /// close_model while sessions of the model are still open (close them first).
    ModelInUse = 28,
    /// run_inference on a game the rules have ended (last stock lost or the 8:00 timer).
    GameOver = 29,
    /// create_session with a stage or character the rules table or the model's manifest does not
    /// support.
    UnsupportedContext = 30,
}

impl From<WorldError> for ProgramError {
    fn from(e: WorldError) -> Self {
        ProgramError::Custom(e as u32)
    }
}
