"""The Nezha benchmark's scoring: BARO's RobustScorer, the rows' configs, and the shown-answer summaries."""

from __future__ import annotations

import pytest

from benchmarks._nezha_tables import render, summarize
from benchmarks.nezha_rca import SIGNAL_SETS, SIGNALS, load_configs, robust_scorer


def test_robust_scorer_is_distance_from_the_median_in_iqrs() -> None:
    """(x - median) / IQR of the pre-change part, the largest over the window; an IQR of 0 scales by 1."""
    base = [1.0, 2.0, 3.0, 4.0, 5.0]  # median 3, IQR 4 - 2 = 2
    assert robust_scorer([3.0, 9.0], base) == pytest.approx(3.0)
    assert robust_scorer([-1.0], base) == pytest.approx(2.0)
    assert robust_scorer([7.5], [5.0, 5.0, 5.0]) == pytest.approx(2.5)
    assert robust_scorer([], base) == 0.0 and robust_scorer([1.0], []) == 0.0


def test_metrics_only_row_is_the_file_without_call_graph_metrics() -> None:
    """The metrics-only row keeps the file's services and signals but turns every call-graph source off."""
    for app in ("OnlineBoutique", "TrainTicket"):
        cfgs = load_configs(app, {n: SIGNALS[n] for n in SIGNAL_SETS["golden"]})
        assert cfgs["metrics"].call_graph.sources == []
        assert cfgs["callgraph"].call_graph.sources
        assert cfgs["metrics"].services == cfgs["callgraph"].services
    extended = load_configs("OnlineBoutique", dict(SIGNALS))
    assert "net_rx" in extended["callgraph"].all_signals


def _row(app: str, truth: str, shown: list[str], *, abstain: bool = False) -> dict:
    part = {"shown": shown, "insufficient": abstain, "shown_rank": shown.index(truth) + 1 if truth in shown else None,
            "shown_hit1": shown[:1] == [truth], "shown_hit3": truth in shown[:3], "hit1": True, "hit3": True,
            "in_scope": True, "wall_s": 1.0, "prometheus_queries": 10}
    row = {"app": app, "day": "d", "index": 1, "inject_time": "2022-08-22 03:53:54", "fault": "cpu_contention",
           "truth": truth, "variants": {"metrics": part}, "random_top1": 0.1, "random_top3": 0.3}
    for k in ("maxz", "maxz_floor", "baro"):
        row.update({f"{k}_rank": 2, f"{k}_hit1": False, f"{k}_hit3": True})
    return row


def test_the_headline_counts_only_what_the_bot_shows() -> None:
    """A truth the ranking's random fill would reach, but that is not among the shown hypotheses, is a miss."""
    rows = [_row("OB", "a", ["a", "b"]), _row("OB", "a", ["b", "c", "a"]), _row("OB", "a", [], abstain=True),
            _row("OB", "a", ["b"])]
    s = summarize(rows)["variants"]["metrics"]
    assert (s["top1"], s["top3"], s["ranking_top1"], s["abstentions"]) == (0.25, 0.5, 1.0, 1)
    results = {"faults": rows, "by_day": {"d": summarize(rows)}, "overall": summarize(rows),
               "by_fault_type": {"cpu_contention": summarize(rows)}, "days": {"d": {"app": "OB"}}}
    text = render(results, "test")
    assert "bot: metrics only" in text and "BARO-style RobustScorer" in text


def test_recorded_engine_inputs_load_back_as_the_same_evidence(tmp_path) -> None:
    """Saved typed evidence (gzip JSON) loads back equal, tuples and all, and the pure engine answers on it."""
    from benchmarks._nezha_replay import _answer, load_engine_inputs, save_engine_inputs
    from sre_bot.analysis.evidence import EdgeSeries, SignalSeries

    pts = tuple((1000.0 + 60 * i, 0.1 if i < 50 else 2.0) for i in range(60))
    evidence = [SignalSeries(evidence_id="s1", service="b", signal="latency_p95", title="latency p95", unit="seconds",
                             points=pts, min_abs=0.01, expected=(10.0, 50.0)),
                EdgeSeries(evidence_id="e1", client="a", server="b", metric="latency_client", points=pts)]
    inputs = {"evidence": evidence, "graph": {"a": ["b"], "b": []}, "focus": "a", "window": (4000.0, 4600.0),
              "gaps": 0}
    save_engine_inputs(tmp_path / "x.json.gz", inputs)
    back = load_engine_inputs(tmp_path / "x.json.gz")
    assert back["evidence"] == evidence and back["window"] == (4000.0, 4600.0)
    shown, ranked, insufficient = _answer(back)
    assert insufficient or shown[0] == "b"
