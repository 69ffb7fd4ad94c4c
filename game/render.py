"""Draw a frame: stage, fighters (pose from the action category), effects, percent/stocks, HUD.

Everything is drawn on a fixed 640x360 logical surface in stage units -> pixels through the
stage's 16:9 camera, then `present` scales it by a whole number into the window (letterboxed),
so pixels stay square and the stage keeps its aspect at any window size.
"""
from __future__ import annotations

import collections
import dataclasses
import math

import pygame

from .fighter import SHIELD_FULL, Fighter, pose
from .stage import Stage

LOGICAL = (640, 360)
PLAYER_COLORS = ((232, 64, 64), (72, 124, 240))
GHOST_COLORS = ((255, 170, 170), (170, 200, 255))
WHITE, BLACK, GREY = (255, 255, 255), (0, 0, 0), (120, 120, 130)
FIGHTER_SCALE = 1.0  # game units per pose unit (a pose is ~14 units tall, like Fox)
FLASH_FRAMES = 8
TRAIL_FRAMES = 40
TRAIL_LEN = 18
TELEPORT = 40.0  # a jump this far between frames (respawn) breaks the trail
BURST_FRAMES = 45  # the KO burst's lifetime
MINIMAP = pygame.Rect(LOGICAL[0] - 118, 20, 112, 62)  # the blast-zone map, top right

# Pose skeletons: joints in game units, x forward (mirrored by facing), y up from the feet.
# head, neck, hip, front hand, back hand, front foot, back foot.
POSES = {
    "stand": ((0, 12), (0, 10), (0, 5), (2.5, 6.5), (-2.5, 6.5), (2, 0), (-2, 0)),
    "walk": ((0.5, 12), (0.3, 10), (0, 5), (3, 7), (-2.5, 6), (3, 0), (-2.5, 0.5)),
    "run": ((2.5, 11), (1.8, 9.5), (0, 5), (4.5, 8), (-3.5, 7.5), (4.5, 1), (-4.5, 2)),
    "crouch": ((1, 7), (0.6, 5.5), (0, 3), (3, 3), (-1.5, 3), (2.5, 0), (-2.5, 0)),
    "land": ((0.5, 8.5), (0.4, 7), (0, 3.5), (3.5, 5), (-3.5, 5), (3, 0), (-3, 0)),
    "jump": ((0, 13), (0, 11), (0, 6), (2.5, 13), (-2.5, 12.5), (1.5, 3), (-1.5, 2.5)),
    "fall": ((0, 12.5), (0, 10.5), (0, 5.5), (4, 10), (-4, 10), (1.5, 0.5), (-1.5, 1)),
    "attack": ((1, 11.5), (0.8, 9.8), (0, 5), (8, 8.5), (-2.5, 7), (3.5, 0), (-3.5, 0)),
    "smash": ((2, 11), (1.5, 9.5), (0, 5), (9, 9.5), (7.5, 8.5), (5, 0), (-4.5, 0)),
    "aerial": ((-0.5, 12), (-0.3, 10), (0, 6), (2, 11), (-3, 10), (7, 4.5), (-1.5, 2.5)),
    "special": ((1, 12), (0.8, 10), (0, 5), (6.5, 8.5), (6, 7.5), (2.5, 0), (-2.5, 0)),
    "grab": ((1.5, 11), (1, 9.5), (0, 5), (6.5, 6.5), (5.5, 6), (3, 0), (-2.5, 0)),
    "shield": ((0.5, 10), (0.3, 8.5), (0, 4.5), (2.5, 7.5), (1.5, 7), (2, 0), (-2, 0)),
    "dodge": ((1.5, 7), (1, 6), (0, 4), (2.5, 5), (1, 4), (1.5, 2), (-1, 2)),
    "hurt": ((-3.5, 10), (-2.5, 8.8), (0, 5), (-5, 12.5), (0.5, 12.5), (2.5, 2), (3.5, 1)),
    "down": ((-6.5, 1.5), (-4.5, 1.5), (1, 1.5), (-3, 3.5), (-2, 0.5), (6.5, 1), (6.5, 2.5)),
    "ledge": ((0, 9), (0, 7), (0, 2), (1, 13), (-1, 13), (0.5, -3), (-0.5, -3)),
}


