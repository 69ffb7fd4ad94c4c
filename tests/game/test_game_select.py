"""The stage and character select screen, the sim backend and the rules in a headless game."""
import json
import os
import subprocess
import sys

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
import pygame  # noqa: E402

from game import settings as S  # noqa: E402
from game.screens import SelectScreen  # noqa: E402


def test_select_screen_picks_stage_and_characters(tmp_path):
    pygame.display.init()
    pygame.font.init()
    try:
        settings = S.Settings({}, path=tmp_path / "s.yaml")
        screen = SelectScreen(settings)
        for key in (pygame.K_RIGHT, pygame.K_DOWN, pygame.K_RIGHT, pygame.K_DOWN, pygame.K_LEFT):
            assert screen.handle(key) is None
        surface = pygame.Surface((640, 360))
        screen.draw(surface, pygame.font.Font(None, 24), pygame.font.Font(None, 36))
        pygame.image.save(surface, str(tmp_path / "select.png"))
        assert screen.handle(pygame.K_RETURN) == "start"
        assert settings["stage"] == "battlefield" and settings["characters"] == "game_and_watch,donkey_kong"
        assert "characters: game_and_watch,donkey_kong" in (tmp_path / "s.yaml").read_text()
        assert SelectScreen(settings).handle(pygame.K_ESCAPE) == "quit"
    finally:
        pygame.quit()


def test_headless_ko_game_reports_kos_stocks_and_winner(tmp_path):
    shot = tmp_path / "ko.png"
    r = subprocess.run([sys.executable, "-m", "game", "--headless", "--backend", "sim", "--stage", "battlefield",
                        "--characters", "fox,marth", "--script", "ko", "--frames", "900", "--screenshot", str(shot),
                        "--settings", str(tmp_path / "none.yaml")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["stage"] == "battlefield" and out["characters"] == ["fox", "marth"] and out["rules"] == "on"
    assert out["kos"][0] >= 1 and out["stocks"][0] == 4 - out["kos"][0] and out["winner"] is None
    assert out["rule_interventions_per_10k_frames"] >= 0 and shot.exists()


def test_unknown_stage_or_character_on_the_command_line(tmp_path):
    for args in (["--stage", "corneria"], ["--characters", "fox"], ["--characters", "fox,waluigi"]):
        r = subprocess.run([sys.executable, "-m", "game", "--headless", *args], capture_output=True, text=True)
        assert r.returncode == 2 and "Traceback" not in r.stderr
