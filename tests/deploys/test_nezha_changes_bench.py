"""The bad-change benchmark's own logic: harmless changes are free of every fault's effect, the scores count right,
and a Nezha fault that shows in the metrics is judged bad through the same `judge` the bot uses."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from benchmarks import nezha_changes as nc
from benchmarks._nezha_data import load_day
from benchmarks._nezha_quiet import FAULT_EFFECT_S
from sre_bot.analysis.change_verdict import Thresholds, judge
from sre_bot.config import load_config

DATA = Path(__file__).resolve().parents[3] / "shared" / "benchmarks" / "nezha"


@pytest.fixture(scope="module")
def day():
    if not (DATA / "2022-08-22").is_dir():
        pytest.skip(f"no Nezha data under {DATA}")
    d = load_day(DATA, "2022-08-22")
    config = load_config(nc.REPO_ROOT / "benchmarks" / "nezha" / nc.CONFIGS[d.name], required=True)
    return d, config, nc._changes(d, config, random.Random(nc.SEED))


def test_harmless_changes_see_no_fault_after_them(day):
    """No fault's effect (inject … inject + 8 min) overlaps a harmless change's longest after-window."""
    d, _, changes = day
    harmless = [c for c in changes if not c.bad]
    assert len(harmless) >= 10 and sum(c.bad for c in changes) == len(d.faults)
    for c in harmless:
        start, end = c.at.timestamp(), c.at.timestamp() + max(nc.WAITS) * 60
        for f in d.faults:
            assert not (f.at.timestamp() < end and start < f.at.timestamp() + FAULT_EFFECT_S), (c, f.index)


def test_a_cpu_fault_is_bad(day):
    """shippingservice's cpu_contention at 07:26:48 (CPU ×40, p95 ×80) is `bad` at +5 min."""
    d, config, changes = day
    [c] = [c for c in changes if c.bad and c.service == "shippingservice" and c.kind == "cpu_contention"]
    v = judge(nc._samples(d, config, c, 5, 30), thresholds=Thresholds())
    assert v.verdict == "bad" and any("shippingservice" in r for r in v.reasons)


def test_scores():
    """Precision and recall of a flag over bad and harmless rows."""
    rows = [{"bad": True, "x": True}, {"bad": True, "x": False}, {"bad": False, "x": True}, {"bad": False, "x": False}]
    s = nc._score(rows, "x")
    assert (s["tp"], s["fp"], s["precision"], s["recall"]) == (1, 1, 0.5, 0.5)
