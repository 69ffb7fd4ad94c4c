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

from worldmodel import shipped as M  # noqa: E402
from game import scripts  # noqa: E402
from game.session import LocalSession  # noqa: E402
from onchain.sdk.wire import NEUTRAL, ControllerInput  # noqa: E402
from onchain.backends.embedded import EmbeddedBackend, default_start_state  # noqa: E402
from worldmodel import intref  # noqa: E402
from worldmodel.sim import FrameRef


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
    ref = FrameRef(model.cartridge, state)  # the model, then the rules (Final Destination, the default)
    script = scripts.get("random")
    for frame in range(6):
        c1, c2 = script(frame)
        result = session.tick({0: c1, 1: c2})
        assert result.advanced and result.error is None and result.cu > 0
        ctrl = np.array([c1.as_row(), c2.as_row()], dtype=np.int64)
        state, _, hidden = ref.step(state, ctrl, hidden)
        got = np.asarray(session.view().fighters, dtype=np.int16)
        assert np.array_equal(got, state), f"frame {frame + 1}: program {got} != reference {state}"
    assert session.view().frame == 6
    backend.close()


def test_bad_model_choice_is_a_clear_error():
    with pytest.raises(M.ModelError, match="no manifest.bin"):
        M.resolve("no-such-model")


class Serialized:
    """The embedded backend behind a lock, standing in for a remote endpoint: online sessions
    send inputs from their own thread, and one LiteSVM must not be entered twice at once."""

    def __init__(self, backend):
        import threading
        self._backend, self._lock = backend, threading.Lock()
        self.name = backend.name

    def __getattr__(self, name):
        attr = getattr(self._backend, name)
        if not callable(attr):
            return attr

        def locked(*a, **kw):
            with self._lock:
                return attr(*a, **kw)
        return locked


def test_online_players_and_spectator_over_the_backend_interface(so_path):
    from game.session import OnlineSession, SpectateSession

    backend = EmbeddedBackend(so_path)
    model = M.resolve("random")
    model_id = backend.upload_model(model.cartridge)
    shared = Serialized(backend)
    k1, k2 = Keypair(), Keypair()
    with pytest.raises(Exception, match="does not exist"):
        OnlineSession(shared, 11, 1, k2, None).start()  # player 2 cannot create
    p1 = OnlineSession(shared, 11, 0, k1, model_id)
    p1.start()
    p2 = OnlineSession(shared, 11, 1, k2, None)
    p2.start()
    watcher = SpectateSession(shared, 11)
    watcher.start()
    state = np.asarray(watcher.view().fighters, dtype=np.int16)
    hidden = intref.new_hidden(model.cartridge)
    ref = FrameRef(model.cartridge, state)
    script = scripts.get("demo")
    for frame in range(4):
        c1, c2 = script(frame * 7)
        p1.tick({0: c1, 1: NEUTRAL})  # each desktop sends only its own player
        p2.tick({0: NEUTRAL, 1: c2})
        assert p1.flush() and p2.flush() and p1.last_error is None and p2.last_error is None
        assert shared.run_inference(11, frame).ok  # the crank
        state, _, hidden = ref.step(state, np.array([c1.as_row(), c2.as_row()]), hidden)
        for s in (p1, p2, watcher):
            view = s.view()  # pushed by subscription, never fetched by the render path
            assert view.frame == frame + 1 and np.array_equal(np.asarray(view.fighters, np.int16), state)
    for s in (p1, p2, watcher):
        s.close()
    backend.close()


def test_interactive_loop_pauses_and_keeps_a_fixed_timestep(so_path, tmp_path):
    import threading
    import time

    from game import settings as S
    from game.app import Game
    from game.input import Inputs
    from game.render import Renderer
    from game.stage import load

    pygame.display.init()
    try:
        settings = S.Settings({"window.width": 640, "window.height": 360}, path=tmp_path / "s.yaml")
        backend = EmbeddedBackend(so_path)
        session = LocalSession(backend, M.resolve("random").cartridge, 3, (Keypair(), Keypair()))
        session.start()
        game = Game(settings, session, Renderer(load("battlefield")), model_name="random", backend_name="embedded",
                    inputs=Inputs(settings, gamepads=False))

        def run_for(seconds: float) -> float:
            game.running = True
            timer = threading.Timer(seconds, lambda: pygame.event.post(pygame.event.Event(pygame.QUIT)))
            t0 = time.perf_counter()
            timer.start()
            game.run()
            timer.join()
            return time.perf_counter() - t0

        pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_ESCAPE))  # pause menu
        run_for(0.3)
        assert game.menu is not None and game.ticks == 0, "local play is paused while the menu is open"
        pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_ESCAPE))  # back to the game
        pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=S.key_code("d")))  # P1 holds right
        elapsed = run_for(0.4)
        assert game.menu is None and game.ticks >= 1
        assert game.ticks <= elapsed * 60 + 1, "never more than one tick per 1/60 s"
        assert session.view().frame == game.ticks, "every tick advanced the session one frame"
        assert len(game.present_times) > 1 and game.latency_ms is not None and game.latency_ms > 0
        backend.close()
    finally:
        pygame.quit()


def test_replay_session_feeds_recorded_inputs_from_the_recorded_start(so_path):
    """Replay mode's session with a replay-shaped record (worldmodel.dataset.Game fields):
    the program starts from state[0], steps on ctrl[t], and the ghosts are state[t]."""
    import types

    from game.replay import ReplaySession, controller

    rng = np.random.default_rng(5)
    start = default_start_state()
    start[:, 0] += np.array([160, -320], dtype=np.int16)  # not the program's default start
    states = np.stack([start + i for i in range(6)]).astype(np.int16)
    ctrl = np.zeros((6, 2, 8), np.int16)
    ctrl[:, :, :4] = rng.integers(-127, 128, size=(6, 2, 4))
    ctrl[:, :, 6] = rng.integers(0, 1 << 12, size=(6, 2))
    replay = types.SimpleNamespace(state=states, ctrl=ctrl)
    model = M.resolve("random")
    backend = EmbeddedBackend(so_path)
    session = ReplaySession(backend, model.cartridge, 9, (Keypair(), Keypair()), replay)
    session.start()
    assert np.array_equal(np.asarray(session.view().fighters, np.int16), start)
    state, hidden = start.copy(), intref.new_hidden(model.cartridge)
    ref = FrameRef(model.cartridge, start)
    for t in range(1, 6):
        assert session.tick({}).advanced
        rows = np.array([controller(ctrl[t][p]).as_row() for p in (0, 1)])
        state, _, hidden = ref.step(state, rows, hidden)
        assert np.array_equal(np.asarray(session.view().fighters, np.int16), state)
        assert session.ghosts() == [tuple(int(v) for v in states[t][p]) for p in (0, 1)]
    assert not session.tick({}).advanced, "the replay has ended"
    assert len(session.errors) == 5 and all(e >= 0 for e in session.errors)
    assert controller([-128, 200, 0, 0, 300, -5, 0xFFFF, 0]) == \
        ControllerInput(-127, 127, 0, 0, 255, 0, 0x0FFF), "out-of-range recorded values are clamped"
    backend.close()
