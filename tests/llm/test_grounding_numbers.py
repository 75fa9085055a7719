"""Figures the model writes are checked against the evidence it cites, not against the whole conversation."""

from __future__ import annotations

from datetime import datetime, timezone

from hypothesis import given
from hypothesis import strategies as st

from sre_bot.llm.figures import figures_of, unbacked
from sre_bot.llm.grounding import GroundedAnswer, ground
from sre_bot.llm.schema import ModelAnswer
from sre_bot.models import Evidence, TimeRange

W = TimeRange(start=datetime(2026, 11, 20, 3, 30, tzinfo=timezone.utc),
              end=datetime(2026, 11, 20, 4, 30, tzinfo=timezone.utc))


def _ev(i: str, quote: str, **kw) -> Evidence:
    base = dict(id=i, source="prometheus", kind="anomaly", label=f"{i} label", query="q", quote=quote,
                service="checkout")
    return Evidence(**{**base, **kw})


EV = {
    "lat": _ev("lat", "checkout latency p95 rose from 120 ms (its baseline) to 1,450 ms at 04:02 UTC (z +14.2)"),
    "err": _ev("err", "checkout error ratio 0.1234 (baseline 0.002)"),
    "mem": _ev("mem", "payments-db memory 1610612736 bytes, limit 2147483648"),
    "secs": _ev("secs", "payments p99 0.2487 (seconds)"),
    "pool": _ev("pool", "db pool exhausted: 47 waiting, 3 restarts", source="loki", kind="logs"),
    "deploy": _ev("deploy", "#42 revision 3f2a9c1d7e8b deployed 2026-11-20 03:58:12 UTC by alice",
                  source="argocd", kind="deploy"),
    "win": _ev("win", "error rate steady", window=W, query="rate(http_errors[5m])"),
}
VISIBLE = {i: e.quote for i, e in EV.items()}


def _ground(summary: str = "", causes: dict[str, list[str]] | None = None,
            timeline: list[dict] | None = None, actions: list[dict] | None = None) -> GroundedAnswer:
    hyps = [dict(cause=c, confidence=0.9 - n * 0.1, evidence_ids=ids)
            for n, (c, ids) in enumerate((causes or {}).items())]
    a = ModelAnswer.model_validate(dict(summary=summary, hypotheses=hyps, timeline=timeline or [],
                                        suggested_actions=actions or []))
    return ground(a, visible=VISIBLE, evidence=EV, services={"checkout": "checkout"})


def _bad(cause: str, ids: list[str]) -> list[str]:
    return _ground(causes={cause: ids}).hypotheses[0].unverified_numbers


def test_a_number_only_in_an_uncited_item_is_flagged():
    """47 is in the pool logs, but the hypothesis cites only the latency item: it is flagged and marked."""
    g = _ground(causes={"checkout slow with 47 requests waiting at 1,450 ms": ["lat"]})
    assert g.hypotheses[0].unverified_numbers == ["47"]
    assert g.counts["numbers_unverified"] == 1
    assert any("47" in m and "checkout slow" in m for m in g.marks)
    assert _bad("checkout slow with 47 requests waiting at 1,450 ms", ["lat", "pool"]) == []


def test_a_quote_found_in_another_item_makes_that_item_cited():
    """A kept quote re-attributed to the pool logs brings its figures into the hypothesis's evidence."""
    a = ModelAnswer.model_validate(dict(summary="", hypotheses=[dict(
        cause="47 requests wait on the pool", confidence=0.7, evidence_ids=["lat"],
        quotes=[dict(evidence_id="lat", text="db pool exhausted")])]))
    g = ground(a, visible=VISIBLE, evidence=EV, services={})
    assert g.hypotheses[0].unverified_numbers == []


