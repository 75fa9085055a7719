"""Pure analysis: baseline comparison and log templates on small hand-made data."""

import math

from sre_bot.analysis.baseline import compare
from sre_bot.analysis.log_templates import mine_templates


def test_flat_series_is_normal():
    """A flat series equal to its flat baseline is normal."""
    assert compare([1.0] * 10, [1.0] * 10).verdict == "normal"


def test_step_up_is_high():
    """A latency step from 45 ms to 890 ms is high, with the ratio."""
    base = [0.045 + 0.002 * math.sin(i) for i in range(60)]
    c = compare([0.045] * 5 + [0.89] * 15, base, min_abs=0.01)
    assert c.verdict == "high" and c.ratio > 10


def test_drop_only_counts_when_down_is_bad():
    """A traffic drop is `low` for a both-ways signal but normal for an up-is-bad one."""
    base = [100.0 + (i % 3) for i in range(30)]
    assert compare([20.0] * 10, base, bad="both").verdict == "low"
    assert compare([20.0] * 10, base, bad="up").verdict == "normal"


def test_single_spike_is_not_enough():
    """One spike in an otherwise normal window does not flag the signal."""
    base = [1.0 + 0.05 * (i % 4) for i in range(40)]
    assert compare([1.0] * 19 + [9.0], base).verdict == "normal"


def test_small_absolute_change_is_ignored():
    """An error ratio going 0.0001 -> 0.0005 is below min_abs and stays normal."""
    assert compare([0.0005] * 10, [0.0001] * 30, min_abs=0.01).verdict == "normal"


def test_missing_points_and_no_data():
    """NaNs are skipped; an empty window is no_data; a tiny baseline is no_baseline."""
    assert compare([math.nan, 1.0, math.nan, 1.0], [1.0, 1.0, 1.0]).verdict == "normal"
    assert compare([], [1.0] * 5).verdict == "no_data"
    assert compare([1.0], [1.0]).verdict == "no_baseline"


def test_templates_group_variable_parts_and_keep_a_verbatim_example():
    """Lines differing only in numbers and ids form one template; the example is a real input line."""
    lines = [f"2026-11-21T10:00:{i:02d}Z ERROR could not obtain connection from pool within {5000 + i}ms "
             f"trace={i:016x}" for i in range(20)] + ["2026-11-21T10:01:00Z WARN slow request 1200ms"] * 3
    ts = mine_templates(lines)
    assert [t.count for t in ts] == [20, 3]
    assert ts[0].example == lines[0]
    assert "<NUM>" in ts[0].template
