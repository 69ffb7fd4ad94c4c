"""Typed account decoders: round trips, and None (never an exception) for data that is
not such an account, so a client never crashes on a malformed account."""
import random

import numpy as np
from solders.pubkey import Pubkey

from onchain.sdk import accounts as A
from onchain.sdk.wire import ControllerInput


def test_session_round_trip():
    fighters = np.arange(32, dtype=np.int16).reshape(2, 16) - 7
    p1, p2 = Pubkey.new_unique(), Pubkey.new_unique()
    data = A.session_account(9, 4, 123, fighters, (bytes(p1), bytes(p2)), status=1)
    v = A.decode_session(data)
    assert (v.session_id, v.model_id, v.frame, v.status) == (9, 4, 123, 1)
    assert v.players == (p1, p2) and np.array_equal(np.array(v.fighters), fighters)


def test_inputs_round_trip():
    ctrl = np.array([[1, -2, 3, -4, 5, 6, 0x801, 0], [-127, 127, 0, 0, 255, 0, 0xFFF, 0]])
    inp = A.decode_inputs(A.input_account(3, ctrl, (10, 11)))
    assert inp.session_id == 3 and inp.frames == (10, 11)
    assert inp.controllers[1] == ControllerInput(-127, 127, 0, 0, 255, 0, 0xFFF)


def test_malformed_data_decodes_to_none():
    rng = random.Random(0)
    decoders = (A.decode_manifest, A.decode_weights, A.decode_session, A.decode_hidden, A.decode_inputs)
    samples = [b"", b"\x03", bytes(183), b"\x03\x02" + bytes(200), b"\x01\x01" + bytes(62) + b"\xff" * 10]
    samples += [rng.randbytes(rng.randrange(0, 300)) for _ in range(300)]
    for data in samples:
        for dec in decoders:
            dec(data)  # must not raise
    assert all(dec(b"") is None for dec in decoders)
    assert A.decode_session(b"\x05\x01" + bytes(200)) is None  # an InputBuffer is not a session