def test_summary_numbers_need_evidence_the_answer_cites():
    """The summary may use what any kept hypothesis, timeline entry or action cites, nothing else."""
    g = _ground(summary="latency 1,450 ms, 47 waiting, deploy #42 at 03:58", causes={"latency": ["lat"]},
                timeline=[dict(at="03:58 UTC", text="deploy", evidence_id="deploy")])
    assert g.counts["numbers_unverified"] == 1
    assert g.marks == ["numbers in the summary not found in the evidence the answer cites: 47"]
    g = _ground(summary="errors at 12.3%", causes={"latency": ["lat"]})
    assert g.counts["numbers_unverified"] == 1
    g = _ground(summary="errors at 12.3%", causes={"latency": ["lat"]},
                actions=[dict(action="argocd.restart", args={"service": "checkout"}, reason="r", evidence_ids=["err"])])
    assert g.counts["numbers_unverified"] == 0 and len(g.actions) == 1


def test_summary_of_an_answer_that_cites_nothing_has_nothing_to_match():
    """With no hypothesis, timeline entry or action, no figure in the summary is backed."""
    g = _ground(summary="latency at 1,450 ms, cause unknown")
    assert g.counts["numbers_unverified"] == 1 and "1,450 ms" in g.marks[-1]


def test_timeline_entry_figures_are_checked_against_its_own_item():
    """A timeline entry's time and numbers must be in the item it cites; the entry is kept and marked."""
    g = _ground(causes={"latency": ["lat"]},
                timeline=[dict(at="03:58 UTC", text="revision deployed", evidence_id="deploy"),
                          dict(at="04:02 UTC", text="p95 at 1,450 ms", evidence_id="lat"),
                          dict(at="04:10 UTC", text="p95 at 1,450 ms", evidence_id="deploy")])
    assert len(g.timeline) == 3 and g.counts["numbers_unverified"] == 2
    assert g.marks == ["numbers in the timeline entry “04:10 UTC p95 at 1,450 ms” not found in the evidence it "
                       "cites: 04:10, 1,450 ms"]


def test_unit_variants_ms_and_seconds():
    """250 ms and 0.25 s both match 0.2487 seconds; 1.45 s matches 1,450 ms; 0.12 s matches 120 ms."""
    assert _bad("p99 at 249 ms, about 250 ms, or 0.25 s", ["secs"]) == []
    assert _bad("p95 went from 0.12 s to 1.45 s", ["lat"]) == []
    assert _bad("p99 at 0.27 s", ["secs"]) == ["0.27 s"]
    assert unbacked("a 5-minute window, 300-second steps", figures_of("step 300")) == []


def test_unit_variants_percent_and_ratio():
    """12% and 12.3% match a ratio of 0.1234; 0.2% matches 0.002; 13% does not."""
    assert _bad("errors at 12%, 12.3 percent, from 0.2%", ["err"]) == []
    assert _bad("errors at 13%", ["err"]) == ["13%"]


def test_unit_variants_bytes():
    """1.5 GiB, 1.5 GB and 1.6 GB all describe 1610612736 bytes; 2 GiB is the limit; 1.7 GB is neither."""
    assert _bad("memory at 1.5 GiB (1.6 GB) of 2 GiB, or 1.5GB", ["mem"]) == []
    assert _bad("memory at 1.7 GB", ["mem"]) == ["1.7 GB"]


def test_thousands_multiplier_and_separators():
    """2k, 2,000 and 2000 all mean 2000."""
    f = figures_of("requests 2000 total")
    assert unbacked("2k requests, 2,000 requests, 2000 requests", f) == []
    assert unbacked("3k requests", f) == ["3k"]


def test_a_bare_number_gets_no_unit_variants():
    """0.2487 s is not 249 when written bare, and 1,450 is not 1.45 without a unit."""
    assert _bad("p99 at 249", ["secs"]) == ["249"]
    assert _bad("p95 at 1.45", ["lat"]) == ["1.45"]
    assert _bad("error ratio 12.34", ["err"]) == ["12.34"]


