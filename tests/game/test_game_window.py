"""The game in a real X window (issue 15): Xvfb, real key events, a screenshot of the window.

Every other client test runs SDL's dummy video driver. Here the test starts its own X server
(Xvfb, Debian package `xvfb`, installed by `make setup`), runs `python -m game` in it as a player
would (local mode, embedded backend, a 960x540 window), and types on it with xdotool (Debian
`xdotool`), whose key presses go through the X server's XTEST extension: the same path as a
keyboard. The game reports what it has on screen and on chain through `--status-json`, and the
test photographs the window from the X server (XGetImage through libX11), not from inside pygame.

Checks: the window exists with the requested size; holding D (player 1's stick right) reaches the
session's InputBuffer account on chain and moves player 1's fighter right; releasing it puts the
stick back to neutral; Esc opens the pause menu; the window's picture is not blank; Down x4 and
Enter in the menu (Quit) close the game with exit status 0.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO_ROOT, wait_until

XVFB, XDOTOOL = shutil.which("Xvfb"), shutil.which("xdotool")
pytestmark = pytest.mark.skipif(
    XVFB is None or XDOTOOL is None,
    reason="Xvfb or xdotool missing: `make setup` installs the Debian packages xvfb and xdotool "
           "(this machine could not: no apt or no root)")

W, H = 960, 540
TITLE = "Melee world model on Solana"
SHOTS = REPO_ROOT / "build" / "window_test"


class XImage(ctypes.Structure):
    _fields_ = [("width", ctypes.c_int), ("height", ctypes.c_int), ("xoffset", ctypes.c_int),
                ("format", ctypes.c_int), ("data", ctypes.c_void_p), ("byte_order", ctypes.c_int),
                ("bitmap_unit", ctypes.c_int), ("bitmap_bit_order", ctypes.c_int), ("bitmap_pad", ctypes.c_int),
                ("depth", ctypes.c_int), ("bytes_per_line", ctypes.c_int), ("bits_per_pixel", ctypes.c_int),
                ("red_mask", ctypes.c_ulong), ("green_mask", ctypes.c_ulong), ("blue_mask", ctypes.c_ulong)]


def grab_window(display: str, wid: int, w: int, h: int) -> np.ndarray:
    """The window's pixels as the X server has them, (h, w, 3) RGB, via XGetImage."""
    x11 = ctypes.CDLL(ctypes.util.find_library("X11"))
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XGetImage.restype = ctypes.POINTER(XImage)
    x11.XGetImage.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_int, ctypes.c_uint,
                              ctypes.c_uint, ctypes.c_ulong, ctypes.c_int]
    x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    dpy = x11.XOpenDisplay(display.encode())
    assert dpy, f"cannot open X display {display}"
    try:
        img = x11.XGetImage(dpy, wid, 0, 0, w, h, 0xFFFFFFFF, 2).contents  # AllPlanes, ZPixmap
        assert img.bits_per_pixel == 32, img.bits_per_pixel
        raw = np.frombuffer(ctypes.string_at(img.data, img.bytes_per_line * img.height), np.uint8)
        px = raw.reshape(img.height, img.bytes_per_line // 4, 4)[:, :img.width]
        return px[..., [2, 1, 0]].copy()  # BGRX (little-endian, depth 24) -> RGB
    finally:
        x11.XCloseDisplay(dpy)


def save_png(rgb: np.ndarray, path) -> None:
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    import pygame
    path.parent.mkdir(parents=True, exist_ok=True)
    surf = pygame.image.frombuffer(rgb.tobytes(), (rgb.shape[1], rgb.shape[0]), "RGB")
    pygame.image.save(surf, str(path))


@pytest.fixture
def xserver():
    """A private Xvfb; it picks a free display number and tells us through a pipe (-displayfd)."""
    r, w = os.pipe()
    proc = subprocess.Popen([XVFB, "-displayfd", str(w), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                            pass_fds=(w,), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    os.close(w)
    with os.fdopen(r) as f:
        number = f.readline().strip()
    if not number:
        proc.kill()
        pytest.fail(f"Xvfb did not start: {proc.stderr.read().decode()[-1000:]}")
    yield f":{number}"
    proc.terminate()
    proc.wait(10)


def xdo(display: str, *args: str, timeout: float = 30) -> str:
    r = subprocess.run([XDOTOOL, *args], capture_output=True, text=True, timeout=timeout,
                       env={**os.environ, "DISPLAY": display})
    assert r.returncode == 0, f"xdotool {' '.join(args)}: {r.stderr}"
    return r.stdout


def test_real_window_takes_real_key_presses(xserver, tmp_path):
    status = tmp_path / "status.json"
    settings = tmp_path / "settings.yaml"
    shutil.copyfile(REPO_ROOT / "settings.yaml", settings)  # the Controls screen may rewrite it
    env = {k: v for k, v in os.environ.items() if k != "SDL_VIDEODRIVER"}
    env.update(DISPLAY=xserver, SDL_AUDIODRIVER="dummy")
    game = subprocess.Popen([sys.executable, "-m", "game", "--settings", str(settings), "--windowed",
                             "--width", str(W), "--height", str(H), "--no-gamepad", "--keypair", "ephemeral",
                             "--stage", "final_destination", "--characters", "fox,marth",  # (no select screen)
                             "--status-json", str(status)],
                            cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def now() -> dict:
        try:
            return json.loads(status.read_text())
        except (OSError, ValueError):
            return {}

    def p1() -> tuple[float, int]:
        s = now()
        return s["fighters"][0]["x"], s["inputs_on_chain"][0][0]

    try:
        # By process id (SDL sets _NET_WM_PID); xdotool 3.2016's --name misses UTF-8 WM_NAMEs.
        found: list[str] = []

        def window() -> bool:
            assert game.poll() is None, game.communicate()[0][-3000:]
            found[:] = subprocess.run([XDOTOOL, "search", "--onlyvisible", "--pid", str(game.pid)], capture_output=True,
                                      text=True, env={**os.environ, "DISPLAY": xserver}).stdout.split()
            return bool(found)
        assert wait_until(window, 120, 0.25), "no window"
        wid = int(found[0])
        assert xdo(xserver, "getwindowname", str(wid)).strip() == TITLE
        assert wait_until(lambda: (now().get("frame") or 0) > 10, 120), game.poll() or now()

        # The window has the size asked for, as the X server and as the game see it.
        geo = dict(line.split("=") for line in xdo(xserver, "getwindowgeometry", "--shell", str(wid)).split())
        assert (int(geo["WIDTH"]), int(geo["HEIGHT"])) == (W, H), geo
        assert now()["window"] == [W, H] and now()["menu"] is None

        # Keyboard focus on the window, as a click would give it (no window manager here).
        xdo(xserver, "mousemove", "--window", str(wid), str(W // 2), str(H // 2))
        xdo(xserver, "windowfocus", "--sync", str(wid))
        assert wait_until(lambda: now()["inputs_on_chain"] is not None, 10)
        x0, stick0 = p1()
        assert stick0 == 0, now()

        # Hold D: player 1's stick right. The chain records it, and the fighter walks right.
        xdo(xserver, "keydown", "d")
        try:
            assert wait_until(lambda: p1()[1] > 0, 15), now()
            assert wait_until(lambda: p1()[0] > x0 + 5, 15), (x0, now())
        finally:
            xdo(xserver, "keyup", "d")
        assert wait_until(lambda: p1()[1] == 0, 15), now()

        rgb = grab_window(xserver, wid, W, H)
        save_png(rgb, SHOTS / "playing.png")
        assert rgb.shape == (H, W, 3)
        colours = len(np.unique(rgb.reshape(-1, 3), axis=0))
        assert colours > 50 and rgb.std() > 10, (colours, rgb.std())  # a picture, not a blank window

        # Esc opens the pause menu; it shows in the window.
        xdo(xserver, "key", "Escape")
        assert wait_until(lambda: now()["menu"] == "Paused", 15), now()
        menu = grab_window(xserver, wid, W, H)
        save_png(menu, SHOTS / "menu.png")
        assert np.abs(menu.astype(int) - rgb.astype(int)).mean() > 5  # the panel darkens the picture

        # Quit from the menu with the keyboard: Down to "Quit", Enter.
        for _ in range(4):
            xdo(xserver, "key", "Down")
        xdo(xserver, "key", "Return")
        out, _ = game.communicate(timeout=30)
        assert game.returncode == 0, out[-3000:]
    finally:
        if game.poll() is None:
            game.kill()
            game.wait()
