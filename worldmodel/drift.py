"""Long-rollout stability check: does a model keep the fighters on the stage?

    python -m worldmodel.drift --model assets/models/micro-v2 [--frames 600] [--script idle]

Starts from worldmodel.sim.default_start_state (both fighters idle on the ground, as a session
starts), feeds a script's controller inputs (worldmodel.scripts: idle, demo, random, ko, the
game's headless scripts) and lets the model roll out
on its own predictions, as the game does. Runs the cartridge with the integer reference
(bit-exact with the program) and, when float.pt is present, its float twin. Prints each
fighter's lowest and last y (game units): a model that drifts sinks below the ground (y = 0
on every legal stage's main platform) or flies away. Step-by-step per frame, like the chain.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from . import cartridge as C
from . import scripts
from .intbatch import BatchRef
from .sim import default_start_state

UNITS = 16.0  # x, y are stored in 1/16 game unit


def script_controls(name: str, frames: int) -> np.ndarray:
    """(frames, 2, 8) controller rows (stick x/y, c-stick x/y, L, R, buttons, 0)."""
    script = scripts.get(name)
    return np.array([script(t) for t in range(frames)], dtype=np.int64).reshape(frames, 2, 8)


# The session context a model fed it gets here: create_session's default, FD, Fox vs Fox.
CONTEXT = (32, 2, 2)


def rollout_int8(cart: C.Cartridge, start: np.ndarray, ctrl: np.ndarray, context=CONTEXT) -> np.ndarray:
    """-> states (frames, 2, 16) after each frame."""
    br = BatchRef(cart)
    hid = br.new_hidden(1)
    cur = start[None]
    cx = np.array([context], dtype=np.int64)
    out = []
    for t in range(len(ctrl)):
        cur, _, hid = br.step(cur, ctrl[t][None], hid, cx, C.hit_draw_array([0], [t]))
        out.append(cur[0])
    return np.stack(out)


def rollout_float(model, start: np.ndarray, ctrl: np.ndarray, context=CONTEXT) -> np.ndarray:
    import torch

    from .model import build_features, decode

    with torch.no_grad():
        cur = torch.from_numpy(start.astype(np.int64))[None, None]
        c = torch.from_numpy(ctrl.astype(np.int64))
        hid = model.new_hidden(1)
        cx = torch.tensor([context])
        out = []
        for t in range(len(ctrl)):
            o, hid = model(build_features(model.fs, cur, c[t][None, None], cx), hid)
            cur = decode(model.fs, cur, o, torch.from_numpy(C.hit_draw_array([0], [t]))[:, None])
            out.append(cur[0, 0].numpy())
    return np.stack(out).astype(np.int16)


def summary(states: np.ndarray) -> dict:
    y = states[:, :, C.FIELDS.index("y")] / UNITS
    x = states[:, :, C.FIELDS.index("x")] / UNITS
    return {"y_min": [round(float(v), 2) for v in y.min(0)], "y_last": [round(float(v), 2) for v in y[-1]],
            "x_last": [round(float(v), 2) for v in x[-1]]}


def check(model_dir: str | Path, script: str = "idle", frames: int = 600, with_float: bool = True) -> dict:
    model_dir = Path(model_dir)
    start, ctrl = default_start_state(), script_controls(script, frames)
    rep = {"script": script, "frames": frames, "int8": summary(rollout_int8(C.load(model_dir), start, ctrl))}
    if with_float and (model_dir / "float.pt").exists():
        import torch

        from .train import load_checkpoint

        torch.set_num_threads(1)
        rep["float"] = summary(rollout_float(load_checkpoint(model_dir / "float.pt"), start, ctrl))
    return rep


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--frames", type=int, default=600)
    ap.add_argument("--script", default="idle")
    ap.add_argument("--no-float", action="store_true")
    args = ap.parse_args(argv)
    print(json.dumps(check(args.model, args.script, args.frames, not args.no_float)))


if __name__ == "__main__":
    main()
