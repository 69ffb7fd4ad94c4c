"""Menus drawn over the game: the pause menu and the controls screen (view and remap keys)."""
from __future__ import annotations

import pygame

from . import settings as S
from .render import LOGICAL, PLAYER_COLORS, Renderer


class Menu:
    """A vertical list of (label, choice); Up/Down move, Enter picks, Esc backs out."""

    def __init__(self, title: str, items: list[tuple[str, str]]):
        self.title, self.items, self.index = title, items, 0

    @classmethod
    def pause(cls, game) -> "Menu":
        hud = "on" if game.hud_on else "off"
        full = "on" if game.window.get_flags() & pygame.FULLSCREEN else "off"
        title = "Paused" if len(game.session.local_players) == 2 else "Menu (the game goes on)"
        return cls(title, [("Resume", "resume"), ("Controls", "controls"), (f"HUD: {hud}  (F1)", "hud"),
                           (f"Fullscreen: {full}  (F11)", "fullscreen"), ("Quit", "quit")])

    def key(self, key: int) -> str | None:
        if key in (pygame.K_UP, pygame.K_w):
            self.index = (self.index - 1) % len(self.items)
        elif key in (pygame.K_DOWN, pygame.K_s):
            self.index = (self.index + 1) % len(self.items)
        elif key in (pygame.K_RETURN, pygame.K_KP_ENTER, pygame.K_SPACE):
            return self.items[self.index][1]
        elif key in (pygame.K_ESCAPE, pygame.K_PAUSE):
            return "back"
        return None

    def draw(self, r: Renderer) -> None:
        r.draw_panel(self.title, [label for label, _ in self.items], highlight=self.index)


class ControlsScreen:
    """Both players' keys side by side. Arrows pick a control, Enter then a key rebinds it,
    Delete unbinds it; every change is saved to settings.yaml at once."""

    def __init__(self, settings: S.Settings, renderer: Renderer):
        self.settings, self.r = settings, renderer
        self.row, self.col = 0, 0
        self.waiting = False
        self.note = ""

    def _key(self) -> str:
        return f"keyboard.p{self.col + 1}.{S.KEY_CONTROLS[self.row]}"

    def handle(self, event: pygame.event.Event) -> bool:
        """False when the screen closes."""
        if self.waiting:
            self.waiting = False
            if event.key == pygame.K_ESCAPE:
                self.note = "unchanged"
                return True
            self._assign(pygame.key.name(event.key))
            return True
        k = event.key
        if k == pygame.K_ESCAPE:
            return False
        if k == pygame.K_UP:
            self.row = (self.row - 1) % len(S.KEY_CONTROLS)
        elif k == pygame.K_DOWN:
            self.row = (self.row + 1) % len(S.KEY_CONTROLS)
        elif k in (pygame.K_LEFT, pygame.K_RIGHT, pygame.K_TAB):
            self.col = 1 - self.col
        elif k in (pygame.K_RETURN, pygame.K_KP_ENTER):
            self.waiting = True
            self.note = f"press a key for P{self.col + 1} {S.KEY_CONTROLS[self.row]} (Esc cancels)"
        elif k in (pygame.K_DELETE, pygame.K_BACKSPACE):
            self._assign("")
        return True

    def _assign(self, name: str) -> None:
        key = self._key()
        try:
            self.settings.set(key, name, where="controls screen")
            path = self.settings.save()
            self.note = f"{key} = {name or '(none)'}  saved to {path.name}"
        except (S.SettingsError, OSError) as e:
            self.note = str(e)

    def draw(self) -> None:
        r = self.r
        shade = pygame.Surface(LOGICAL, pygame.SRCALPHA)
        shade.fill((0, 0, 0, 200))
        r.surface.blit(shade, (0, 0))
        title = r.font.render("Controls  (Enter: rebind, Del: unbind, Esc: back)", True, (255, 255, 255))
        r.surface.blit(title, title.get_rect(midtop=(LOGICAL[0] // 2, 4)))
        y0, line = 26, 14
        for col in (0, 1):
            x = 40 + col * 300
            head = r.font_small.render(f"Player {col + 1}", True, PLAYER_COLORS[col])
            r.surface.blit(head, (x, y0))
            for i, control in enumerate(S.KEY_CONTROLS):
                name = self.settings[f"keyboard.p{col + 1}.{control}"] or "-"
                selected = (i, col) == (self.row, self.col)
                color = (255, 230, 90) if selected else (210, 210, 220)
                y = y0 + line * (i + 1) + 2
                r.surface.blit(r.font_small.render(control, True, color), (x, y))
                r.surface.blit(r.font_small.render(name, True, color), (x + 80, y))
        gp = "gamepads: SDL game controllers, hot-plug; a pad plugged in takes over the next free player"
        foot = r.font_small.render(self.note or gp, True, (180, 200, 255))
        r.surface.blit(foot, foot.get_rect(midbottom=(LOGICAL[0] // 2, LOGICAL[1] - 4)))
