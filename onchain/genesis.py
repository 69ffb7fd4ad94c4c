"""Accounts written as `solana account --output json` files for a base chain's genesis
(`onchain.localnet --account ID FILE`, `solana-test-validator --account`): a finalized model and an
active session placed at the program's PDAs, the way `onchain.direct` places them in LiteSVM.

This lets the remote backend, the crank and the benchmark run `run_inference` on a real validator
without the upload and session instructions."""
from __future__ import annotations

import base64
import json
import struct
from pathlib import Path

import numpy as np
from solders.pubkey import Pubkey

from worldmodel import cartridge as C

from . import accounts as A
from .remote import model_addresses, session_addresses
from .svm import PROGRAM_ID

RENT_PER_BYTE_YEAR = 3480
RENT_OVERHEAD = 128


def rent_exempt(n: int) -> int:
    return (n + RENT_OVERHEAD) * RENT_PER_BYTE_YEAR * 2


def account_json(key: Pubkey, data: bytes, owner: Pubkey) -> dict:
    return {"pubkey": str(key), "account": {"lamports": rent_exempt(len(data)),
                                            "data": [base64.b64encode(data).decode(), "base64"],
                                            "owner": str(owner), "executable": False,
                                            "rentEpoch": 18446744073709551615, "space": len(data)}}


def model_and_session(out_dir: Path, cart: C.Cartridge, fighters: np.ndarray, model_id: int = 1,
                      session_id: int = 1, program_id: Pubkey = PROGRAM_ID,
                      players: tuple[bytes, bytes] = (bytes(32), bytes(32))) -> list[tuple[str, str]]:
    """Write the manifest, weight shards, SessionState (active, frame 0), HiddenState and InputBuffer;
    returns [(pubkey, path)] for the base chain's genesis."""
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = cart.weights_bytes()
    manifest_key, shard_keys = model_addresses(program_id, model_id, len(weights))
    sess = session_addresses(program_id, session_id)
    p = cart.preset
    shape = (p.n_layers, p.d_inner, p.d_state)
    items = [(manifest_key, A.manifest_account(model_id, bytes(32), cart.manifest_bytes(weights)))]
    items += [(k, A.weights_account(model_id, shard, len(weights), i))
              for i, (k, shard) in enumerate(zip(shard_keys, C.shards(weights)))]
    items += [(sess["session"], A.session_account(session_id, model_id, 0, fighters, players)),
              (sess["hidden"], A.hidden_account(session_id, model_id, 0, p, np.zeros(shape, np.int32))),
              (sess["input"], A.input_account(session_id, np.zeros((2, 8), np.int64)))]
    out = []
    for key, data in items:
        path = out_dir / f"{key}.json"
        path.write_text(json.dumps(account_json(key, data, program_id)))
        out.append((str(key), str(path)))
    return out


def manifest_weights_len(manifest_account_data: bytes) -> int:
    return struct.unpack_from("<I", manifest_account_data, A.ACCOUNT_HEADER + 28)[0]
