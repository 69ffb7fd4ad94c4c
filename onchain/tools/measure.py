"""Percentiles for the timing summaries of the cranks, bots and benchmarks."""
from __future__ import annotations

import numpy as np


def pct(xs, q: float) -> float | None:
    """The q-th percentile of `xs`, rounded to 3 decimals (they are milliseconds); None if empty."""
    return round(float(np.percentile(xs, q)), 3) if len(xs) else None
