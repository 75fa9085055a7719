"""The numbers and the report, the same for `sre-bot eval` and the benchmark runners (metrics.py, report.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sre_bot.evaluation.diagram import reliability_png
from sre_bot.evaluation.metrics import pair_counts, summarize
from sre_bot.evaluation.report import format_table, render_markdown, render_terminal, run_document, write_report
from sre_bot.evaluation.results import CaseResult, CorrelationResult, ScenarioResult
from sre_bot.evaluation.thresholds import check_thresholds


def _results() -> list[ScenarioResult]:
    right = CaseResult(scenario="a", case="a", truth_root="db", truth_cause="bad_deploy", services=["db", "api"],
                       cause_kind="bad_deploy", confidence=0.7, calibrated=0.8, actions=["argocd.rollback db"],
                       truth_action="argocd.rollback db", quotes_shown=4, quotes_verified=4, wall_s=0.5)
    wrong = CaseResult(scenario="b", case="b", truth_root="db", truth_cause="dependency_outage",
                       services=["api", "web", "db"], cause_kind=None, confidence=0.6, calibrated=0.8, actions=[],
                       truth_action="none", quotes_shown=2, quotes_verified=2, gaps_expected=["loki"],
                       gaps_said=["loki"], wall_s=0.5)
    false_abstain = CaseResult(scenario="b", case="c", truth_root="api", truth_cause="bad_deploy", abstained=True,
                               actions=[], truth_action="argocd.rollback api", quotes_shown=0, quotes_verified=0)
    abstain = CaseResult(scenario="c", case="d", truth_cause="none", abstained=True, actions=[], truth_action="none",
                         quotes_shown=0, quotes_verified=0)
    accuse = CaseResult(scenario="c", case="e", truth_cause="none", services=["web"], confidence=0.4, actions=[],
                        quotes_shown=1, quotes_verified=1)
    corr = CorrelationResult(alerts=3, truth_incidents=1, incidents=2, pairs_both=1, pairs_truth=3,
                             pairs_predicted=1, roots_right=1, roots_scored=1)
    return [ScenarioResult("a", cases=[right], correlation=corr, wall_s=1.0),
            ScenarioResult("b", cases=[wrong, false_abstain], wall_s=2.0),
            ScenarioResult("c", cases=[abstain, accuse], wall_s=1.0)]


def test_pair_counts_count_pairs_together() -> None:
    """Truth {x,x,x} vs prediction {p,p,q}: one pair right, three true pairs, one predicted pair."""
    assert pair_counts(["x", "x", "x"], ["p", "p", "q"]) == (1, 3, 1)
    assert pair_counts([], []) == (0, 0, 0)


def test_summarize_counts_each_metric_on_its_own_cases() -> None:
    """Top-1 over faults (an abstention is a miss), abstention over no-cause cases, calibration per named cause."""
    s = summarize(_results())
    assert (s["top1"]["hits"], s["top1"]["n"]) == (1, 3) and s["top3"]["hits"] == 2
    assert s["cause_kind"]["hits"] == 1 and s["false_abstention"]["hits"] == 1
    assert (s["abstention"]["hits"], s["abstention"]["n"]) == (1, 2)
    assert s["grounding"]["value"] == 1.0 and s["grounding"]["n"] == 7
    assert (s["action"]["hits"], s["action"]["n"]) == (3, 4) and s["gaps"]["value"] == 1.0
    assert s["correlation_f1"]["value"] == pytest.approx(2 * 1 / (1 + 3)) and s["incident_root"]["value"] == 1.0
    cal = s["calibration"]
    assert cal["points"] == 3 and cal["right"] == 1  # right, wrong, and the accusation on a no-cause case
    assert cal["brier"] == pytest.approx(((0.7 - 1) ** 2 + 0.6 ** 2 + 0.4 ** 2) / 3)
    assert cal["brier_calibrated"] == pytest.approx(((0.8 - 1) ** 2 + 0.8 ** 2 + 0.4 ** 2) / 3)


def test_terminal_and_markdown_show_cases_summary_and_failed_thresholds(tmp_path: Path) -> None:
    """The table has a row per case and per metric; a failed threshold is named; the files are written."""
    results = _results()
    s = summarize(results)
    checks = check_thresholds(s, {"top1": {"min": 0.5}, "grounding": {"min": 1.0}, "abstention": {"min": 0.5}})
    doc = run_document(tool="t", title="test eval", scenarios=results, summary=s, settings={"engine": "x"},
                       elapsed_s=1.0, checks=checks, machine={"cpu": "cpu", "cpu_count": 2, "python": "3.11"})
    text = render_terminal(doc)
    assert "insufficient evidence" in text and "db, api" in text and "api, web, db" in text
    assert "FAILED: root service top-1 = 0.3333 (must be >= 0.5)" in text and doc["passed"] is False
    md = render_markdown(doc, png=None, png_note="no reason")
    assert "(No reliability diagram: no reason.)" in md and "| a | a | db bad_deploy |" in md
    paths = write_report(doc, tmp_path, stem="x")
    assert json.loads(paths["json"].read_text())["title"] == "test eval" and paths["png"].exists()


def test_no_diagram_without_confidences() -> None:
    """Nothing to plot is said, not drawn."""
    assert reliability_png({"points": 0}, Path("/nonexistent/x.png"), title="t") == "no answer stated a confidence"


def test_format_table_aligns_numbers_right() -> None:
    """Numeric cells are right-aligned under a dashed header rule."""
    out = format_table(["name", "value"], [["a", "1.0%"], ["bb", "10.0%"]], title="T")
    assert out.splitlines() == ["T", "name  value", "----  -----", "a      1.0%", "bb    10.0%"]


def test_benchmarks_report_through_the_same_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A benchmark's rows go through `write_eval_report`: the same JSON, Markdown and diagram as `sre-bot eval`."""
    import benchmarks._report as bench

    monkeypatch.setattr(bench, "RESULTS_DIR", tmp_path)
    paths = bench.write_eval_report("demo", "Demo benchmark", _results(), settings={"data": "synthetic"},
                                    elapsed_s=0.1, machine={"cpu": "cpu", "cpu_count": 2, "python": "3.11"})
    assert {p.name for p in paths.values()} == {"demo-eval.json", "demo-eval.md", "demo-eval-reliability.png"}
    assert json.loads(paths["json"].read_text())["summary"]["top1"]["n"] == 3
    assert bench.format_table is format_table
