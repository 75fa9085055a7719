"""Calibration scores and the fitted mapping (sre_bot/analysis/calibration.py)."""

from __future__ import annotations

import pytest

from sre_bot.analysis.calibration import (
    Calibration,
    CalibrationPoint,
    brier,
    choose_calibration,
    expected_calibration_error,
    reliability_bins,
)

P = CalibrationPoint


def test_brier_and_ece_on_known_points() -> None:
    """Brier is the mean squared error; ECE weighs each bin's |accuracy − confidence| by its share."""
    pts = [P(0.9, True), P(0.9, False), P(0.2, False), P(0.2, False)]
    assert brier(pts) == pytest.approx((0.01 + 0.81 + 0.04 + 0.04) / 4)
    # bin 0.9: accuracy 0.5 vs 0.9 (half the points); bin 0.2: accuracy 0 vs 0.2 (half)
    assert expected_calibration_error(pts) == pytest.approx(0.5 * 0.4 + 0.5 * 0.2)
    assert brier([]) is None and expected_calibration_error([]) is None


def test_reliability_bins_cover_zero_to_one() -> None:
    """Ten equal bins; a confidence of exactly 1.0 falls in the last one; empty bins say so."""
    bins = reliability_bins([P(1.0, True), P(0.05, False)])
    assert len(bins) == 10 and bins[-1].count == 1 and bins[-1].accuracy == 1.0
    assert bins[0].count == 1 and bins[0].accuracy == 0.0 and bins[5].count == 0 and bins[5].accuracy is None


def test_too_few_points_or_one_class_gives_the_identity() -> None:
    """Below the minimum, or with only right (or only wrong) answers, nothing is learned."""
    few = Calibration.fit([P(0.6, True), P(0.4, False)], source="scenario library")
    assert few.method == "identity" and few.apply(0.63) == 0.63 and few.points == 2
    assert "too few" in few.describe()
    same = Calibration.fit([P(0.5 + i / 100, True) for i in range(20)], source="scenario library")
    assert same.method == "identity"


def test_underconfident_scores_are_raised_and_order_is_kept() -> None:
    """Answers right 90% of the time at a stated 0.5 map well above 0.5, monotonically."""
    pts = [P(0.5, i % 10 != 0) for i in range(40)] + [P(0.3, i % 2 == 0) for i in range(20)]
    cal = Calibration.fit(pts, source="scenario library")
    assert cal.method == "platt" and cal.points == 60 and cal.correct == 46
    assert 0.8 < cal.apply(0.5) < 0.95
    assert cal.apply(0.3) < cal.apply(0.5) < cal.apply(0.7)
    assert brier([P(cal.apply(p.confidence), p.correct) for p in pts]) < brier(pts)
    assert "scenario library (60 answers, 46 right)" in cal.describe()


def test_anti_informative_scores_never_invert_the_order() -> None:
    """When higher confidence is wronger, the slope is clamped to 0: every score maps to the base rate."""
    pts = [P(0.9, False)] * 10 + [P(0.2, True)] * 10
    cal = Calibration.fit(pts, source="team feedback")
    assert cal.a == 0.0 and cal.apply(0.9) == pytest.approx(cal.apply(0.2))
    assert cal.apply(0.5) == pytest.approx(0.5, abs=0.05)


def test_round_trip_and_choice_between_library_and_feedback() -> None:
    """A calibration survives to_dict/from_dict; feedback wins only once fitted on enough points."""
    lib = Calibration.fit([P(0.5, i % 4 != 0) for i in range(12)] + [P(0.2, False)] * 4, source="scenario library")
    assert Calibration.from_dict(lib.to_dict()) == lib
    with pytest.raises(ValueError, match="unknown calibration method"):
        Calibration.from_dict({**lib.to_dict(), "method": "magic"})
    small = Calibration.fit([P(0.5, i % 3 != 0) for i in range(10)], source="team feedback")
    assert choose_calibration(lib, small, min_feedback=30) is lib
    big = Calibration.fit([P(0.5, i % 3 != 0) for i in range(40)] + [P(0.2, False)] * 5, source="team feedback")
    assert choose_calibration(lib, big, min_feedback=30) is big
    assert choose_calibration(None, None) is None


def _ranking(n: int, top_conf: float, right: bool) -> tuple[list[float], list[float], list[bool]]:
    scores = [0.9 - 0.1 * i for i in range(n)]
    confs = [top_conf] + [max(0.05, top_conf / 2 - 0.05 * i) for i in range(1, n)]
    return scores, confs, [right] + [False] * (n - 1)


def test_every_method_fits_and_maps_a_ranking_to_non_increasing_probabilities() -> None:
    """scikit-learn fits each method; applying it is plain arithmetic; a runner-up never outranks the top."""
    from sre_bot.analysis.calibration import METHODS, fit_method

    rankings = [_ranking(2 + i % 5, 0.3 + 0.6 * (i % 10) / 10, i % 10 >= 4) for i in range(60)]
    for method in METHODS:
        cal = fit_method(method, rankings, source="test")
        assert cal.method == method and cal.points == 60 and cal.correct == 36
        probs = cal.rank_probabilities(*rankings[7][:2])
        assert all(0 <= p <= 1 for p in probs) and probs == sorted(probs, reverse=True)
        assert Calibration.from_dict(cal.to_dict()).rank_probabilities(*rankings[7][:2]) == probs
    fitted = fit_method("logistic", rankings, source="test")
    low, high = fitted.rank_probabilities(*_ranking(3, 0.3, False)[:2]), fitted.rank_probabilities(
        *_ranking(3, 0.9, True)[:2])
    assert low[0] < 0.5 < high[0]


def test_dataset_weights_change_the_fit_and_one_class_gives_the_identity() -> None:
    from sre_bot.analysis.calibration import fit_method

    rankings = [_ranking(3, 0.8, True)] * 20 + [_ranking(3, 0.8, False)] * 5
    even = fit_method("platt", rankings, source="t")
    weighted = fit_method("platt", rankings, source="t", weights=[1.0] * 20 + [4.0] * 5)
    assert even.apply(0.8) > 0.7 and weighted.apply(0.8) == pytest.approx(0.5, abs=0.05)
    assert fit_method("logistic", [_ranking(3, 0.8, False)] * 10, source="t").method == "identity"


def test_a_bad_calibration_file_is_refused_with_a_reason() -> None:
    from sre_bot.analysis.calibration import fit_method

    good = fit_method("logistic", [_ranking(2 + i % 3, 0.2 + i / 50, i % 3 == 0) for i in range(30)],
                      source="t").to_dict()
    with pytest.raises(ValueError, match="other features"):
        Calibration.from_dict({**good, "features": ["something", "else"]})
    with pytest.raises(ValueError, match="positive scale"):
        Calibration.from_dict({**good, "scale": [0.0, 1.0]})
    with pytest.raises(ValueError, match="sorted xs"):
        Calibration.from_dict({"method": "isotonic", "source": "t", "points": 1, "correct": 1, "xs": [0.5, 0.1],
                               "ys": [0.1, 0.2]})
    with pytest.raises(ValueError, match="whole ranking"):
        Calibration.from_dict(good).apply(0.5)
