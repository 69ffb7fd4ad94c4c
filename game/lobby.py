"""The screens before an online game starts: setup progress and the lobby with the join code.

Headless runs print the same lines to stderr instead of drawing them (tests read them there).
"""
from __future__ import annotations

import sys
import time

import pygame

from . import render


class Lobby:
    POLL_S = 0.25

    def __init__(self, settings, match, headless: bool):
        self.settings, self.headless = settings, headless
        self.renderer = None
        self.window = None
        if not headless:
            from .stage import load as load_stage
            self.renderer = render.Renderer(load_stage(match.stage), match)
            size = (settings["window.width"], settings["window.height"])
            self.window = pygame.display.set_mode(size, pygame.RESIZABLE)

    def _draw(self, title: str, lines: list[str]) -> None:
        r = self.renderer
        r.surface.blit(r.background, (0, 0))
        r.draw_panel(title, lines)
        self.window = pygame.display.get_surface() or self.window
        render.present(self.window, r.surface, self.settings["window.scale"])
        pygame.display.flip()

    def _quit_asked(self) -> bool:
        for event in pygame.event.get():
            if event.type == pygame.QUIT or (event.type == pygame.KEYDOWN and event.key == pygame.K_ESCAPE):
                return True
        return False

    def say(self, text: str) -> None:
        """One step of the setup (uploading, delegating): stderr, and on screen."""
        print(f"[online] {text}", file=sys.stderr, flush=True)
        if not self.headless:
            self._draw("Setting up the game", [text])
            self._quit_asked()  # keep the window responsive; the step itself cannot be interrupted

    def wait(self, title: str, lines: list[str], done, deadline: float | None = None) -> bool:
        """Show `title` and `lines` until `done()` is true (True), or Esc / the window is closed /
        `deadline` (time.monotonic) passes (False)."""
        print(f"[online] {title}: {lines[-2] if len(lines) > 1 else ''}", file=sys.stderr, flush=True)
        next_poll = 0.0
        while True:
            now = time.monotonic()
            if now >= next_poll:
                if done():
                    return True
                next_poll = now + self.POLL_S
            if deadline is not None and now >= deadline:
                return False
            if not self.headless:
                if self._quit_asked():
                    return False
                self._draw(title, lines)
            time.sleep(1 / 30)
