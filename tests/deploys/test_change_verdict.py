"""The pure bad-change verdict: healthy, suspicious and bad, the effect floor, the seasonality and onset guards, and
that odd series never make it crash."""

from __future__ import annotations

import math
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from sre_bot.analysis.change_verdict import SignalSamples, TemplateCounts, Thresholds, judge, kind_of


def _noise(level: float, n: int, seed: int, rel: float = 0.05) -> list[float]:
    rng = random.Random(seed)
    return [level * (1 + rng.uniform(-rel, rel)) for _ in range(n)]


def _sig(signal: str, unit: str, before: list[float], after: list[float], **kw) -> SignalSamples:
    return SignalSamples(service=kw.pop("service", "checkout"), signal=signal, title=signal.replace("_", " "),
                         unit=unit, bad=kw.pop("bad", "up"), before=before, after=after, **kw)


def _healthy_set(seed: int = 1) -> list[SignalSamples]:
    return [_sig("request_rate", "rps", _noise(12, 30, seed), _noise(12, 5, seed + 1), bad="both"),
            _sig("error_ratio", "ratio", _noise(0.003, 30, seed + 2, 0.3), _noise(0.003, 5, seed + 3, 0.3),
                 min_abs=0.01),
            _sig("latency_p95", "seconds", _noise(0.35, 30, seed + 4), _noise(0.35, 5, seed + 5), min_abs=0.01)]


def test_unchanged_signals_are_healthy():
    """Signals whose after-samples look like their before-samples give `healthy`, every signal judged."""
    v = judge(_healthy_set())
    assert v.verdict == "healthy" and v.judged == 3 and v.reasons == []
    assert "3 signals judged" in v.summary


def test_an_error_ratio_jump_is_bad_and_quoted_with_its_numbers():
    """checkout's error ratio 0.3% → 16% is `bad`; the reason quotes both medians, the p-value and the effect."""
    sigs = _healthy_set()
    sigs[1] = _sig("error_ratio", "ratio", [0.003] * 30, [0.16] * 5, min_abs=0.01)
    v = judge(sigs)
    assert v.verdict == "bad"
    [reason] = v.reasons
    assert reason.startswith("checkout error ratio: 0.30% before → 16.0% after (medians of 30 samples before and "
                             "the newest 3 of 5 after)")
    assert "p=" in reason and "effect +" in reason
    [f] = v.worse
    assert f.p_adjusted is not None and f.p_adjusted < 0.05 and f.effect is not None and f.effect > 40


def test_the_effect_floor_keeps_a_tiny_error_ratio_rise_healthy():
    """0.1% → 0.2% is significant (every sample doubled) but under the 1-point floor: not a finding."""
    sigs = [_sig("error_ratio", "ratio", _noise(0.001, 60, 1, 0.05), _noise(0.002, 10, 2, 0.05), min_abs=0.0)]
    v = judge(sigs)
    assert v.verdict == "healthy"
    assert v.signals[0].p_adjusted is not None and v.signals[0].p_adjusted < 0.001  # significant, yet too small


def test_a_resource_signal_alone_is_suspicious():
    """CPU up 80% with every symptom flat is `suspicious`, not `bad`."""
    sigs = _healthy_set() + [_sig("cpu", "cores", _noise(0.4, 30, 9), _noise(0.72, 5, 10), min_abs=0.05)]
    v = judge(sigs)
    assert v.verdict == "suspicious" and len(v.worse) == 1 and v.worse[0].kind == "saturation"


def test_a_resource_signal_far_past_its_floor_is_bad():
    """CPU ×10 (a saturated pod) is `bad` on its own: past `bad_rel_resource`."""
    sigs = _healthy_set() + [_sig("cpu", "ratio", _noise(0.05, 30, 26), _noise(0.9, 5, 27), min_abs=0.05)]
    assert judge(sigs).verdict == "bad"
    assert judge(sigs, thresholds=Thresholds(bad_rel_resource=float("inf"))).verdict == "suspicious"


def test_a_callers_symptom_alone_is_suspicious():
    """The frontend (a caller) getting slower while checkout's own signals are flat is `suspicious` at most."""
    sigs = _healthy_set() + [_sig("latency_p95", "seconds", _noise(0.2, 30, 11), _noise(1.2, 5, 12),
                                  service="frontend", caller=True, min_abs=0.01)]
    v = judge(sigs)
    assert v.verdict == "suspicious" and "(a caller)" in v.reasons[0]


