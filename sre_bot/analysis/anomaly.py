"""When did a signal leave its baseline, and how far? Robust statistics on one series. Pure.

The baseline is the series before the window (or, when a day of history exists, the same window yesterday, so a
daily peak is not mistaken for an incident). A point is out of band when its robust z-score (against the
baseline's median and MAD, with a floor so a flat baseline does not make every wiggle infinite) passes the
threshold in a direction that is a symptom, and the change is large in relative and absolute terms. The onset is
the first point that starts a sustained run (3 of 4 points out of band), so a single spike or a counter-reset dip
is not an anomaly.

Real data adds three rules (measured on the Nezha fault-injection days):
- **Short history is judged, and says so.** When fewer than 5 points precede the window (data that starts minutes
  before the incident), the window's own leading points up to its strongest level change join the baseline, and the
  sigma floor doubles. A series that cannot be judged at all is `unjudged` with the reason, never "normal".
- **Seen before is not news.** A level the baseline already held (three points running) on two separate occasions
  is a recurring pattern (`novelty` 0): kept but flagged, so it does not open the timeline or outweigh a new change.
  One earlier episode is not a pattern: it may be the previous incident.
- **The recent baseline says what normal was.** Level and spread come from the baseline's most recent third (at
  least 10 points), so an earlier incident in the hour before does not become "normal".
- **Idle services are not judged on latency.** That is the ranking's traffic floor (the engine knows the service's
  request rate), not this module's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import median
from typing import Any, Literal

__all__ = ["SignalAnomaly", "Judgement", "judge_signal", "detect_onset", "detect_onsets", "Z_THRESHOLD",
           "MIN_HISTORY"]

Z_THRESHOLD = 4.0
MIN_RELATIVE = 0.2
_MAD_TO_SIGMA = 1.4826
_SIGMA_FLOOR = 0.05  # fraction of |median|
MIN_HISTORY = 5  # baseline points below which the window's leading points are borrowed
MIN_JUDGE = 3  # fewer baseline points than this, even after borrowing: not judged


@dataclass(frozen=True)
class SignalAnomaly:
    onset: float  # unix seconds of the first out-of-band point of the sustained run
    direction: Literal["up", "down"]
    before: float  # baseline median
    after: float  # median of the anomalous episode (from the onset while it stays out of band)
    peak: float  # the most extreme value after the onset
    z: float  # robust z-score of `after`
    seasonal: bool  # the baseline was the same window a day earlier
    novelty: float = math.inf  # 0 when the baseline held this level twice before (a recurring pattern), else |z|
    history: int = 0  # baseline points it was judged against
    short_history: bool = False  # the baseline borrowed the window's leading points
    ended: float | None = None  # when the series came back in band (it stayed there to the window's end)
    noise: float = 0.0  # the 90th percentile of the baseline's own |z|: how far it strays when nothing is wrong

    @property
    def z_eff(self) -> float:
        """|z| discounted by the series' own noise: a series that routinely strays by z 40 showing z 80 is a
        weaker finding than a quiet one showing z 20."""
        return abs(self.z) / max(1.0, self.noise / 2)

    @property
    def seen_before(self) -> bool:
        return self.novelty <= 0

    @property
    def ratio(self) -> float | None:
        return self.after / self.before if self.before else None


@dataclass(frozen=True)
class Judgement:
    """What one series says: an anomaly, normal, or not judged (and why)."""

    status: Literal["anomalous", "normal", "unjudged"]
    anomaly: SignalAnomaly | None = None
    reason: str = ""  # for unjudged: "no data", "too few points in the window", "no history before the window"
    history: int = 0  # baseline points used


def _band(base: list[float], floor: float = _SIGMA_FLOOR) -> tuple[float, float]:
    """Median and robust sigma (MAD scaled, floored at a fraction of the median) of the baseline.

    (Dropping the baseline's own outliers in a second pass was measured on the Nezha benchmark and made top-1
    worse, so it is not done.)"""
    med = median(base)
    return med, max(_MAD_TO_SIGMA * median(abs(v - med) for v in base), floor * abs(med), 1e-9)


def _episodes_reaching(base: list[float], level: float, direction: str) -> int:
    """How many separate times the baseline held `level` (or beyond) for three consecutive points."""
    if len(base) < 3:
        return 0
    rolled = [median(base[i:i + 3]) for i in range(len(base) - 2)]
    hits = [(r >= level) if direction == "up" else (r <= level) for r in rolled]
    return sum(1 for i, h in enumerate(hits) if h and (i == 0 or not hits[i - 1]))


def _recent(base: list[float]) -> list[float]:
    """The part of the baseline the level and spread are read from: its most recent third (at least 10 points).
    An hour before the window may hold an earlier incident; the minutes just before it say what "normal" was
    when this one began."""
    return base[-max(2 * MIN_HISTORY, len(base) // 3):]


def _split(base: list[float], window: list[tuple[float, float]]) -> int:
    """How many leading window points to lend the baseline when history is short: enough to reach MIN_JUDGE
    points, and up to the window's strongest level change (the largest shift of the mean, before vs after)."""
    need = max(0, MIN_JUDGE - len(base))
    best, best_k = -1.0, need
    vals = [v for _, v in window]
    for k in range(need, len(vals) - 1):
        before = base + vals[:k]
        if len(before) < MIN_JUDGE:
            continue
        rest = vals[k:]
        shift = abs(sum(rest) / len(rest) - sum(before) / len(before))
        if shift > best:
            best, best_k = shift, k
    return best_k


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


