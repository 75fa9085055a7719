"""Selective accuracy: the risk–coverage rows, the AURC, the Markdown, the summary field, the report and the PNG."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from sre_bot.analysis.calibration import CalibrationPoint
from sre_bot.evaluation.diagram import risk_coverage_png
from sre_bot.evaluation.metrics import summarize
from sre_bot.evaluation.report import render_markdown, run_document, write_report
from sre_bot.evaluation.results import CaseResult, ScenarioResult
from sre_bot.evaluation.selective import (
    THRESHOLDS,
    SelectiveRow,
    aurc,
    describe_trusted,
    optimal_aurc,
    render_table,
    risk_coverage,
    trusted,
)

P = CalibrationPoint
POINTS = [P(0.95, True), P(0.85, True), P(0.75, False), P(0.55, True), P(0.35, False), P(0.05, False)]
MACHINE = {"cpu": "cpu", "cpu_count": 2, "python": "3.11"}


def _results() -> list[ScenarioResult]:
    """Two fault cases answered (calibrated 0.8 each, one right), one fault abstained, one no-cause abstained,
    and one no-cause case that named a service anyway (stated 0.4, no calibrated value)."""
    right = CaseResult(scenario="a", case="a", truth_root="db", truth_cause="bad_deploy", services=["db", "api"],
                       cause_kind="bad_deploy", confidence=0.7, calibrated=0.8)
    wrong = CaseResult(scenario="b", case="b", truth_root="db", truth_cause="dependency_outage",
                       services=["api", "web", "db"], confidence=0.6, calibrated=0.8)
    false_abstain = CaseResult(scenario="b", case="c", truth_root="api", truth_cause="bad_deploy", abstained=True)
    abstain = CaseResult(scenario="c", case="d", truth_cause="none", abstained=True)
    accuse = CaseResult(scenario="c", case="e", truth_cause="none", services=["web"], confidence=0.4)
    return [ScenarioResult("a", cases=[right], wall_s=1.0), ScenarioResult("b", cases=[wrong, false_abstain]),
            ScenarioResult("c", cases=[abstain, accuse])]


def _doc(results: list[ScenarioResult]) -> dict[str, Any]:
    return run_document(tool="t", title="test eval", scenarios=results, summary=summarize(results),
                        settings={"engine": "x"}, elapsed_s=1.0, machine=MACHINE)


def test_rows_count_answers_at_or_above_each_threshold() -> None:
    """Each row keeps the points with confidence ≥ its threshold: answered, right, accuracy, coverage of all."""
    rows = risk_coverage(POINTS)
    assert [r.threshold for r in rows] == list(THRESHOLDS)
    assert [(r.answered, r.right) for r in rows] == [(6, 3), (5, 3), (5, 3), (5, 3), (4, 3), (4, 3), (3, 2), (3, 2),
                                                     (2, 2), (1, 1)]
    assert rows[0] == SelectiveRow(threshold=0.0, answered=6, coverage=1.0, right=3, accuracy=0.5)
    assert rows[6].accuracy == pytest.approx(2 / 3) and rows[6].coverage == pytest.approx(0.5)
    assert (rows[9].answered, rows[9].right, rows[9].accuracy) == (1, 1, 1.0)
    assert rows[9].coverage == pytest.approx(1 / 6)


def test_a_confidence_on_the_threshold_counts() -> None:
    """0.7 (or 0.7 a hair under, from arithmetic) is kept at "≥ 0.7"; 0.69 is not."""
    rows = risk_coverage([P(0.7, True), P(0.7 - 1e-12, True), P(0.69, False)], thresholds=(0.7,))
    assert (rows[0].answered, rows[0].right) == (2, 2)


def test_abstentions_lower_coverage_not_accuracy() -> None:
    """With 10 questions and 6 answers, coverage is out of 10; accuracy is still out of the answers kept."""
    rows = risk_coverage(POINTS, total=10)
    assert rows[0].coverage == pytest.approx(0.6) and rows[0].accuracy == 0.5
    assert rows[8].coverage == pytest.approx(0.2) and rows[8].accuracy == 1.0
    with pytest.raises(ValueError, match="total 5"):
        risk_coverage(POINTS, total=5)


def test_trusted_is_the_smallest_threshold_right_90_percent_of_the_time() -> None:
    """≥ 0.8 is the first threshold whose answers are all right; none qualifies when accuracy never reaches 90%."""
    rows = risk_coverage(POINTS, total=10)
    best = trusted(rows)
    assert best is not None and best.threshold == 0.8
    assert describe_trusted(best) == ("Answers with confidence ≥ 0.8 were right 100% of the time (2/2 answers, 20% of "
                                      "the questions).")
    assert trusted(risk_coverage([P(0.9, True), P(0.9, False)])) is None
    assert describe_trusted(None).startswith("No confidence threshold gives answers right 90%")


def test_aurc_by_hand_and_with_unanswered_questions() -> None:
    """Ranked T T F T F F: risks 0, 0, 1/3, 1/4, 2/5, 3/6; two more questions unanswered add 4/7 and 5/8."""
    base = [0, 0, 1 / 3, 1 / 4, 2 / 5, 3 / 6]
    assert aurc(POINTS) == pytest.approx(sum(base) / 6)
    assert aurc(POINTS, 8) == pytest.approx((sum(base) + 4 / 7 + 5 / 8) / 8)
    assert aurc(list(reversed(POINTS))) == aurc(POINTS)  # the input order does not matter


def test_aurc_of_a_perfect_ranking_beats_a_reversed_one() -> None:
    """Right answers first: risks 0, 0, 1/3, 1/2; wrong answers first: 1, 1, 2/3, 1/2; the perfect one is the floor."""
    perfect = [P(0.9, True), P(0.8, True), P(0.2, False), P(0.1, False)]
    reverse = [P(0.9, False), P(0.8, False), P(0.2, True), P(0.1, True)]
    assert aurc(perfect) == pytest.approx((0 + 0 + 1 / 3 + 1 / 2) / 4)
    assert aurc(reverse) == pytest.approx((1 + 1 + 2 / 3 + 1 / 2) / 4)
    assert optimal_aurc(reverse) == pytest.approx(aurc(perfect))


def test_aurc_takes_the_expected_risk_within_a_tie() -> None:
    """Two answers at the same confidence, one right: 0.5 at either coverage, whichever comes first in the input."""
    assert aurc([P(0.5, True), P(0.5, False)]) == pytest.approx(0.5)
    assert aurc([P(0.5, False), P(0.5, True)]) == pytest.approx(0.5)


def test_empty_input() -> None:
    """No answers: no accuracy anywhere; coverage 0 out of some questions, undefined out of none; AURC 1 or None."""
    rows = risk_coverage([])
    assert all(r.answered == 0 and r.accuracy is None and r.coverage is None for r in rows)
    assert all(r.coverage == 0.0 for r in risk_coverage([], total=3))
    assert aurc([]) is None and aurc([], 3) == 1.0 and trusted(rows) is None


def test_render_table_is_markdown() -> None:
    """A header, a right-aligned rule, and a row per threshold with counts and percentages (— for no answers)."""
    rows = risk_coverage([P(0.85, True), P(0.45, False)], total=4, thresholds=(0.0, 0.5, 0.9))
    assert render_table(rows).splitlines() == [
        "| confidence ≥ | answers | coverage | right | accuracy |",
        "|---:|---:|---:|---:|---:|",
        "| 0.0 | 2 | 50.0% | 1 | 50.0% |",
        "| 0.5 | 1 | 25.0% | 1 | 100.0% |",
        "| 0.9 | 0 | 0.0% | 0 | — |",
    ]
    assert SelectiveRow.from_dict(rows[2].to_dict()) == rows[2]


def test_summarize_carries_selective_on_the_shown_confidences() -> None:
    """Calibrated confidences as shown (stated where a case has none); questions = 3 fault cases + 1 accusation."""
    sel = summarize(_results())["selective"]
    assert (sel["confidence"], sel["total"], sel["fault_cases"], sel["no_cause_answers"], sel["answers"]) == (
        "calibrated", 4, 3, 1, 3)
    rows = {r["threshold"]: r for r in sel["rows"]}
    assert rows[0.0] == {"threshold": 0.0, "answered": 3, "coverage": 0.75, "right": 1, "accuracy": pytest.approx(1 / 3)}
    assert rows[0.5] == {"threshold": 0.5, "answered": 2, "coverage": 0.5, "right": 1, "accuracy": 0.5}
    assert rows[0.9]["answered"] == 0 and rows[0.9]["accuracy"] is None
    # the tie at 0.8 (one right, one wrong), then the accusation at 0.4, then the abstained fault case
    assert sel["aurc"] == pytest.approx((0.5 + 0.5 + 2 / 3 + 3 / 4) / 4)
    assert sel["aurc_optimal"] == pytest.approx((0 + 1 / 2 + 2 / 3 + 3 / 4) / 4)
    assert sel["trusted"] is None


def test_summarize_uses_stated_confidences_without_calibrated_ones() -> None:
    """No case carries a calibrated value: the stated confidences are the ones selected on."""
    case = CaseResult(scenario="a", case="a", truth_root="db", truth_cause="bad_deploy", services=["db"],
                      confidence=0.95)
    sel = summarize([ScenarioResult("a", cases=[case])])["selective"]
    assert sel["confidence"] == "stated" and sel["trusted"]["threshold"] == 0.0 and sel["aurc"] == 0.0


def test_report_renders_the_section_and_json_carries_it(tmp_path: Path) -> None:
    """The Markdown has the table, the AURC and the plot's name; the JSON has the summary field."""
    doc = _doc(_results())
    md = render_markdown(doc, png=None, png_note="no reason", rc_png="x-risk-coverage.png")
    section = md.split("## Selective accuracy", 1)[1].split("## Cases", 1)[0]
    assert "![risk–coverage plot](x-risk-coverage.png)" in section
    assert "| 0.5 | 2 | 50.0% | 1 | 50.0% |" in section and "AURC" in section and "0.604" in section
    assert "4 questions (3 with a true root cause, 1 without one that named a cause anyway" in section
    assert "No confidence threshold gives answers right 90%" in section
    md = render_markdown(doc, png=None, rc_png_note="matplotlib is not installed")
    assert "(No risk–coverage plot: matplotlib is not installed.)" in md
    paths = write_report(doc, tmp_path, stem="x")
    assert json.loads(paths["json"].read_text())["summary"]["selective"]["total"] == 4