@dataclasses.dataclass
class Hud:
    """Numbers shown in the HUD; None hides a line."""
    frame: int | None = None
    fps: float | None = None
    cu: int | None = None
    ms: float | None = None
    latency_ms: float | None = None
    model: str | None = None
    backend: str | None = None
    extra: tuple[str, ...] = ()


class Effects:
    """What one fighter's recent frames leave on screen: hit flash and knockback trail."""

    def __init__(self):
        self.last_percent: float | None = None
        self.flash = 0
        self.trail_timer = 0
        self.trail: collections.deque = collections.deque(maxlen=TRAIL_LEN)
        self.was_dead: bool | None = None
        self.last_stocks: int | None = None
        self.burst = 0  # frames left of a KO burst
        self.burst_at = (0.0, 0.0)
        self.kos = 0

    def update(self, f: Fighter) -> None:
        dead = f.dead or f.action_name == "dead"
        lost = self.last_stocks is not None and 0 <= f.stocks < self.last_stocks
        if self.was_dead is not None and ((dead and not self.was_dead) or (lost and not self.was_dead)):
            self.burst, self.burst_at = BURST_FRAMES, (f.x, f.y)
            self.kos += 1
        self.was_dead, self.last_stocks = dead, f.stocks
        self.burst = max(0, self.burst - 1)
        if self.trail and math.dist(self.trail[-1], (f.x, f.y)) > TELEPORT:
            self.trail.clear()
            self.trail_timer = 0
        self.trail.append((f.x, f.y))
        if self.last_percent is not None and f.percent > self.last_percent + 0.01:
            self.flash = FLASH_FRAMES
            self.trail_timer = TRAIL_FRAMES
        self.last_percent = f.percent
        self.flash = max(0, self.flash - 1)
        self.trail_timer = max(0, self.trail_timer - 1, f.hitstun if 0 < f.hitstun < 200 else 0)


