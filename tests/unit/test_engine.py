"""The investigation engine's pure parts on small hand-made series and log samples (the ranking itself:
test_engine_analyse.py)."""

from __future__ import annotations

import math

from sre_bot.analysis.anomaly import detect_onset
from sre_bot.analysis.log_shift import template_shifts

T0 = 1_700_000_000.0
STEP = 60.0


def series(values: list[float], start: float = T0) -> list[tuple[float, float]]:
    return [(start + i * STEP, v) for i, v in enumerate(values)]


def noisy(level: float, n: int, amp: float = 0.03) -> list[float]:
    return [level * (1 + amp * math.sin(i * 1.7)) for i in range(n)]


WSTART = T0 + 60 * STEP  # 60 baseline points, then the window


def test_flat_series_has_no_anomaly():
    """A flat series never leaves its (flat) baseline."""
    assert detect_onset(series([5.0] * 90), WSTART) is None


def test_step_up_reports_onset_before_and_after():
    """A latency step from 45 ms to 890 ms at a known minute is found with that onset and those levels."""
    pts = series(noisy(0.045, 60) + noisy(0.045, 10) + noisy(0.89, 20))
    a = detect_onset(pts, WSTART, min_abs=0.01)
    assert a is not None and a.direction == "up"
    assert a.onset == WSTART + 10 * STEP
    assert abs(a.before - 0.045) < 0.003 and abs(a.after - 0.89) < 0.05 and a.z > 10


def test_missing_points_are_tolerated():
    """NaNs and gaps in the window do not hide a sustained change."""
    vals = noisy(1.0, 60) + [1.0, math.nan, 1.0] + [5.0, math.nan, 5.0, 5.0, 5.0, 5.0]
    assert detect_onset(series(vals), WSTART) is not None


def test_counter_reset_dip_is_not_an_anomaly():
    """A one-point drop to zero (a counter reset seen through rate()) is not a sustained change."""
    vals = noisy(100.0, 60) + noisy(100.0, 10) + [0.0] + noisy(100.0, 10)
    assert detect_onset(series(vals), WSTART, bad="both") is None


def test_direction_must_be_a_symptom():
    """Latency falling is not a symptom of an up-is-bad signal; traffic falling is for a both-ways one."""
    vals = noisy(1.0, 60) + [0.2] * 20
    assert detect_onset(series(vals), WSTART, bad="up") is None
    assert detect_onset(series(vals), WSTART, bad="both").direction == "down"


def test_seasonal_baseline_explains_a_daily_peak():
    """A level that matches the same window yesterday is not an anomaly, though it beats the hour before."""
    vals = noisy(100.0, 60) + noisy(300.0, 30)
    yesterday = [(WSTART + i * STEP, v) for i, v in enumerate(noisy(300.0, 30))]
    assert detect_onset(series(vals), WSTART, bad="both") is not None
    assert detect_onset(series(vals), WSTART, bad="both", seasonal=yesterday) is None


def test_template_shifts_find_new_and_jumped_templates():
    """A template absent before is `new`; one 10× more frequent is a `jump`; steady ones are ignored."""
    before = ["ERROR cache miss for key 17"] * 10 + ["WARN slow query took 120ms"] * 2
    during = (["ERROR could not obtain connection from pool within 5000ms"] * 30 + ["ERROR cache miss for key 9"] * 10
              + ["WARN slow query took 900ms"] * 40)
    shifts = template_shifts(before, during, before_minutes=60, during_minutes=60)
    kinds = {s.kind: s for s in shifts}
    assert kinds["new"].example == "ERROR could not obtain connection from pool within 5000ms"
    assert kinds["new"].before == 0 and kinds["new"].during == 30
    assert kinds["jump"].during == 40 and all("cache miss" not in s.template for s in shifts)


def test_sparse_series_is_not_judged():
    """A low-traffic series with most expected points missing is too sparse to call an anomaly."""
    pts = series(noisy(0.02, 60))[::4] + series([0.05] * 30, start=WSTART)[::4]
    assert detect_onset(pts, WSTART, expected=(30, 60)) is None
    dense = series(noisy(0.02, 60) + [0.05] * 30)
    assert detect_onset(dense, WSTART, expected=(30, 60)) is not None