def test_report_without_questions_says_so() -> None:
    """No fault case and no answer: the section says there is nothing to select."""
    doc = _doc([ScenarioResult("c", cases=[CaseResult(scenario="c", case="d", truth_cause="none", abstained=True)])])
    assert "nothing to select" in render_markdown(doc, png=None)


def test_no_plot_without_matplotlib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without matplotlib nothing is written and the reason is given; without answers, likewise."""
    rows = risk_coverage(POINTS)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now raises ImportError
    assert "matplotlib is not installed" in (risk_coverage_png({"a": rows}, tmp_path / "a.png", title="t") or "")
    assert not (tmp_path / "a.png").exists()
    assert risk_coverage_png({"a": risk_coverage([])}, tmp_path / "b.png", title="t") == "no answer stated a confidence"


def test_png_written_next_to_the_reliability_one(tmp_path: Path) -> None:
    """With matplotlib: one PNG for several datasets, and `write_report` writes `<stem>-risk-coverage.png`."""
    pytest.importorskip("matplotlib")
    path = tmp_path / "rc.png"
    series = {"Nezha": risk_coverage(POINTS, total=8), "library": risk_coverage(POINTS[:3])}
    assert risk_coverage_png(series, path, title="two datasets") is None
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    write_report(_doc(_results()), tmp_path, stem="x")
    assert (tmp_path / "x-risk-coverage.png").exists() and (tmp_path / "x-reliability.png").exists()
    assert "![risk–coverage plot](x-risk-coverage.png)" in (tmp_path / "x.md").read_text()
