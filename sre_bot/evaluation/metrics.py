"""The evaluation's numbers, from result rows. Pure: rows in, one summary out, each number with what it counts.

- correlation: pairwise precision / recall / F1 over alert pairs, pooled over scenarios (micro), and how many
  incidents the correlator made against the truth's; the incident root service against the truth's root.
- root service top-1 / top-3: over cases whose truth names a cause; an abstention is a miss.
- cause kind: the top cause's kind equals the truth's (cases whose truth cause is one of the truth's cause kinds;
  a benchmark's own categories, such as a code fault or "incident", are not scored).
- abstention: of the cases whose truth is "no cause", the share answered "insufficient evidence"; false
  abstentions: of the cases with a cause, the share that abstained.
- grounding: verified ÷ shown quotes, pooled (must be 1.0).
- action: of the cases whose truth names the right action (or none), the share whose first suggestion is it.
- gaps: of the cases run with a backend down or absent, the share whose answer names it.
- calibration: Brier score and ECE of the stated confidences (a point per answer that named a cause: right when
  its top service is the true root), of the calibrated ones as shown, and of a leave-one-out refit (each point
  mapped by a calibration fitted on all the others: an estimate of fitting on the library that is not in-sample).
- selective: accuracy and coverage of the answers kept when only those with confidence ≥ a threshold are trusted
  (`selective.py`), on the confidences as shown (calibrated when the cases carry one); the questions are the fault
  cases plus the no-cause cases that named a cause anyway (each an answer, and a wrong one), so a fault case that
  abstained is a question not covered and coverage never exceeds 1; with the AURC, its floor for the same answers
  (perfect ranking), and the smallest threshold whose answers are right 90% of the time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from statistics import mean
from typing import Any

from ..analysis.calibration import Calibration, CalibrationPoint, brier, expected_calibration_error, reliability_bins
from ..sandbox.truth import CAUSE_KINDS
from .results import CaseResult, ScenarioResult
from .selective import aurc, optimal_aurc, risk_coverage, trusted

__all__ = ["pair_counts", "summarize", "calibration_points", "rate", "METRIC_LABELS"]

METRIC_LABELS = {
    "correlation_f1": "correlation pairwise F1", "incident_root": "incident root service",
    "top1": "root service top-1", "top3": "root service top-3", "cause_kind": "cause kind",
    "abstention": "correct abstention", "false_abstention": "false abstention", "grounding": "grounding",
    "action": "suggested action", "gaps": "backend gaps said", "brier": "Brier (as shown)",
    "ece": "ECE (as shown)", "brier_calibrated": "Brier (calibrated)", "ece_calibrated": "ECE (calibrated)",
    "brier_loo": "Brier (Platt refit, leave-one-out)", "ece_loo": "ECE (Platt refit, leave-one-out)",
    "errors": "errors (crashes)",
}


def _c2(n: int) -> int:
    return n * (n - 1) // 2


def pair_counts(truth: Sequence[str], pred: Sequence[str]) -> tuple[int, int, int]:
    """(pairs together in both, pairs together in the truth, pairs together in the prediction)."""
    both = sum(_c2(v) for v in Counter(zip(truth, pred, strict=False)).values())
    return both, sum(_c2(v) for v in Counter(truth).values()), sum(_c2(v) for v in Counter(pred).values())


def rate(hits: int, n: int) -> dict[str, Any]:
    return {"value": hits / n if n else None, "hits": hits, "n": n}


def calibration_points(cases: Sequence[CaseResult], *, calibrated: bool = False) -> list[CalibrationPoint]:
    out = []
    for c in cases:
        p = c.point
        if p is None:
            continue
        conf = c.calibrated if calibrated and c.calibrated is not None else p[0]
        out.append(CalibrationPoint(conf, p[1]))
    return out


def _loo(points: list[CalibrationPoint], source: str) -> list[CalibrationPoint]:
    return [CalibrationPoint(Calibration.fit(points[:i] + points[i + 1:], source=source).apply(p.confidence),
                             p.correct) for i, p in enumerate(points)]


def _calibration(cases: Sequence[CaseResult], source: str) -> dict[str, Any]:
    stated = calibration_points(cases)
    shown = calibration_points(cases, calibrated=True) if any(c.calibrated is not None for c in cases) else []
    loo = _loo(stated, source)
    fitted = Calibration.fit(stated, source=source)
    return {
        "points": len(stated), "right": sum(p.correct for p in stated),
        "brier": brier(stated), "ece": expected_calibration_error(stated),
        "brier_calibrated": brier(shown), "ece_calibrated": expected_calibration_error(shown),
        "brier_loo": brier(loo), "ece_loo": expected_calibration_error(loo),
        "fitted": fitted.to_dict(),
        "bins": [b.__dict__ for b in reliability_bins(stated)],
        "bins_calibrated": [b.__dict__ for b in reliability_bins(shown)] if shown else [],
        "pairs": [[p.confidence, p.correct] for p in stated],
    }


def _selective(cases: Sequence[CaseResult]) -> dict[str, Any]:
    calibrated = any(c.calibrated is not None for c in cases)
    points = calibration_points(cases, calibrated=calibrated)
    faults = sum(1 for c in cases if c.fault)
    accusations = sum(1 for c in cases if not c.fault and c.point is not None)
    total = faults + accusations
    rows = risk_coverage(points, total)
    best = trusted(rows)
    return {"confidence": "calibrated" if calibrated else "stated", "total": total, "fault_cases": faults,
            "no_cause_answers": accusations, "answers": len(points), "rows": [r.to_dict() for r in rows],
            "aurc": aurc(points, total), "aurc_optimal": optimal_aurc(points, total),
            "trusted": best.to_dict() if best else None}


def summarize(scenarios: Sequence[ScenarioResult], *, source: str = "scenario library") -> dict[str, Any]:
    cases = [c for s in scenarios for c in s.cases]
    faults = [c for c in cases if c.fault]
    nones = [c for c in cases if c.truth_cause == "none"]
    kinds = [c for c in faults if c.truth_cause in CAUSE_KINDS]
    acted = [c for c in cases if c.action_ok is not None]
    gapped = [c for c in cases if c.gaps_expected]
    corr = [s.correlation for s in scenarios if s.correlation is not None]
    both, t, p = (sum(x.pairs_both for x in corr), sum(x.pairs_truth for x in corr),
                  sum(x.pairs_predicted for x in corr))
    shown = sum(c.quotes_shown or 0 for c in cases)
    verified = sum(c.quotes_verified or 0 for c in cases)
    walls = [s.wall_s for s in scenarios]
    tokens: Counter[str] = Counter()
    for c in cases:
        tokens.update(c.tokens)
    return {
        "scenarios": len(scenarios), "cases": len(cases), "fault_cases": len(faults), "no_cause_cases": len(nones),
        "errors": sum(1 for s in scenarios if s.error) + sum(1 for c in cases if c.error),
        "answered_by": dict(Counter(c.answered_by for c in cases)),
        "correlation_f1": {"value": 2 * both / (p + t) if p + t else None, "precision": both / p if p else None,
                           "recall": both / t if t else None, "pairs_both": both, "pairs_truth": t,
                           "pairs_predicted": p, "scenarios": len(corr),
                           "alerts": sum(x.alerts for x in corr), "incidents": sum(x.incidents for x in corr),
                           "truth_incidents": sum(x.truth_incidents for x in corr)},
        "incident_root": rate(sum(x.roots_right for x in corr), sum(x.roots_scored for x in corr)),
        "top1": rate(sum(c.top1 for c in faults), len(faults)),
        "top3": rate(sum(c.top3 for c in faults), len(faults)),
        "cause_kind": rate(sum(c.kind_ok for c in kinds), len(kinds)),
        "abstention": rate(sum(c.abstained for c in nones), len(nones)),
        "false_abstention": rate(sum(c.abstained for c in faults), len(faults)),
        "grounding": {"value": verified / shown if shown else None, "hits": verified, "n": shown,
                      "source_checked": sum(c.quotes_source_checked or 0 for c in cases)},
        "action": rate(sum(bool(c.action_ok) for c in acted), len(acted)),
        "gaps": rate(sum(len(c.gaps_said) == len(c.gaps_expected) for c in gapped), len(gapped)),
        "calibration": _calibration(cases, source),
        "selective": _selective(cases),
        "tokens": dict(tokens), "cost_usd": round(sum(c.cost_usd or 0.0 for c in cases), 6),
        "wall_s": {"total": round(sum(walls), 2), "mean_per_scenario": round(mean(walls), 3) if walls else None,
                   "max_per_scenario": round(max(walls), 3) if walls else None},
    }
