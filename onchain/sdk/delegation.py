"""Instructions and addresses for running a session in a MagicBlock Ephemeral Rollup
(onchain/program/src/er.rs and instructions/{delegate_session,init_hidden,commit_session,end_session}.rs).

Life of a delegated session:
  base: create_session(validator = ER identity), join_session -> delegate_session
        (accounts now the DLP's, writable only by the validator the creator named)
  ER:   init_hidden (HiddenState arrived zero-filled) -> submit_input / run_inference ...
        commit_session now and then (SessionState + InputBuffer land on the base)
        end_session: status ended, HiddenState cut to its header, commit + undelegate all three
  base: the DLP calls the program back (undelegate_callback) to recreate the accounts with the
        committed bytes; close_session returns the rent to the creator.

Scheduled crank (instructions/schedule_crank.rs, cancel_crank.rs): in the ER a player may call
schedule_crank, and the ER's own task scheduler then runs run_inference(NEXT_FRAME) every
interval_ms ms (a task owned by the SessionState PDA, id crank_task_id); cancel_crank or
end_session stops it.
"""
from __future__ import annotations

import struct

from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey
from solders.system_program import ID as SYSTEM_PROGRAM

from onchain.sdk import pda

DELEGATION_PROGRAM = Pubkey.from_string("DELeGGvXpWV2fqJUhqcF5ZSYMS4JTLjteaAMARRSaeSh")
MAGIC_PROGRAM = Pubkey.from_string("Magic11111111111111111111111111111111111111")
MAGIC_CONTEXT = Pubkey.from_string("MagicContext1111111111111111111111111111111")

DELEGATE_SESSION, COMMIT_SESSION, INIT_HIDDEN, END_SESSION = 8, 9, 10, 11
SCHEDULE_CRANK, CANCEL_CRANK = 12, 13
# run_inference's expected_frame for "the frame in flight": what a scheduled task repeats.
NEXT_FRAME = 2**64 - 1
# The delegation program calls the owner program back with this discriminator at undelegation.
UNDELEGATE_CALLBACK = (196, 28, 41, 206, 48, 37, 51, 167)


def buffer(program_id: Pubkey, account: Pubkey) -> Pubkey:
    return Pubkey.find_program_address([b"buffer", bytes(account)], program_id)[0]


def delegation_record(account: Pubkey) -> Pubkey:
    return Pubkey.find_program_address([b"delegation", bytes(account)], DELEGATION_PROGRAM)[0]


def delegation_metadata(account: Pubkey) -> Pubkey:
    return Pubkey.find_program_address([b"delegation-metadata", bytes(account)], DELEGATION_PROGRAM)[0]


def delegate_session(program_id: Pubkey, player: Pubkey, session_id: int) -> Instruction:
    """Delegate to the validator the creator fixed in create_session (no choice here)."""
    accs = pda.session_accounts(program_id, session_id)  # session, hidden, input
    metas = [AccountMeta(player, True, True)] + [AccountMeta(a, False, True) for a in accs]
    metas += [AccountMeta(buffer(program_id, a), False, True) for a in accs]
    metas += [AccountMeta(delegation_record(a), False, True) for a in accs]
    metas += [AccountMeta(delegation_metadata(a), False, True) for a in accs]
    metas += [AccountMeta(DELEGATION_PROGRAM, False, False), AccountMeta(SYSTEM_PROGRAM, False, False),
              AccountMeta(program_id, False, False)]
    return Instruction(program_id, bytes([DELEGATE_SESSION]), metas)


def init_hidden(program_id: Pubkey, session_id: int) -> Instruction:
    s, h, _ = pda.session_accounts(program_id, session_id)
    return Instruction(program_id, bytes([INIT_HIDDEN]), [AccountMeta(s, False, False), AccountMeta(h, False, True)])


def commit_session(program_id: Pubkey, payer: Pubkey, session_id: int) -> Instruction:
    s, _, i = pda.session_accounts(program_id, session_id)
    return Instruction(program_id, bytes([COMMIT_SESSION]), [
        AccountMeta(payer, True, True), AccountMeta(s, False, True), AccountMeta(i, False, True),
        AccountMeta(MAGIC_CONTEXT, False, True), AccountMeta(MAGIC_PROGRAM, False, False)])


def end_session(program_id: Pubkey, signer: Pubkey, payer: Pubkey, session_id: int) -> Instruction:
    s, h, i = pda.session_accounts(program_id, session_id)
    return Instruction(program_id, bytes([END_SESSION]), [
        AccountMeta(signer, True, False), AccountMeta(payer, True, True), AccountMeta(s, False, True), AccountMeta(h, False, True),
        AccountMeta(i, False, True), AccountMeta(MAGIC_CONTEXT, False, True), AccountMeta(MAGIC_PROGRAM, False, False)])


def crank_task_id(program_id: Pubkey, session_id: int) -> int:
    """The ER scheduler's id of the session's crank task: SessionState address bytes 0..8 as i64 LE."""
    return struct.unpack("<q", bytes(pda.session(program_id, session_id))[:8])[0]


def schedule_crank(program_id: Pubkey, player: Pubkey, session_id: int, model_id: int, shard_count: int,
                   validator: Pubkey, interval_ms: int, iterations: int, step_count: int = 0xFFFF) -> Instruction:
    """ER: have the validator's scheduler run run_inference(NEXT_FRAME, step_count) every interval_ms,
    `iterations` times (replaces the session's earlier crank task). `validator` is the session's
    (SessionView.validator): the task's run_inference names it as the signing cranker."""
    s, h, i = pda.session_accounts(program_id, session_id)
    metas = [AccountMeta(player, True, False), AccountMeta(s, False, True), AccountMeta(h, False, True),
             AccountMeta(i, False, False), AccountMeta(pda.manifest(program_id, model_id), False, False),
             AccountMeta(MAGIC_PROGRAM, False, False), AccountMeta(validator, False, False)]
    metas += [AccountMeta(pda.weights(program_id, model_id, k), False, False) for k in range(shard_count)]
    data = struct.pack("<BIQH", SCHEDULE_CRANK, interval_ms, iterations, step_count)
    return Instruction(program_id, data, metas)


def cancel_crank(program_id: Pubkey, signer: Pubkey, session_id: int) -> Instruction:
    return Instruction(program_id, bytes([CANCEL_CRANK]), [
        AccountMeta(signer, True, False), AccountMeta(pda.session(program_id, session_id), False, True),
        AccountMeta(MAGIC_PROGRAM, False, False)])
