"""Rendering: stages from data, edge states (off-stage, dead, 999%, garbage) give real pictures."""
import os

os.environ["SDL_VIDEODRIVER"] = "dummy"

import numpy as np  # noqa: E402
import pygame  # noqa: E402
import pytest  # noqa: E402

from game import fighter, render, stage  # noqa: E402
from worldmodel.cartridge import FIELDS  # noqa: E402


@pytest.fixture(autouse=True)
def display():
    pygame.display.init()
    yield
    pygame.quit()


def row(**values) -> list[int]:
    r = [0] * len(FIELDS)
    defaults = dict(facing=1, stocks=4, shield=60 * 16, action=fighter.CATEGORIES.index("idle"))
    for k, v in {**defaults, **values}.items():
        r[FIELDS.index(k)] = v
    return r


def pixels(surface: pygame.Surface) -> np.ndarray:
    return pygame.surfarray.array3d(surface)


def region_changed(before: np.ndarray, after: np.ndarray, rect: pygame.Rect) -> int:
    a = before[rect.left:rect.right, rect.top:rect.bottom]
    b = after[rect.left:rect.right, rect.top:rect.bottom]
    return int(np.any(a != b, axis=2).sum())


@pytest.mark.parametrize("key", stage.available())
def test_stages_load_with_melee_geometry(key):
    s = stage.load(key)
    assert s.ground.left < 0 < s.ground.right and s.camera.contains(0, 0)
    assert s.blast_zones.left < s.camera.left and s.blast_zones.right > s.camera.right
    for p in s.platforms:  # Yoshi's Story's side platforms overhang its ground edge by 3.5 units
        assert s.ground.left - 5 < p.left < p.right < s.ground.right + 5 and p.y > 0


def test_real_dimensions():
    fd, bf = stage.load("final_destination"), stage.load("battlefield")
    assert fd.ground.right == pytest.approx(85.5657) and fd.blast_zones.right == 246
    assert bf.ground.right == pytest.approx(68.4) and bf.blast_zones.bottom == pytest.approx(-108.8)
    assert sorted(p.y for p in bf.platforms) == pytest.approx([27.2, 27.2, 54.4])


def render_state(r: render.Renderer, p1, p2) -> np.ndarray:
    r.frame([fighter.decode(p1), fighter.decode(p2)])
    return pixels(r.surface)


def fighter_box(r: render.Renderer, x_units: float, y_units: float) -> pygame.Rect:
    sx, sy = r.to_screen(x_units, y_units)
    return pygame.Rect(int(sx) - 20, int(sy) - 40, 40, 45).clip(pygame.Rect((0, 0), render.LOGICAL))


def test_fighters_drawn_where_the_state_says():
    r = render.Renderer(stage.load("final_destination"))
    empty = pixels(r.background)
    img = render_state(r, row(x=-40 * 16), row(x=40 * 16, facing=-1))
    for x in (-40, 40):
        assert region_changed(empty, img, fighter_box(r, x, 0)) > 60
    assert region_changed(empty, img, fighter_box(r, 0, 0)) == 0, "nothing where no fighter is"
    assert np.any(np.all(img == render.PLAYER_COLORS[0], axis=2)) and np.any(np.all(img == render.PLAYER_COLORS[1], axis=2))


def test_off_stage_fighter_gets_an_edge_marker():
    r = render.Renderer(stage.load("final_destination"))
    img = render_state(r, row(x=-200 * 16, y=-100 * 16), row(x=30 * 16))  # beyond the camera, bottom left
    p1 = np.all(img == render.PLAYER_COLORS[0], axis=2)  # indexed [x, y]
    assert p1[:40, 320:].sum() > 20, "a P1-coloured marker in the bottom-left corner"
    assert not p1[40:140, :300].any(), "and no P1 figure inside the picture"


def test_dead_and_999_percent():
    r = render.Renderer(stage.load("battlefield"))
    empty = pixels(r.background)
    img = render_state(r, row(stocks=0, x=-20 * 16), row(percent=999 * 16, x=20 * 16, action=19, hitstun=30))
    assert region_changed(empty, img, fighter_box(r, -20, 0)) == 0, "a dead fighter is not drawn"
    assert region_changed(empty, img, fighter_box(r, 20, 0)) > 60
    f = fighter.decode(row(percent=999 * 16))
    assert f.percent_shown == 999
    assert fighter.decode(row(percent=32767)).percent_shown == 999
    # the percent boxes changed the bottom of the picture
    bottom = pygame.Rect(0, render.LOGICAL[1] - 60, render.LOGICAL[0], 60)
    assert region_changed(empty, img, bottom) > 1000


@pytest.mark.parametrize("value", [-32768, 32767, -1, 12345])
def test_any_int16_state_renders(value):
    r = render.Renderer(stage.load("final_destination"))
    empty = pixels(r.background)
    img = render_state(r, [value] * 16, [-value] * 16)
    r.draw_hud(render.Hud(frame=1, fps=60.0, cu=1, ms=1.0, latency_ms=1.0, model="m", backend="b"), {})
    assert region_changed(empty, img, pygame.Rect((0, 0), render.LOGICAL)) > 500
    win = pygame.Surface((333, 200))
    render.present(win, r.surface)
    assert pixels(win).std() > 0


def test_hit_flash_and_trail_follow_percent_jumps():
    r = render.Renderer(stage.load("final_destination"))
    for i in range(5):
        r.frame([fighter.decode(row(x=i * 16)), fighter.decode(row(x=40 * 16))])
    fx = r.effects[0]
    assert fx.flash == 0 and fx.trail_timer == 0
    r.frame([fighter.decode(row(x=6 * 16, percent=12 * 16)), fighter.decode(row(x=40 * 16))])
    assert fx.flash > 0 and fx.trail_timer > 0
    r.frame([fighter.decode(row(x=200 * 16, percent=12 * 16)), fighter.decode(row(x=40 * 16))])
    assert len(fx.trail) == 1, "a respawn-sized jump breaks the trail"


@pytest.mark.parametrize("window, scale, size", [
    ((1280, 720), 0, (1280, 720)), ((1920, 1080), 0, (1920, 1080)), ((1300, 1000), 0, (1280, 720)),
    ((2000, 2000), 2, (1280, 720)), ((400, 400), 0, (400, 225)),
])
def test_integer_scaling_keeps_aspect(window, scale, size):
    rect = render.fit(window, scale)
    assert rect.size == size
    assert rect.centerx == window[0] // 2


def test_pose_families_cover_categories():
    for name in fighter.CATEGORIES:
        f = fighter.decode(row(action=fighter.CATEGORIES.index(name)))
        assert fighter.pose(f) in render.POSES or fighter.pose(f) == "dead"