def test_the_seasonality_guard_drops_a_rise_seen_yesterday_at_the_same_time():
    """Latency rising after the deploy exactly as it did at this time yesterday (the daily peak) is not a finding;
    without yesterday's samples the same rise is `bad`."""
    before, after = _noise(0.2, 30, 13), _noise(0.8, 5, 14)
    without = judge([_sig("latency_p95", "seconds", before, after, min_abs=0.01)])
    assert without.verdict == "bad"
    seasonal = judge([_sig("latency_p95", "seconds", before, after, day_before=_noise(0.8, 5, 15),
                           min_abs=0.01)])
    assert seasonal.verdict == "healthy" and seasonal.signals[0].status == "seasonal"
    assert "yesterday" in seasonal.signals[0].quote
    worse_than_yesterday = judge([_sig("latency_p95", "seconds", before, after, day_before=_noise(0.2, 5, 16),
                                       min_abs=0.01)])
    assert worse_than_yesterday.verdict == "bad"


def test_the_onset_guard_drops_what_began_before_the_change():
    """Latency already up in the minutes before the deploy did not come from it: status `earlier`, no finding."""
    s = _sig("latency_p95", "seconds", _noise(0.2, 30, 17), _noise(1.2, 5, 18), recent=_noise(1.0, 4, 19),
             min_abs=0.01)
    v = judge([s])
    assert v.verdict == "healthy" and v.signals[0].status == "earlier" and "began earlier" in v.signals[0].quote


def test_a_dependency_worse_before_the_change_makes_bad_only_suspicious():
    """The changed service slower after its deploy, but a service it calls was already slower before it: the
    verdict is `suspicious`, and the dependency is quoted."""
    own = _sig("latency_p95", "seconds", _noise(0.2, 30, 20), _noise(1.2, 5, 21), min_abs=0.01)
    dep = _sig("latency_p95", "seconds", _noise(0.1, 30, 22), [], service="search-api", dependency=True,
               recent=_noise(0.5, 6, 23), min_abs=0.01)
    assert judge([own]).verdict == "bad"
    v = judge([own, dep])
    assert v.verdict == "suspicious"
    assert any("search-api latency p95 (a dependency)" in r and "already worse" in r for r in v.reasons)


def test_a_new_error_template_alone_is_suspicious_and_with_a_symptom_bad():
    """A new error template (tested as a rate change) is `suspicious` alone; with a worse signal it is `bad`."""
    tpl = TemplateCounts(service="checkout", template="timeout calling <*>", example="timeout calling payments-api",
                         before=0, after=40, before_minutes=30, after_minutes=5)
    alone = judge(_healthy_set(), logs=[tpl])
    assert alone.verdict == "suspicious" and alone.logs[0].status == "new"
    assert "new error template" in alone.reasons[0] and "40 lines after" in alone.reasons[0]
    sigs = _healthy_set() + [_sig("cpu", "cores", _noise(0.4, 30, 24), _noise(0.72, 5, 25), min_abs=0.05)]
    assert judge(sigs, logs=[tpl]).verdict == "bad"
    steady = TemplateCounts(service="checkout", template="retry <*>", example="retry 1", before=60, after=10,
                            before_minutes=30, after_minutes=5)
    assert judge(_healthy_set(), logs=[steady]).logs[0].status == "ok"


def test_too_few_samples_is_unknown():
    """One sample after the change cannot be judged: `unknown`, each signal `too_few`."""
    v = judge([_sig("latency_p95", "seconds", _noise(0.2, 30, 1), [0.9])])
    assert v.verdict == "unknown" and v.signals[0].status == "too_few"


def test_signal_kinds():
    """Kinds come from the name and unit: errors, latency, traffic, saturation."""
    assert [kind_of("error_ratio", "ratio"), kind_of("latency_p95", "seconds"), kind_of("request_rate", "rps"),
            kind_of("cpu", "ratio"), kind_of("memory", "bytes")] == \
        ["errors", "latency", "traffic", "saturation", "saturation"]


def test_the_doc_is_plain_json():
    """`to_doc` has no infinities or NaN (a rise from zero has an infinite relative effect)."""
    v = judge([_sig("error_ratio", "ratio", [0.0] * 30, [0.2] * 5, min_abs=0.01)])
    doc = v.to_doc()
    assert v.verdict == "bad" and doc["signals"][0]["effect"] is None and doc["thresholds"]["alpha"] == 0.05


_values = st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32), st.just(0.0),
                             st.just(math.nan)), max_size=40)


@settings(max_examples=150, deadline=None)
@given(before=_values, after=_values, day=_values, recent=_values,
       bad=st.sampled_from(["up", "down", "both"]), unit=st.sampled_from(["ratio", "seconds", "rps", "bytes"]),
       dependency=st.booleans(), caller=st.booleans())
def test_never_crashes_on_odd_series(before, after, day, recent, bad, unit, dependency, caller):
    """NaN, infinities, empty, constant or one-sample series: a verdict, never an exception."""
    s = SignalSamples(service="x", signal="latency_p95" if unit == "seconds" else "sig", title="t", unit=unit,
                      bad=bad, before=before, after=after, day_before=day, recent=recent, dependency=dependency,
                      caller=caller and not dependency)
    v = judge([s, s], thresholds=Thresholds(min_after=1, min_before=1))
    assert v.verdict in ("healthy", "suspicious", "bad", "unknown")
    v.to_doc()
