"""When did a signal leave its baseline, and how far? Robust statistics on one series. Pure.

The baseline is the series before the window (or, when a day of history exists, the same window yesterday, so a
daily peak is not mistaken for an incident). A point is out of band when its robust z-score (against the
baseline's median and MAD, with a floor so a flat baseline does not make every wiggle infinite) passes the
threshold in a direction that is a symptom, and the change is large in relative and absolute terms. The onset is
the first point that starts a sustained run (3 of 4 points out of band), so a single spike or a counter-reset dip
is not an anomaly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import median
from typing import Any, Literal

__all__ = ["SignalAnomaly", "detect_onset", "detect_onsets", "Z_THRESHOLD"]

Z_THRESHOLD = 4.0
MIN_RELATIVE = 0.2
_MAD_TO_SIGMA = 1.4826
_SIGMA_FLOOR = 0.05  # fraction of |median|


@dataclass(frozen=True)
class SignalAnomaly:
    onset: float  # unix seconds of the first out-of-band point of the sustained run
    direction: Literal["up", "down"]
    before: float  # baseline median
    after: float  # median from the onset to the end of the window
    peak: float  # the most extreme value after the onset
    z: float  # robust z-score of `after`
    seasonal: bool  # the baseline was the same window a day earlier

    @property
    def ratio(self) -> float | None:
        return self.after / self.before if self.before else None


def _band(base: list[float]) -> tuple[float, float]:
    """Median and robust sigma (MAD scaled, floored at 5% of the median) of the baseline.

    (Dropping the baseline's own outliers in a second pass was measured on the Nezha benchmark and made top-1
    worse, so it is not done.)"""
    med = median(base)
    return med, max(_MAD_TO_SIGMA * median(abs(v - med) for v in base), _SIGMA_FLOOR * abs(med), 1e-9)


def _sparse(clean: list[tuple[float, float]], window_start: float, expected: tuple[float, float] | None) -> bool:
    """Too few real values to judge: under half of the expected points in the window or before it
    (a low-traffic service whose latency is mostly missing gives noise, not evidence)."""
    if expected is None:
        return False
    in_window = sum(1 for t, _ in clean if t >= window_start)
    return in_window < 0.5 * expected[0] or len(clean) - in_window < 0.5 * expected[1]


def _out(v: float, med: float, sigma: float, direction: str, min_abs: float) -> bool:
    d = v - med
    if direction == "down":
        d = -d
    return d > 0 and d / sigma >= Z_THRESHOLD and d >= min_abs and d >= MIN_RELATIVE * abs(med)


def _onset_index(flags: list[bool]) -> int | None:
    for i, f in enumerate(flags):
        if not f:
            continue
        run = flags[i:i + 4]
        if len(run) == 4 and sum(run) >= 3:
            return i
        if len(run) < 4 and len(run) >= 2 and all(run):  # the incident is just starting at the window's end
            return i
    return None


def detect_onset(
    points: list[tuple[float, float]],
    window_start: float,
    *,
    bad: Literal["up", "down", "both"] = "up",
    min_abs: float = 0.0,
    seasonal: list[tuple[float, float]] | None = None,
    expected: tuple[float, float] | None = None,
) -> SignalAnomaly | None:
    """The sustained departure from baseline inside the window (points at or after `window_start`), or None.

    `expected` is how many points the query should have returned (window, baseline); a series with fewer than
    half of them, in either part, is too sparse to judge."""
    clean = [(t, v) for t, v in points if not (math.isnan(v) or math.isinf(v))]
    window = [(t, v) for t, v in clean if t >= window_start]
    season = [v for _, v in seasonal or [] if not (math.isnan(v) or math.isinf(v))]
    use_season = len(season) >= max(5, len(window) // 2)
    base = season if use_season else [v for t, v in clean if t < window_start]
    if len(base) < 5 or len(window) < 2 or _sparse(clean, window_start, expected):
        return None
    med, sigma = _band(base)
    found: list[SignalAnomaly] = []
    for direction in ("up", "down"):
        if bad not in (direction, "both"):
            continue
        idx = _onset_index([_out(v, med, sigma, direction, min_abs) for _, v in window])
        if idx is None:
            continue
        tail = [v for _, v in window[idx:]]
        after = median(tail)
        if not _out(after, med, sigma, direction, min_abs):
            continue
        peak = max(tail) if direction == "up" else min(tail)
        found.append(SignalAnomaly(onset=window[idx][0], direction=direction, before=med, after=after, peak=peak,
                                   z=round((after - med) / sigma, 2), seasonal=use_season))
    return min(found, key=lambda a: a.onset) if found else None


def detect_onsets(batch: list[dict[str, Any]]) -> list[SignalAnomaly | None]:
    """`detect_onset(**kwargs)` for each kwargs in `batch`, in order: a whole investigation's scans in one call,
    so a caller can hand them to a worker process at once."""
    return [detect_onset(**kwargs) for kwargs in batch]
