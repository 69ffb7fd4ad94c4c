"""settings.yaml: schema, validation errors, --help coverage, remapping that persists."""
import os
import subprocess
import sys

os.environ["SDL_VIDEODRIVER"] = "dummy"

import pygame  # noqa: E402
import pytest  # noqa: E402

from game import settings as S  # noqa: E402
from game.cli import apply_args, parser  # noqa: E402


def test_shipped_file_is_the_schema_defaults(repo_root):
    shipped = S.load(repo_root / "settings.yaml")
    assert shipped.values == S.Settings().values
    assert (repo_root / "settings.yaml").read_text() == S.dump(S.Settings().values), \
        "settings.yaml must be exactly what the schema writes (regenerate with game.settings.dump)"


@pytest.mark.parametrize("text, needle", [
    ("window:\n  width: wide\n", "window.width"),
    ("window:\n  width: 10\n", ">= 320"),
    ("colour: red\n", "unknown setting 'colour'"),
    ("keyboard:\n  p1:\n    A: notakey\n", "unknown key name"),
    ("gamepad:\n  buttons:\n    A: trigger\n", "expected one of"),
    ("backend:\n  kind: cloud\n", "embedded, remote"),
    ("hud: [1, 2]\n", "must be a mapping"),
    ("window: {width: 800\n", "not valid YAML"),
])
def test_bad_settings_are_clear_errors(tmp_path, text, needle):
    path = tmp_path / "settings.yaml"
    path.write_text(text)
    with pytest.raises(S.SettingsError) as e:
        S.load(path)
    assert needle in str(e.value) and str(path) in str(e.value)


def test_partial_file_keeps_defaults(tmp_path):
    path = tmp_path / "settings.yaml"
    path.write_text("window:\n  fullscreen: true\nkeyboard:\n  p2:\n    A: '[0]'\n")
    s = S.load(path)
    assert s["window.fullscreen"] is True and s["keyboard.p2.A"] == "[0]"
    assert s["window.width"] == 1280 and s["keyboard.p1.up"] == "w"


def test_help_documents_every_option():
    text = parser().format_help()
    for opt in S.SCHEMA:
        assert opt.key in text, opt.key
    for flag in ("--mode", "--headless", "--frames", "--script", "--screenshot", "--url", "--session", "--player"):
        assert flag in text


def test_command_line_overrides():
    s = S.Settings()
    args = parser().parse_args(["--set", "hud.fps=false", "--set", "keyboard.p1.A=1", "--stage", "battlefield",
                                "--width", "800", "--no-gamepad"])
    apply_args(s, args)
    assert s["hud.fps"] is False and s["keyboard.p1.A"] == "1" and s["stage"] == "battlefield"
    assert s["window.width"] == 800 and s["gamepad.enabled"] is False
    with pytest.raises(S.SettingsError):
        apply_args(S.Settings(), parser().parse_args(["--set", "window.scale=99"]))


def test_remap_on_controls_screen_persists(tmp_path):
    from game.render import Renderer
    from game.screens import ControlsScreen
    from game.stage import load

    pygame.display.init()
    try:
        path = tmp_path / "settings.yaml"
        settings = S.Settings(path=path)
        screen = ControlsScreen(settings, Renderer(load("final_destination")))
        for key in (pygame.K_DOWN,) * S.KEY_CONTROLS.index("A") + (pygame.K_RIGHT, pygame.K_RETURN, pygame.K_m):
            assert screen.handle(pygame.event.Event(pygame.KEYDOWN, key=key))
        screen.draw()
        assert S.load(path)["keyboard.p2.A"] == "m"
        assert screen.handle(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_DELETE))
        assert S.load(path)["keyboard.p2.A"] == ""
        assert not screen.handle(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_ESCAPE))
        assert "keyboard" in path.read_text() and path.read_text().startswith("# Settings")
    finally:
        pygame.quit()


def test_bad_settings_file_exits_with_message(tmp_path, repo_root):
    path = tmp_path / "s.yaml"
    path.write_text("stage: corneria\n")
    r = subprocess.run([sys.executable, "-m", "game", "--settings", str(path), "--headless", "--frames", "1"],
                       cwd=repo_root, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "stage" in r.stderr and "Traceback" not in r.stderr


def test_profile_sets_the_backend_and_cli_overrides_it():
    s = S.Settings()
    apply_args(s, parser().parse_args(["--profile", "local-er", "--mode", "online"]))
    assert (s["backend.kind"], s["backend.url"], s["backend.ws_url"], s["backend.ephemeral"]) == \
        ("remote", "http://127.0.0.1:7799", "ws://127.0.0.1:7800", True)
    s = S.Settings()
    apply_args(s, parser().parse_args(["--profile", "local-er", "--url", "http://10.1.1.1:7799"]))
    assert s["backend.url"] == "http://10.1.1.1:7799" and s["backend.ephemeral"] is True
    s = S.Settings()
    apply_args(s, parser().parse_args(["--set", "backend.profile=embedded"]))
    assert s["backend.kind"] == "embedded" and s["backend.ephemeral"] is False
    with pytest.raises(S.SettingsError, match="unknown profile"):
        apply_args(S.Settings(), parser().parse_args(["--profile", "mainnet"]))


def test_er_profile_gives_an_ephemeral_remote_backend():
    from game import backends
    from game.cli import remote
    s = S.Settings()
    apply_args(s, parser().parse_args(["--profile", "local-er"]))
    b = remote(s)
    try:
        assert b.ephemeral and b.url == "http://127.0.0.1:7799" and b.ws_url == "ws://127.0.0.1:7800"
    finally:
        b.close()
    plain = backends.remote_backend("http://127.0.0.1:8899")
    try:
        assert not plain.ephemeral
    finally:
        plain.close()
