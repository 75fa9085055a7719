"""Now versus a service's own baseline, with robust statistics (median and MAD). Pure: numbers in, verdict out."""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import median
from typing import Literal

__all__ = ["Comparison", "compare", "mad"]

Verdict = Literal["normal", "high", "low", "no_data", "no_baseline"]

# A robust z-score above this (MAD scaled to sigma) and a relative change above MIN_RATIO is "not normal".
Z_THRESHOLD = 4.0
MIN_RATIO = 0.25
_MAD_TO_SIGMA = 1.4826


def mad(values: list[float], center: float | None = None) -> float:
    if not values:
        return 0.0
    c = median(values) if center is None else center
    return median(abs(v - c) for v in values)


@dataclass(frozen=True)
class Comparison:
    now: float | None
    recent_median: float | None  # the median of the window's newest half: what "now" means, robustly
    window_median: float | None
    window_max: float | None
    baseline_median: float | None
    baseline_mad: float | None
    robust_z: float | None
    verdict: Verdict

    @property
    def ratio(self) -> float | None:
        if self.recent_median is None or not self.baseline_median:
            return None
        return self.recent_median / self.baseline_median


def compare(
    window: list[float],
    baseline: list[float],
    *,
    bad: Literal["up", "down", "both"] = "up",
    min_abs: float = 0.0,
) -> Comparison:
    """Compare the recent window against the baseline.

    The verdict uses the window's recent half (its median, so a single spike is not enough) scored against the
    baseline's median and MAD. A change must be large in sigma *and* relative terms *and* above `min_abs` to count,
    and only in the direction(s) `bad` names; a flat baseline (MAD 0) falls back to the relative change.
    """
    win = [v for v in window if not math.isnan(v)]
    base = [v for v in baseline if not math.isnan(v)]
    if not win:
        return Comparison(None, None, None, None, median(base) if base else None, None, None, "no_data")
    now = win[-1]
    recent = win[len(win) // 2:]
    w_med = median(win)
    r_med = median(recent)
    if len(base) < 3:
        return Comparison(now, r_med, w_med, max(win), median(base) if base else None, None, None, "no_baseline")
    b_med = median(base)
    b_mad = mad(base, b_med)
    sigma = b_mad * _MAD_TO_SIGMA
    delta = r_med - b_med
    scale = max(abs(b_med), 1e-12)
    z = delta / sigma if sigma > 0 else (math.copysign(math.inf, delta) if delta else 0.0)
    big = abs(z) >= Z_THRESHOLD and abs(delta) / scale >= MIN_RATIO and abs(delta) >= min_abs
    verdict: Verdict = "normal"
    if big and delta > 0 and bad in ("up", "both"):
        verdict = "high"
    elif big and delta < 0 and bad in ("down", "both"):
        verdict = "low"
    z_out = None if math.isinf(z) else round(z, 2)
    return Comparison(now, r_med, w_med, max(win), b_med, b_mad, z_out, verdict)