class Renderer:
    def __init__(self, stage: Stage, match=None):
        pygame.font.init()
        self.stage, self.match = stage, match
        from .match import STYLE
        # (height scale, body colour) per player: the character's when the match is known.
        self.styles = [STYLE.get(match.characters[p], (1.0, PLAYER_COLORS[p])) if match else (1.0, PLAYER_COLORS[p])
                       for p in (0, 1)]
        self.surface = pygame.Surface(LOGICAL)
        self.overlay = pygame.Surface(LOGICAL, pygame.SRCALPHA)
        self.overlay_used = False
        self.last_fighters: list[Fighter] = []
        self.font_small = pygame.font.Font(None, 18)
        self.font = pygame.font.Font(None, 24)
        self.font_big = pygame.font.Font(None, 44)
        self.font_huge = pygame.font.Font(None, 72)
        cam = stage.camera
        self.ppu = LOGICAL[0] / cam.width  # pixels per game unit
        self.effects = [Effects(), Effects()]
        self.background = self._draw_stage()

    # -- coordinates -------------------------------------------------------------------
    def to_screen(self, x: float, y: float) -> tuple[float, float]:
        cam = self.stage.camera
        return (x - cam.left) * self.ppu, (cam.top - y) * self.ppu

    def _pt(self, x: float, y: float) -> tuple[int, int]:
        sx, sy = self.to_screen(x, y)
        # Garbage positions (any int16) stay far outside the surface but within pygame's ints.
        return int(max(-10000, min(10000, sx))), int(max(-10000, min(10000, sy)))

    # -- stage ---------------------------------------------------------------------------
    def _draw_stage(self) -> pygame.Surface:
        s, st = pygame.Surface(LOGICAL), self.stage
        sky = st.colors.get("sky", (16, 16, 32))
        top = tuple(min(255, c + 30) for c in sky)
        for row in range(LOGICAL[1]):  # vertical gradient
            t = row / LOGICAL[1]
            pygame.draw.line(s, [round(top[i] * (1 - t) + sky[i] * t) for i in range(3)], (0, row), (LOGICAL[0], row))
        bz = st.blast_zones
        bl, br = self._pt(bz.left, bz.bottom), self._pt(bz.right, bz.top)
        pygame.draw.rect(s, (60, 60, 90), pygame.Rect(br[0] if br[0] < bl[0] else bl[0], br[1],
                                                      abs(br[0] - bl[0]), abs(bl[1] - br[1])), 1)
        if st.underside:
            pygame.draw.polygon(s, st.colors.get("underside", (50, 40, 70)), [self._pt(x, y) for x, y in st.underside])
        g = st.ground
        left, right = self._pt(g.left, g.y), self._pt(g.right, g.y)
        pygame.draw.rect(s, st.colors.get("ground", (100, 100, 120)), pygame.Rect(left[0], left[1], right[0] - left[0], 6))
        pygame.draw.line(s, st.colors.get("edge", WHITE), left, right, 2)
        for p in st.platforms:
            a, b = self._pt(p.left, p.y), self._pt(p.right, p.y)
            pygame.draw.line(s, st.colors.get("edge", WHITE), a, b, 3)
            pygame.draw.line(s, st.colors.get("ground", GREY), (a[0], a[1] + 3), (b[0], b[1] + 3), 2)
            if p.moving:  # drawn at a typical height: arrows say it moves
                for x in (a[0] + 4, b[0] - 4):
                    pygame.draw.line(s, GREY, (x, a[1] - 9), (x, a[1] + 12), 1)
        label = self.font_small.render(st.name, True, (150, 150, 180))
        s.blit(label, (LOGICAL[0] - label.get_width() - 6, 4))
        return s

    # -- fighters ------------------------------------------------------------------------
    def _skeleton(self, f: Fighter, scale: float = FIGHTER_SCALE) -> tuple[str, list[tuple[int, int]]]:
        family = pose(f)
        joints = POSES.get(family, POSES["stand"])
        swing = 0.0
        if family in ("walk", "run"):
            swing = math.sin(f.action_frame * 0.45) * (1.5 if family == "walk" else 2.5)
        pts = []
        for i, (jx, jy) in enumerate(joints):
            if i in (5, 6):
                jx += swing if i == 5 else -swing
            pts.append(self._pt(f.x + f.facing * jx * scale, f.y + jy * scale))
        return family, pts

    def draw_fighter(self, f: Fighter, player: int, ghost: bool = False, effects: Effects | None = None) -> None:
        if f.dead:
            return
        surf = self.surface
        scale, body = self.styles[player]
        color = GHOST_COLORS[player] if ghost else body
        if not ghost and f.action_name == "respawn":
            self.draw_revival_platform(f, player)
        flash = effects is not None and effects.flash > 0
        if flash:
            color = WHITE if effects.flash % 2 == 0 else (255, 240, 120)
        if effects is not None and effects.trail_timer > 0 and len(effects.trail) > 1:
            pts = [self._pt(x, y + 6) for x, y in effects.trail]
            for i in range(1, len(pts)):
                width = max(1, int(6 * i / len(pts)))
                c = [round(v * (0.35 + 0.65 * i / len(pts))) for v in PLAYER_COLORS[player]]
                pygame.draw.line(surf, c, pts[i - 1], pts[i], width)
        family, (head, neck, hip, hand_f, hand_b, foot_f, foot_b) = self._skeleton(f, scale)
        if family == "dead":  # between stocks: nothing to draw until the respawn
            return
        width = 2 if ghost else 4
        if family == "dodge":
            color = [round(c * 0.6 + 255 * 0.4) for c in color]
        for a, b in ((neck, hip), (neck, hand_f), (neck, hand_b), (hip, foot_f), (hip, foot_b)):
            pygame.draw.line(surf, color, a, b, width)
        r = max(3, int(2.4 * scale * self.ppu))
        pygame.draw.circle(surf, color, head, r, 2 if ghost else 0)
        if not ghost:  # a ring in the player's colour says whose it is; an eye shows the facing
            pygame.draw.circle(surf, PLAYER_COLORS[player], head, r + 1, 2)
            pygame.draw.circle(surf, BLACK, (head[0] + f.facing * r // 2, head[1] - 1), max(1, r // 4))
        if family == "shield":
            health = max(0.0, min(1.0, f.shield / SHIELD_FULL))
            radius = int((3.5 + 7.5 * health) * self.ppu)
            center = self._pt(f.x, f.y + 6)
            pygame.draw.circle(self.overlay, (*PLAYER_COLORS[player], 90), center, radius)
            pygame.draw.circle(self.overlay, (*WHITE, 160), center, radius, 1)
            self.overlay_used = True

    def draw_revival_platform(self, f: Fighter, player: int) -> None:
        """The halo a fighter rides down on and waits on after a KO."""
        cx, cy = self._pt(f.x, f.y - 1)
        w, h = max(10, int(18 * self.ppu)), max(3, int(3 * self.ppu))
        rect = pygame.Rect(0, 0, w, h)
        rect.center = (cx, cy)
        pygame.draw.ellipse(self.surface, (250, 250, 220), rect)
        pygame.draw.ellipse(self.surface, PLAYER_COLORS[player], rect.inflate(4, 2), 2)

    def draw_burst(self, e: Effects, player: int) -> None:
        """A KO: rays from where the fighter left the screen (clamped into the picture)."""
        if e.burst <= 0:
            return
        sx, sy = self.to_screen(*e.burst_at)
        m = 10
        cx, cy = max(m, min(LOGICAL[0] - m, sx)), max(m, min(LOGICAL[1] - m, sy))
        age = BURST_FRAMES - e.burst
        radius = 10 + age * 3
        color = PLAYER_COLORS[player] if age % 6 < 3 else (255, 250, 210)
        for k in range(12):
            ang = k * math.pi / 6 + age * 0.03
            inner = (cx + 0.4 * radius * math.cos(ang), cy + 0.4 * radius * math.sin(ang))
            outer = (cx + radius * math.cos(ang), cy + radius * math.sin(ang))
            pygame.draw.line(self.surface, color, inner, outer, 3)
        if age < 12:
            pygame.draw.circle(self.surface, WHITE, (int(cx), int(cy)), 14 - age)

    def draw_minimap(self, fighters: list[Fighter]) -> None:
        """The whole blast-zone box, small: the camera, the stage and where both fighters are."""
        bz, cam, g = self.stage.blast_zones, self.stage.camera, self.stage.ground
        box = MINIMAP
        shade = pygame.Surface(box.size, pygame.SRCALPHA)
        shade.fill((0, 0, 0, 110))
        self.surface.blit(shade, box)
        pygame.draw.rect(self.surface, (220, 80, 80), box, 1)  # the blast zones

        def pt(x, y):
            px = box.left + (max(bz.left, min(bz.right, x)) - bz.left) / bz.width * (box.width - 1)
            py = box.top + (bz.top - max(bz.bottom, min(bz.top, y))) / bz.height * (box.height - 1)
            return int(px), int(py)
        c0, c1 = pt(cam.left, cam.top), pt(cam.right, cam.bottom)
        pygame.draw.rect(self.surface, (90, 90, 120), pygame.Rect(c0, (c1[0] - c0[0], c1[1] - c0[1])), 1)
        pygame.draw.line(self.surface, self.stage.colors.get("edge", WHITE), pt(g.left, g.y), pt(g.right, g.y), 2)
        for p in self.stage.platforms:
            pygame.draw.line(self.surface, GREY, pt(p.left, p.y), pt(p.right, p.y), 1)
        for p, f in enumerate(fighters):
            if not f.dead and f.action_name != "dead":
                pygame.draw.circle(self.surface, PLAYER_COLORS[p], pt(f.x, f.y + 6), 2)

    def draw_timer(self, frame: int) -> None:
        from .match import timer_text
        label = self.font.render(timer_text(frame), True, WHITE)
        rect = label.get_rect(midtop=(LOGICAL[0] // 2, 4))
        pygame.draw.rect(self.surface, (10, 10, 18), rect.inflate(12, 4), border_radius=4)
        self.surface.blit(label, rect)

    def draw_offscreen(self, f: Fighter, player: int) -> None:
        """A marker on the picture's edge pointing at a fighter outside the camera."""
        if f.dead or f.action_name == "dead" or self.stage.camera.contains(f.x, f.y + 6):
            return
        sx, sy = self.to_screen(f.x, f.y + 6)
        m = 16
        cx, cy = max(m, min(LOGICAL[0] - m, sx)), max(m, min(LOGICAL[1] - m, sy))
        pygame.draw.circle(self.surface, (20, 20, 30), (int(cx), int(cy)), 13)
        pygame.draw.circle(self.surface, PLAYER_COLORS[player], (int(cx), int(cy)), 13, 2)
        ang = math.atan2(sy - cy, sx - cx)
        tip = (cx + 19 * math.cos(ang), cy + 19 * math.sin(ang))
        side = [(cx + 12 * math.cos(ang + d), cy + 12 * math.sin(ang + d)) for d in (0.5, -0.5)]
        pygame.draw.polygon(self.surface, PLAYER_COLORS[player], [tip, *side])
        label = self.font_small.render(f"P{player + 1}", True, WHITE)
        self.surface.blit(label, label.get_rect(center=(int(cx), int(cy))))

    # -- HUD -----------------------------------------------------------------------------
    def draw_status(self, fighters: list[Fighter]) -> None:
        """Percent and stocks per player along the bottom, Melee style."""
        for p, f in enumerate(fighters):
            cx = LOGICAL[0] // 2 + (-110 if p == 0 else 110)
            box = pygame.Rect(0, 0, 120, 52)
            box.center = (cx, LOGICAL[1] - 32)
            pygame.draw.rect(self.surface, (10, 10, 18), box, border_radius=6)
            pygame.draw.rect(self.surface, PLAYER_COLORS[p], box, 2, border_radius=6)
            if f.dead:
                text, color = "OUT", GREY
            else:
                t = min(1.0, f.percent_shown / 150)
                color = (255, round(255 - 180 * t), round(255 - 230 * t))
                text = f"{f.percent_shown}%"
            label = self.font_big.render(text, True, color)
            self.surface.blit(label, label.get_rect(midright=(box.right - 8, box.centery + 2)))
            who = f"P{p + 1} {self.match.label(p)}" if self.match else f"P{p + 1}"
            tag = self.font_small.render(who, True, PLAYER_COLORS[p])
            self.surface.blit(tag, (box.left + 6, box.top + 4))
            for k in range(f.stocks_shown):
                pygame.draw.circle(self.surface, PLAYER_COLORS[p], (box.left + 10 + 9 * k, box.bottom - 9), 3)

    def draw_hud(self, hud: Hud, show: dict[str, bool]) -> None:
        lines = []
        if hud.frame is not None and show.get("frame", True):
            lines.append(f"frame {hud.frame}")
        if hud.fps is not None and show.get("fps", True):
            lines.append(f"fps {hud.fps:.1f}")
        if hud.cu is not None and show.get("cu", True):
            lines.append(f"CU/frame {hud.cu:,}")
        if hud.ms is not None and show.get("ms", True):
            lines.append(f"ms/frame {hud.ms:.2f}")
        if hud.latency_ms is not None and show.get("latency", True):
            lines.append(f"input->frame {hud.latency_ms:.1f} ms")
        if hud.model and show.get("model", True):
            lines.append(f"model {hud.model}")
        if hud.backend and show.get("backend", True):
            lines.append(f"backend {hud.backend}")
        lines += list(hud.extra)
        labels = [self.font_small.render(line, True, (210, 230, 210)) for line in lines]
        if labels:
            box = pygame.Surface((max(lb.get_width() for lb in labels) + 10,
                                  sum(lb.get_height() + 1 for lb in labels) + 7), pygame.SRCALPHA)
            box.fill((0, 0, 0, 120))
            self.surface.blit(box, (2, 2))
        y = 6
        for label in labels:
            self.surface.blit(label, (7, y))
            y += label.get_height() + 1
        for p, f in enumerate(self.last_fighters):  # off-screen markers stay on top of the HUD
            self.draw_offscreen(f, p)

    def draw_messages(self, messages: list[str]) -> None:
        y = 30
        for text in messages:
            label = self.font.render(text, True, (255, 240, 160))
            self.surface.blit(label, label.get_rect(midtop=(LOGICAL[0] // 2, y)))
            y += label.get_height() + 2

    def draw_panel(self, title: str, lines: list[str], highlight: int | None = None) -> None:
        """A centred dark panel (pause menu, game over, controls, errors)."""
        shade = pygame.Surface(LOGICAL, pygame.SRCALPHA)
        shade.fill((0, 0, 0, 150))
        self.surface.blit(shade, (0, 0))
        head = self.font_big.render(title, True, WHITE)
        rows = [self.font.render(line, True, (255, 230, 90) if i == highlight else (220, 220, 230))
                for i, line in enumerate(lines)]
        height = head.get_height() + 12 + sum(r.get_height() + 3 for r in rows)
        top = max(6, (LOGICAL[1] - height) // 2)
        self.surface.blit(head, head.get_rect(midtop=(LOGICAL[0] // 2, top)))
        y = top + head.get_height() + 12
        for r in rows:
            self.surface.blit(r, r.get_rect(midtop=(LOGICAL[0] // 2, y)))
            y += r.get_height() + 3

    # -- a whole frame -------------------------------------------------------------------
    def frame(self, fighters: list[Fighter], ghosts: list[Fighter] | None = None) -> pygame.Surface:
        """Stage, fighters (and ground-truth ghosts), effects, percent/stocks."""
        self.surface.blit(self.background, (0, 0))
        if self.overlay_used:  # a full-screen alpha blit costs ~1 ms: only when a shield was drawn
            self.overlay.fill((0, 0, 0, 0))
            self.overlay_used = False
        self.last_fighters = fighters
        for p, f in enumerate(fighters):
            self.effects[p].update(f)
        for p, g in enumerate(ghosts or []):
            self.draw_fighter(g, p, ghost=True)
        for p, f in enumerate(fighters):
            self.draw_fighter(f, p, effects=self.effects[p])
        if self.overlay_used:
            self.surface.blit(self.overlay, (0, 0))
        for p, f in enumerate(fighters):
            self.draw_offscreen(f, p)
            self.draw_burst(self.effects[p], p)
        self.draw_minimap(fighters)
        self.draw_status(fighters)
        return self.surface


def fit(window: tuple[int, int], scale: int = 0) -> pygame.Rect:
    """Where the logical picture goes in a window: the largest whole-number scale that fits
    (or `scale` if given and it fits), centred; below 1x it shrinks keeping the aspect."""
    w, h = window
    best = min(w // LOGICAL[0], h // LOGICAL[1])
    k = min(scale, best) if scale else best
    if k >= 1:
        size = (LOGICAL[0] * k, LOGICAL[1] * k)
    else:
        f = min(w / LOGICAL[0], h / LOGICAL[1])
        size = (max(1, int(LOGICAL[0] * f)), max(1, int(LOGICAL[1] * f)))
    rect = pygame.Rect((0, 0), size)
    rect.center = (w // 2, h // 2)
    return rect


def present(window: pygame.Surface, picture: pygame.Surface, scale: int = 0) -> pygame.Rect:
    rect = fit(window.get_size(), scale)
    window.fill(BLACK)
    if rect.size == picture.get_size():
        window.blit(picture, rect)
    else:
        window.blit(pygame.transform.scale(picture, rect.size), rect)
    return rect
