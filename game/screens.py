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


class SelectScreen:
    """Stage and character select before a local game. Up/Down pick a row (stage, P1, P2),
    Left/Right change it, Enter starts, Esc quits. The choice is saved to settings.yaml."""

    ROWS = ("stage", "p1", "p2")

    def __init__(self, settings: S.Settings):
        self.settings = settings
        self.stage = S.STAGES.index(settings["stage"])
        chars = settings["characters"].split(",")
        self.chars = [S.CHARACTERS.index(chars[0]), S.CHARACTERS.index(chars[1])]
        self.row = 0
        self._previews: dict[str, pygame.Surface] = {}

    def handle(self, key: int) -> str | None:
        """'start', 'quit', or None (still choosing)."""
        if key in (pygame.K_UP, pygame.K_w):
            self.row = (self.row - 1) % len(self.ROWS)
        elif key in (pygame.K_DOWN, pygame.K_s):
            self.row = (self.row + 1) % len(self.ROWS)
        elif key in (pygame.K_LEFT, pygame.K_RIGHT, pygame.K_a, pygame.K_d):
            step = -1 if key in (pygame.K_LEFT, pygame.K_a) else 1
            if self.row == 0:
                self.stage = (self.stage + step) % len(S.STAGES)
            else:
                p = self.row - 1
                self.chars[p] = (self.chars[p] + step) % len(S.CHARACTERS)
        elif key in (pygame.K_RETURN, pygame.K_KP_ENTER, pygame.K_SPACE):
            self.commit()
            return "start"
        elif key == pygame.K_ESCAPE:
            return "quit"
        return None

    def commit(self) -> None:
        self.settings.set("stage", S.STAGES[self.stage], where="select screen")
        self.settings.set("characters", ",".join(S.CHARACTERS[c] for c in self.chars), where="select screen")
        try:
            self.settings.save()
        except OSError:  # a read-only settings file: the choice still holds for this run
            pass

    def _preview(self, key: str) -> pygame.Surface:
        if key not in self._previews:
            from .stage import load
            self._previews[key] = pygame.transform.smoothscale(Renderer(load(key)).background, (384, 216))
        return self._previews[key]

    def draw(self, surface: pygame.Surface, font: pygame.font.Font, big: pygame.font.Font) -> None:
        from .match import STYLE
        surface.fill((12, 12, 24))
        key = S.STAGES[self.stage]
        preview = self._preview(key)
        surface.blit(preview, (LOGICAL[0] - 384 - 16, 40))
        pygame.draw.rect(surface, (90, 90, 120), pygame.Rect(LOGICAL[0] - 384 - 16, 40, 384, 216), 1)
        title = big.render("Choose stage and fighters", True, (255, 255, 255))
        surface.blit(title, (16, 6))
        from worldmodel.stages import STAGE_BY_KEY
        names = [STAGE_BY_KEY[key].name, *(S.CHARACTERS[c].replace("_", " ").title() for c in self.chars)]
        for i, (label, value) in enumerate(zip(("Stage", "P1", "P2"), names)):
            y = 70 + i * 56
            color = (255, 230, 90) if i == self.row else (220, 220, 230)
            surface.blit(font.render(label, True, PLAYER_COLORS[i - 1] if i else color), (16, y))
            surface.blit(font.render(f"<  {value}  >", True, color), (16, y + 20))
            if i:
                scale, body = STYLE[S.CHARACTERS[self.chars[i - 1]]]
                h = int(28 * scale)
                pygame.draw.rect(surface, body, pygame.Rect(212, y + 40 - h, 14, h))
                pygame.draw.circle(surface, PLAYER_COLORS[i - 1], (219, y + 34 - h), 7, 2)
        hint = font.render("Up/Down: row   Left/Right: change   Enter: fight   Esc: quit", True, (160, 160, 180))
        surface.blit(hint, (16, LOGICAL[1] - 30))


def select_match(settings: S.Settings) -> bool:
    """Run the select screen in its own window loop; False when the player quits."""
    from .render import present
    window = pygame.display.set_mode((settings["window.width"], settings["window.height"]), pygame.RESIZABLE)
    screen = SelectScreen(settings)
    surface = pygame.Surface(LOGICAL)
    font, big = pygame.font.Font(None, 24), pygame.font.Font(None, 36)
    clock = pygame.time.Clock()
    while True:
        for event in pygame.event.get():
            if event.type == pygame.QUIT:
                return False
            if event.type == pygame.KEYDOWN:
                choice = screen.handle(event.key)
                if choice is not None:
                    return choice == "start"
        screen.draw(surface, font, big)
        present(pygame.display.get_surface() or window, surface, settings["window.scale"])
        pygame.display.flip()
        clock.tick(30)
