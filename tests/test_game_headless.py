"""The game driving the real program: a headless run through `python -m game`, and the
client's input path checked frame by frame against the integer reference."""
import json
import os
import subprocess
import sys

os.environ["SDL_VIDEODRIVER"] = "dummy"

import numpy as np  # noqa: E402
import pygame  # noqa: E402
import pytest  # noqa: E402
from solders.keypair import Keypair  # noqa: E402

from game import model as M  # noqa: E402
from game import scripts  # noqa: E402
from game.session import LocalSession  # noqa: E402
from onchain.embedded import EmbeddedBackend, default_start_state  # noqa: E402
from worldmodel import intref  # noqa: E402


def test_headless_demo_run(repo_root, so_path, tmp_path):
    shot = tmp_path / "shot.png"
    r = subprocess.run([sys.executable, "-m", "game", "--headless", "--frames", "40", "--script", "demo",
                        "--screenshot", str(shot), "--windowed", "--width", "640", "--height", "360"],
                       cwd=repo_root, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["frames"] == 40 and summary["advanced_every_frame"] and summary["stalls"] == 0
    assert summary["final_state"]["frame"] == 40, "the state advanced every frame"
    assert summary["backend"] == "embedded" and summary["cu_per_frame_p50"] > 100_000
    assert summary["fps"] > 0 and summary["inference_ms_p50"] > 0
    assert set(summary["final_state"]["p1"]) >= {"x", "y", "percent", "stocks"}
    img = pygame.image.load(str(shot))
    assert img.get_size() == (640, 360)
    px = pygame.surfarray.array3d(img)
    assert len(np.unique(px.reshape(-1, 3), axis=0)) > 50, "a real picture, not a blank frame"


def test_client_inputs_reach_the_program_bit_exact(so_path):
    """What LocalSession submits (the SDK codec) is what the program steps on: the session's
    fighters equal the integer reference fed the same ControllerInputs, every frame."""
    model = M.resolve("random")
    backend = EmbeddedBackend(so_path)
    session = LocalSession(backend, model.cartridge, 7, (Keypair(), Keypair()))
    session.start()
    state = np.asarray(session.view().fighters, dtype=np.int16)
    assert np.array_equal(state, default_start_state())
    hidden = intref.new_hidden(model.cartridge)
    script = scripts.get("random")
    for frame in range(6):
        c1, c2 = script(frame)
        result = session.tick({0: c1, 1: c2})
        assert result.advanced and result.error is None and result.cu > 0
        ctrl = np.array([c1.as_row(), c2.as_row()], dtype=np.int64)
        state, _, hidden = intref.step(model.cartridge, state, ctrl, hidden)
        got = np.asarray(session.view().fighters, dtype=np.int16)
        assert np.array_equal(got, state), f"frame {frame + 1}: program {got} != reference {state}"
    assert session.view().frame == 6
    backend.close()


def test_bad_model_choice_is_a_clear_error():
    with pytest.raises(M.ModelError, match="no manifest.bin"):
        M.resolve("no-such-model")
