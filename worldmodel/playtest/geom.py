"""Stage geometry the playtest's checks share, in game units (state fields / 16).

Surfaces and blast zones are the rules' static layout as the rules see it (their integer table,
worldmodel.rules.Stage, over 16: so a check here and a rule never disagree by a rounding): the
main platform at y 0 over |x| <= edge and the table's platforms. Fountain of Dreams' side platforms move and are not
in the rules' table; a grounded fighter over their x range (stages.FOD_SIDE_PLATFORM_X)
between FOD_SIDE_Y is taken as standing on one, so the checks do not flag real play there.
"""
from __future__ import annotations

import functools

import numpy as np

from .. import rules as R
from .. import stages as S

U = float(S.POS_SCALE)  # state units per game unit
LANDING = 1.0  # a landing is on a surface when within 1 unit of its height (the target)
# The invariants' "on a surface": within the rules' SNAP distance (4 units) of it, the distance
# at which the rules themselves stand a grounded fighter on it (Yoshi's Story's sloped edges
# sit 2-3 units below 0 in real play).
ON_SURFACE = R.SNAP / S.POS_SCALE
BODY_DEPTH = R.FLOOR_DEPTH / U  # the rules' floor band: the top 16 units of the main platform
FOD_SIDE_Y = (10.0, 45.0)


@functools.lru_cache(maxsize=None)
def _table(slippi_id: int):
    t = R.Stage.of(slippi_id)
    return (t.edge / U, tuple((y / U, left / U, right / U) for y, left, right in t.platforms),
            (t.blast_left / U, t.blast_right / U, t.blast_top / U, t.blast_bottom / U))


def surfaces(st: S.StageData, x: float) -> list[float]:
    """Heights of the surfaces whose x range holds x."""
    edge, plats, _ = _table(st.slippi_id)
    out = [0.0] if -edge <= x <= edge else []
    out += [y for y, left, right in plats if left <= x <= right]
    return out


def surface_gap(st: S.StageData, x: float, y: float) -> float:
    """Distance from y to the nearest surface over x (inf when none)."""
    if st.key == "fountain_of_dreams" and S.FOD_SIDE_PLATFORM_X[0] <= abs(x) <= S.FOD_SIDE_PLATFORM_X[1] \
            and FOD_SIDE_Y[0] <= y <= FOD_SIDE_Y[1]:
        return 0.0
    gaps = [abs(y - s) for s in surfaces(st, x)]
    return min(gaps) if gaps else float("inf")


def inside_body(st: S.StageData, x: float, y: float) -> bool:
    """Inside the main platform's body: over it and more than ON_SURFACE below its top,
    within the band the rules' FLOOR clamp owns."""
    edge = _table(st.slippi_id)[0]
    return -edge <= x <= edge and -BODY_DEPTH < y < -ON_SURFACE


def beyond_blast(st: S.StageData, x: float, y: float) -> bool:
    left, right, top, bottom = _table(st.slippi_id)[2]
    return x < left or x > right or y > top or y < bottom


def xy(f: np.ndarray) -> tuple[float, float]:
    return float(f[R.X]) / U, float(f[R.Y]) / U