def test_rounding_tolerance_follows_the_written_digits():
    """0.25 and 0.2 match 0.2487; 0.27 and the truncation 0.248 do not; 1,450 needs 1,445..1,455."""
    assert unbacked("0.25", figures_of("0.2487")) == []
    assert unbacked("0.2", figures_of("0.2487")) == []
    assert unbacked("0.27", figures_of("0.2487")) == ["0.27"]
    assert unbacked("0.248", figures_of("0.2487")) == ["0.248"]
    assert unbacked("250", figures_of("249.6")) == []
    assert unbacked("1,450", figures_of("1446")) == []
    assert unbacked("1,450", figures_of("1440")) == ["1,450"]
    assert unbacked("14.2", figures_of("14.26")) == ["14.2"]


def test_small_integers_are_checked():
    """3 restarts is a measurement: checked like any number (and found in the pool logs)."""
    assert _bad("3 restarts", ["lat"]) == ["3"]
    assert _bad("3 restarts", ["pool"]) == []


def test_names_ranks_and_counts_are_exempt():
    """Digits inside names, #ids, list numbering, top N and counts of the answer's own subjects are not figures."""
    text = ("1. payments-v2 and payments-2 (p95, HTTP/2, 5xx, 2nd try, revision 3f2a9c1d7e8b, incident #7)\n"
            "2) top 3 of 3 services, 2 downstream services, step 4; causes: (1) pool (2) deploy")
    assert _bad(text, ["lat"]) == []
    assert _bad("12 services", ["lat"]) == ["12"]
    assert _bad("2 pods", ["lat"]) == ["2"]


def test_times_and_dates_are_checked_as_strings_in_the_cited_item():
    """04:02 is in the latency item, 03:58 and 03:58:12 and the date in the deploy item; 04:03 nowhere."""
    assert _bad("onset 4:02", ["lat"]) == []
    assert _bad("deployed 2026-11-20 03:58 (03:58:12)", ["deploy"]) == []
    assert _bad("onset 04:03 on 2026-11-21, deploy 03:58:13", ["lat", "deploy"]) == ["04:03", "2026-11-21", "03:58:13"]
    assert _bad("onset 04:02", ["deploy"]) == ["04:02"]


def test_the_item_header_counts_as_its_text():
    """The window and the query were shown with the item: 03:30, 04:30 and 5 min are backed."""
    assert _bad("errors steady 03:30–04:30 over 5 min windows", ["win"]) == []


values = st.floats(min_value=0.001, max_value=1e7, allow_nan=False, allow_infinity=False)


@given(values, st.integers(min_value=0, max_value=4), st.booleans())
def test_a_number_formatted_from_a_cited_value_always_passes(x, decimals, commas):
    """Any rounding of a cited evidence value, with or without separators, passes; so do its unit conversions."""
    ev = {"v": _ev("v", f"value {x!r} and ratio {x / 1e7!r} and bytes {round(x * 1000)}")}
    written = f"{x:,.{decimals}f}" if commas else f"{x:.{decimals}f}"
    cause = (f"value {written}, as seconds {x * 1000:.{decimals}f} ms, ratio {x / 1e5:.{decimals}f}%, "
             f"bytes {round(x * 1000) / 2**30:.{decimals}f} GiB and {round(x * 1000) / 1e9:.{decimals}f} GB")
    a = ModelAnswer.model_validate(dict(summary=f"at {written} ms", hypotheses=[
        dict(cause=cause, confidence=0.5, evidence_ids=["v"])]))
    g = ground(a, visible={"v": ev["v"].quote}, evidence=ev, services={})
    assert g.hypotheses[0].unverified_numbers == [] and g.counts["numbers_unverified"] == 0, g.marks


@given(st.integers(min_value=100, max_value=10**7))
def test_a_bare_number_never_matches_its_thousandth(n):
    """A bare figure written as n/1000 is not backed by n (no ×1000 variants without a unit)."""
    assert unbacked(f"{n / 1000:.3f}", figures_of(f"count {n}")) == [f"{n / 1000:.3f}"]
