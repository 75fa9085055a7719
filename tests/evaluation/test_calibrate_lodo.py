"""Choosing the calibration out of sample (sre_bot/evaluation/calibrate.py): leave-one-dataset-out, baselines,
the abstention threshold."""

from __future__ import annotations

import random

import pytest

from sre_bot.analysis.calibration import CalibrationPoint
from sre_bot.evaluation.calibrate import (
    Question,
    balanced,
    choose,
    held_out,
    pick_threshold,
    score_points,
    thresholds_table,
)


def _questions(dataset: str, n: int, accuracy_at: float, rng: random.Random, quiet: int = 0) -> list[Question]:
    """A dataset whose engine is right more often at higher confidence; `quiet` no-fault questions."""
    out = []
    for i in range(n + quiet):
        conf = rng.uniform(0.1, 0.95)
        k = rng.randint(1, 6)
        right = i < n and rng.random() < min(1.0, conf * accuracy_at)
        scores = tuple(sorted((rng.uniform(0.1, 0.9) for _ in range(k)), reverse=True))
        confs = (conf, *(conf * 0.5 for _ in range(k - 1)))
        out.append(Question(dataset=dataset, name=f"{dataset}/{i}", scores=scores, confidences=confs,
                            truth=(right, *([False] * (k - 1))), fault=i < n))
    return out


def test_each_dataset_is_scored_by_a_fit_that_never_saw_it() -> None:
    rng = random.Random(3)
    qs = _questions("a", 40, 1.0, rng) + _questions("b", 40, 0.5, rng) + _questions("c", 30, 1.2, rng, quiet=6)
    fits, probs = held_out(qs, "platt")
    assert set(fits) == {"a", "b", "c"} and fits["a"].source == "all but a"
    assert fits["a"].points == 76  # b's 40 and c's 36: never a's own
    assert all(p is not None for p in probs)
    method, table, all_probs = choose(qs)
    assert method in table and set(all_probs) == {"identity", "platt", "isotonic", "logistic"}
    best = table[method]["mean_brier"]
    assert all(best <= row["mean_brier"] for row in table.values())
    assert set(table[method]["datasets"]) == {"a", "b", "c"}


def test_every_dataset_weighs_the_same_in_a_fit() -> None:
    rng = random.Random(1)
    qs = _questions("big", 90, 1.0, rng) + _questions("small", 10, 1.0, rng)
    w = balanced(qs)
    assert sum(w[:90]) == pytest.approx(1.0) and sum(w[90:]) == pytest.approx(1.0)


def test_scores_include_the_base_rate_baseline_and_the_high_confidence_slice() -> None:
    pts = [CalibrationPoint(0.9, True)] * 8 + [CalibrationPoint(0.85, False)] * 2 + [CalibrationPoint(0.2, False)] * 10
    s = score_points(pts)
    assert s["points"] == 20 and s["right"] == 8 and s["base_rate"] == 0.4
    assert s["brier_base_rate"] == pytest.approx(0.24)
    assert s["high"] == {"at_least": 0.8, "answers": 10, "right": 8}
    assert s["mean_when_right"] == pytest.approx(0.9) and s["mean_when_wrong"] == pytest.approx((1.7 + 2.0) / 12)


def test_the_threshold_trades_missed_answers_for_wrong_ones_per_dataset() -> None:
    """No-fault questions abstain when their probability is low; the pick maximises right − wrong per question."""
    q = [Question("d", "right", (0.9,), (0.9,), (True,), True),
         Question("d", "wrong", (0.5,), (0.3,), (False,), True),
         Question("d", "quiet", (0.4,), (0.2,), (False,), False),
         Question("d", "past", (0.9,), (0.9,), (True,), True, forced=True),
         Question("d", "nothing", (), (), (), False)]
    rows = thresholds_table(q, [0.9, 0.3, 0.2, 0.9, None], thresholds=(0.0, 0.25, 0.5))
    by = {r["threshold"]: r for r in rows}
    assert by[0.0]["quiet_abstained"] == 1 and by[0.0]["fault_abstained"] == 1 and by[0.0]["named"] == 3
    assert by[0.25]["quiet_abstained"] == 2 and by[0.25]["named"] == 2 and by[0.25]["net"] == 0
    assert by[0.5]["named"] == 1 and by[0.5]["net"] == 1
    assert pick_threshold(rows) == 0.5
    assert by[0.5]["datasets"]["d"]["fault_abstained"] == 2
