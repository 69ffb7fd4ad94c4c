"""`demo-session`: the whole lifecycle on the embedded backend with scripted inputs:
upload + finalize a cartridge, create, join, N frames of inputs and inference (or until the
rules end the game), close; reports CU per frame, KOs, the winner, a hash of the final fighter
state, and whether the rent came back."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from solders.keypair import Keypair

from worldmodel import randmodel as R
from worldmodel import rules as RU

from onchain.sdk import errors
from onchain.sdk import pda
from onchain.sdk.wire import BUTTON_BIT, ControllerInput
from onchain.backends.embedded import EmbeddedBackend
from onchain.backends.svm import DEFAULT_SO

SESSION_ID = 1


def scripted_input(player: int, frame: int, rng: np.random.Generator) -> ControllerInput:
    """Player 1 walks back and forth and presses A every half second; player 2 is a
    seeded random masher (every value in the valid range)."""
    if player == 0:
        stick = 100 if frame % 120 < 60 else -100
        return ControllerInput(stick_x=stick, buttons=BUTTON_BIT["A"] if frame % 30 == 0 else 0)
    sx, sy, cx, cy = (int(v) for v in rng.integers(-127, 128, 4))
    l, r = (int(v) for v in rng.integers(0, 256, 2))
    return ControllerInput(sx, sy, cx, cy, l, r, int(rng.integers(0, 1 << 12)))


def run(frames: int, model_dir: str | Path | None = None, seed: int = 0, so_path=DEFAULT_SO) -> dict:
    be = EmbeddedBackend(so_path)
    cart = model_dir if model_dir is not None else R.random_cartridge("micro", seed)
    model_id = be.upload_model(cart)
    p1, p2 = Keypair.from_seed(bytes([1]) * 32), Keypair.from_seed(bytes([2]) * 32)
    be.fund(p1.pubkey())
    be.fund(p2.pubkey())
    balance_before = be.lamports(p1.pubkey())
    for out in (be.create_session(SESSION_ID, model_id, p1), be.join_session(SESSION_ID, p2)):
        if not out.ok:
            raise RuntimeError(out.error)
    rng = np.random.default_rng(seed)
    cu = []
    for frame in range(frames):
        for p, kp in enumerate((p1, p2)):
            out = be.submit_input(SESSION_ID, kp, frame, scripted_input(p, frame, rng))
            if not out.ok:
                raise RuntimeError(f"submit_input frame {frame}: {out.error}")
        out = be.run_inference(SESSION_ID, frame)
        if not out.ok and errors.custom_code(out.error) == errors.GameOver:
            break  # the rules ended the game (the last stock lost, or 8:00)
        if not out.ok:
            raise RuntimeError(f"run_inference frame {frame}: {out.error}")
        cu.append(out.cu)
    view = be.session(SESSION_ID)
    st = view.rules
    fighters = np.array(view.fighters, dtype="<i2")
    rent = sum(be.lamports(k) for k in pda.session_accounts(be.program_id, SESSION_ID))
    out = be.close_session(SESSION_ID, p1)
    gone = all(be.account_data(k) is None for k in pda.session_accounts(be.program_id, SESSION_ID))
    refunded = out.ok and gone and rent > 0 and be.lamports(p1.pubkey()) == balance_before
    return {
        "frames": view.frame,
        "game_over": bool(st[1]),
        "winner": (None if not st[1] or st[2] > 1 else int(st[2]) + 1),  # player 1 or 2; None: running or a tie
        "stocks": [RU.stocks(st, p) for p in (0, 1)],
        "cu_per_frame_p50": int(np.median(cu)) if cu else 0,
        "cu_per_frame_max": max(cu, default=0),
        "final_state_sha256": hashlib.sha256(fighters.tobytes()).hexdigest(),
        "rent_refunded": bool(refunded),
        "rent_lamports": rent,
        "model_id": model_id,
    }