def judge_signal(
    points: list[tuple[float, float]],
    window_start: float,
    *,
    bad: Literal["up", "down", "both"] = "up",
    min_abs: float = 0.0,
    seasonal: list[tuple[float, float]] | None = None,
    expected: tuple[float, float] | None = None,
) -> Judgement:
    """The sustained departure from baseline inside the window (points at or after `window_start`), normal, or
    not judged and why.

    `expected` is how many points the query should have returned (window, baseline); a window with fewer than half
    of them is too sparse to judge (a low-traffic service whose latency is mostly missing gives noise)."""
    clean = [(t, v) for t, v in points if not (math.isnan(v) or math.isinf(v))]
    window = [(t, v) for t, v in clean if t >= window_start]
    if not clean:
        return Judgement("unjudged", reason="no data")
    if expected is not None and len(window) < 0.5 * expected[0]:
        return Judgement("unjudged", reason="too few points in the window")
    season = [v for _, v in seasonal or [] if not (math.isnan(v) or math.isinf(v))]
    use_season = len(season) >= max(5, len(window) // 2)
    base = season if use_season else [v for t, v in clean if t < window_start]
    short, k_lent = False, 0
    floor = _SIGMA_FLOOR
    if len(base) < MIN_HISTORY and not use_season:
        k_lent = _split(base, window)
        base, window, short = base + [v for _, v in window[:k_lent]], window[k_lent:], k_lent > 0
        floor = 2 * _SIGMA_FLOOR
    if len(base) < MIN_JUDGE or len(window) < 2:
        return Judgement("unjudged", reason="no history before the window" if len(window) >= 2
                         else "too few points in the window", history=len(base))
    med, sigma = _band(base if use_season else _recent(base), floor)
    # the smallest change that matters (`min_abs`) sits at the threshold: a flat series does not make any wiggle
    # astronomically significant
    sigma = max(sigma, min_abs / Z_THRESHOLD)
    found: list[SignalAnomaly] = []
    for direction in ("up", "down"):
        if bad not in (direction, "both"):
            continue
        flags = [_out(v, med, sigma, direction, min_abs) for _, v in window]
        idx = _onset_index(flags)
        if idx is None:
            continue
        end = _episode_end(flags, idx)
        tail = [v for _, v in window[idx:end]]
        # over: the last points of the window (at least 3) are back in band
        ended = window[end][0] if len(window) - end >= 3 and not any(flags[end:]) else None
        after = median(tail)
        if not _out(after, med, sigma, direction, min_abs):
            continue
        peak = max(tail) if direction == "up" else min(tail)
        # seen before: the baseline held this level at least twice (a recurring pattern, not one earlier incident)
        again = _episodes_reaching(base, after, direction) >= 2
        # how far this series strays in its own baseline, in the same sigmas: a noisy series' big z is less news
        excursions = sorted(abs(v - med) / sigma for v in base)
        noise = excursions[int(0.9 * (len(excursions) - 1))] if excursions else 0.0
        novelty = 0.0 if again else (after - med) / sigma * (1 if direction == "up" else -1)
        found.append(SignalAnomaly(onset=window[idx][0], direction=direction, before=med, after=after, peak=peak,
                                   z=round((after - med) / sigma, 2), seasonal=use_season,
                                   novelty=round(novelty, 2), history=len(base), short_history=short,
                                   ended=ended, noise=round(noise, 2)))
    if not found:
        if short and len(base) - k_lent < MIN_JUDGE:
            # no change inside the window, and too little before it to say its level is the usual one
            return Judgement("unjudged", reason="no history before the window", history=len(base) - k_lent)
        return Judgement("normal", history=len(base))
    return Judgement("anomalous", anomaly=min(found, key=lambda a: a.onset), history=len(base))


def _episode_end(flags: list[bool], start: int) -> int:
    """One past the last point of the anomalous episode that begins at `start`: it goes on while at least 2 of
    every 3 points stay out of band (a fault that is over before the window ends is judged on its episode, not
    diluted by the recovery after it)."""
    end = start + 1
    i = start + 1
    while i < len(flags):
        if flags[i]:
            end = i + 1
        elif sum(flags[i:i + 3]) < 2:
            break
        i += 1
    return end


def detect_onset(
    points: list[tuple[float, float]],
    window_start: float,
    *,
    bad: Literal["up", "down", "both"] = "up",
    min_abs: float = 0.0,
    seasonal: list[tuple[float, float]] | None = None,
    expected: tuple[float, float] | None = None,
) -> SignalAnomaly | None:
    """`judge_signal`'s anomaly, or None (normal or not judged)."""
    return judge_signal(points, window_start, bad=bad, min_abs=min_abs, seasonal=seasonal,
                        expected=expected).anomaly


def detect_onsets(batch: list[dict[str, Any]]) -> list[SignalAnomaly | None]:
    """`detect_onset(**kwargs)` for each kwargs in `batch`, in order: a whole investigation's scans in one call,
    so a caller can hand them to a worker process at once."""
    return [detect_onset(**kwargs) for kwargs in batch]
