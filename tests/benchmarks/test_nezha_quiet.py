"""The Nezha benchmark's no-fault windows: which moments are chosen, how an answer is read, and how it is counted."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from benchmarks._nezha_data import Fault
from benchmarks._nezha_quiet import (
    FAULT_EFFECT_S,
    answer_fields,
    investigation_json,
    limit_per_kind,
    quiet_ok,
    quiet_summary,
    quiet_windows,
)
from benchmarks._nezha_tables import render_quiet

T0 = datetime(2022, 8, 22, 4, 0, tzinfo=timezone.utc)  # the data starts here
W = timedelta(minutes=10)


def _fault(index: int, minutes: float, service: str = "svc") -> Fault:
    at = T0 + timedelta(minutes=minutes)
    return Fault(day="d", index=index, at=at, inject_time=at.strftime("%Y-%m-%d %H:%M:%S"),
                 inject_timestamp=int(at.timestamp()), pod=f"{service}-abcdef1234-x1y2z", service=service,
                 kind="cpu_contention")


def _m(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _kinds(windows: list) -> list[tuple[str, datetime]]:
    return [(q.kind, q.at) for q in windows]


def test_a_fault_occupies_eight_minutes() -> None:
    """A fault's effect is taken to last FAULT_EFFECT_S = 8 min after its injection."""
    assert FAULT_EFFECT_S == 8 * 60


def test_before_needs_thirty_minutes_of_data_before_the_window() -> None:
    """`before` asks at inject − 30 s; a window starting less than 30 min after the data does is not used."""
    early = quiet_windows([_fault(1, 40.4)], T0, _m(41), window=W)  # window starts at 29:54: 6 s short
    assert early == []
    ok = quiet_windows([_fault(1, 40.5)], T0, _m(41), window=W)  # starts at exactly 30:00
    assert _kinds(ok) == [("before", _m(40))]
    assert (ok[0].start, ok[0].next_fault, ok[0].previous_fault) == (_m(30), 1, None)


def test_before_is_skipped_when_a_fault_occupies_its_window_and_recovering_is_asked_instead() -> None:
    """A `before` window overlapping the previous fault's 8 minutes becomes `recovering` (reported apart); one that
    only reaches past the occupied interval's end stays `before`."""
    faults = [_fault(1, 40), _fault(2, 55), _fault(3, 78.5)]
    got = quiet_windows(faults, T0, _m(80), window=W)
    # fault 2 at 55: window [44.5, 54.5] overlaps fault 1's [40, 48] -> recovering
    # fault 3 at 78.5: window [68, 78] starts exactly when fault 2's [55, 63] ended + 5 min -> before
    assert ("recovering", _m(54.5)) in _kinds(got)
    assert ("before", _m(78)) in _kinds(got)
    rec = next(q for q in got if q.kind == "recovering")
    assert (rec.previous_fault, rec.next_fault) == (1, 2)
    touching = quiet_windows([_fault(1, 40), _fault(2, 58.5)], T0, _m(60), window=W)
    assert ("before", _m(58)) in _kinds(touching)  # window [48, 58] starts as fault 1's interval ends: no overlap


def test_recovering_also_needs_the_baseline_data() -> None:
    """A window that overlaps the previous fault but lacks 30 min of data before it is not asked at all."""
    got = quiet_windows([_fault(1, 20), _fault(2, 30)], T0, _m(40), window=W)
    assert [q for q in got if q.kind in ("before", "recovering")] == []


def test_between_windows_start_five_minutes_into_a_stretch_then_every_fifteen() -> None:
    """In a stretch free of faults, windows end at stretch start + W + 5 min, then every 15 min, up to the next
    injection − 30 s; after the last fault, up to the data's end − 1 min."""
    faults = [_fault(1, 40), _fault(2, 100)]
    got = quiet_windows(faults, T0, _m(150), window=W)
    between = [q.at for q in got if q.kind == "between"]
    # stretch 1: [48, 100]: 63, 78, 93 (108 > 99.5); after the last: [108, 149]: 123, 138 (153 > 149)
    assert between == [_m(63), _m(78), _m(93), _m(123), _m(138)]
    assert [(q.previous_fault, q.next_fault) for q in got if q.kind == "between"] == [
        (1, 2), (1, 2), (1, 2), (2, None), (2, None)]
    assert ("before", _m(99.5)) in _kinds(got)  # [89.5, 99.5] is clear of fault 1's [40, 48]
    exact = quiet_windows([_fault(1, 40), _fault(2, 63.5)], T0, _m(70), window=W)
    assert [q.at for q in exact if q.kind == "between"] == [_m(63)]  # t == next inject − 30 s is allowed


def test_between_skips_stretches_too_short_and_windows_without_baseline() -> None:
    """A gap shorter than W + 5 min + 30 s has no `between` window; neither does one too close to the data's start;
    overlapping occupied intervals make one stretch."""
    assert [q for q in quiet_windows([_fault(1, 40), _fault(2, 62)], T0, _m(62), window=W)
            if q.kind == "between"] == []
    early = quiet_windows([_fault(1, 5), _fault(2, 200)], T0, _m(210), window=W)
    # stretch [13, 200]: the window ending at 28 starts at 18, < 30 min of data: skipped; 43 (starts at 33) is used
    assert [q.at for q in early if q.kind == "between"][:2] == [_m(43), _m(58)]
    assert all(q.start - T0 >= timedelta(minutes=30) for q in early)
    chained = quiet_windows([_fault(1, 40), _fault(2, 45), _fault(3, 90)], T0, _m(100), window=W)
    # fault 2 injects inside fault 1's interval: the stretch starts at 53 (fault 2's end), so the first is at 68
    assert [q.at for q in chained if q.kind == "between"] == [_m(68), _m(83)]


def test_limit_keeps_the_first_n_of_each_kind() -> None:
    """`--limit N` keeps N windows of each kind."""
    got = quiet_windows([_fault(1, 40), _fault(2, 55), _fault(3, 200)], T0, _m(300), window=W)
    limited = limit_per_kind(got, 1)
    assert sorted(q.kind for q in limited) == ["before", "between", "recovering"]
    assert limit_per_kind(got, 0) == got


def test_answer_fields_read_any_answer_generically() -> None:
    """Abstaining shows nothing; the top hypothesis and ranking keep every field (new ones too), evidence as ids."""
    data = {"insufficient_evidence": False, "summary": "s", "engine": "v9", "engine_confidence": 0.7,
            "hypotheses": [{"service": "b", "confidence": 0.4, "cause_kind": "x", "new_field": 1,
                            "evidence": [{"id": "e1", "quote": "q"}]}],
            "ranking": [{"service": "b", "score": 0.9, "extra": "y"}, {"service": "c"}], "gaps": ["g"]}
    a = answer_fields(data)
    assert (a["shown"], a["top_service"], a["top_confidence"], a["ranking"]) == (["b"], "b", 0.4, ["b", "c"])
    assert a["top_hypothesis"]["new_field"] == 1 and a["top_hypothesis"]["evidence_ids"] == ["e1"]
    assert a["top_ranked"]["extra"] == "y" and a["answer"]["engine_confidence"] == 0.7
    assert not quiet_ok(a)
    abst = answer_fields({**data, "insufficient_evidence": True})
    assert abst["shown"] == [] and abst["top_service"] is None and quiet_ok(abst)
    assert quiet_ok(answer_fields({"hypotheses": []}))  # nothing shown is quiet too
    assert not quiet_ok({**abst, "error": "boom"}) and not quiet_ok(None)


def test_investigation_json_reads_the_model_and_carries_new_fields() -> None:
    """The in-process Investigation gives the same answer fields as its CLI JSON would."""
    from sre_bot.investigation import Hypothesis, Investigation, RankedService
    from sre_bot.models import TimeRange

    win = TimeRange(start=T0, end=T0 + W)
    inv = Investigation(question="why?", summary="s", window=win, baseline=win.before(timedelta(hours=1)),
                        hypotheses=[Hypothesis(service="b", cause="c", cause_kind="latency", confidence=0.5)],
                        ranking=[RankedService(service="b", score=0.8, confidence=0.5, cause="c",
                                               cause_kind="latency")])
    a = answer_fields(investigation_json(inv))
    assert (a["insufficient"], a["shown"], a["top_confidence"]) == (False, ["b"], 0.5)
    assert a["top_ranked"]["score"] == 0.8 and a["answer"]["engine"] == inv.engine
    assert a == answer_fields(inv.to_json()) | {"answer": a["answer"], "top_ranked": a["top_ranked"],
                                                 "top_hypothesis": a["top_hypothesis"]}


def _qrow(day: str, kind: str, shown: list[str], cli: list[str] | None = None, prev: str = "p") -> dict:
    part = {"insufficient": not shown, "shown": shown}
    row = {"day": day, "app": "OB" if day == "d1" else "TT", "kind": kind, "asked_at": "2022-08-22T05:00:00+00:00",
           "row": "callgraph", "inprocess": part, "previous_fault": {"index": 1, "service": prev}}
    if cli is not None:
        row["cli"] = {"insufficient": not cli, "shown": cli, "same": cli == shown, "window_ok": True}
    return row


def test_quiet_summary_counts_abstentions_per_day_and_kind_and_the_cli() -> None:
    """Per day and kind: windows, abstained, rate, the services named instead; the CLI's beside them; recovering
    windows also count answers naming the previous fault's service."""
    rows = [_qrow("d1", "between", [], []), _qrow("d1", "between", ["x", "y"], ["x"]),
            _qrow("d1", "before", ["z"], []), _qrow("d2", "recovering", ["p"], ["p"]),
            _qrow("d2", "recovering", [], [])]
    s = quiet_summary(rows)
    b = s["d1"]["kinds"]["between"]
    assert (b["windows"], b["abstained"], b["rate"], b["named_first"]) == (2, 1, 0.5, {"x": 1})
    assert (b["cli"]["abstained"], b["cli"]["same_as_inprocess"]) == (1, 1)
    assert s["d1"]["kinds"]["before"]["cli"]["abstained"] == 1
    r = s["d2"]["kinds"]["recovering"]
    assert (r["abstained"], r["named_previous"], r["cli"]["named_previous"]) == (1, 1, 1)
    assert s["all"]["kinds"]["between"]["windows"] == 2 and s["d1"]["app"] == "OB"
    text = render_quiet({"quiet": rows, "quiet_summary": s})
    assert "No-fault windows" in text and "recovering" in text and "x ×1" in text


def test_replay_answers_a_recorded_quiet_window_again(tmp_path) -> None:
    """`--replay` re-runs the pure engine on a no-fault window's recorded inputs: a flat series gives an abstention,
    a step names its service; the recording's answer is kept beside the new one and the summary recomputed."""
    from benchmarks._nezha_replay import replay, save_engine_inputs
    from sre_bot.analysis.evidence import SignalSeries

    def inputs(step: float) -> dict:
        pts = tuple((1000.0 + 60 * i, 0.1 if i < 50 else step) for i in range(60))
        ev = [SignalSeries(evidence_id="s1", service="b", signal="latency_p95", title="latency p95",
                           unit="seconds", points=pts, min_abs=0.01, expected=(10.0, 50.0))]
        return {"evidence": ev, "graph": {"a": ["b"], "b": []}, "focus": "a", "window": (4000.0, 4600.0), "gaps": 0}

    flat = save_engine_inputs(tmp_path / "flat.json.gz", inputs(0.1))
    step = save_engine_inputs(tmp_path / "step.json.gz", inputs(2.0))
    rows = [{**_qrow("d1", "between", ["x"]), "evidence_file": flat},
            {**_qrow("d1", "before", []), "evidence_file": step}]
    results = {"settings": {"seed": 7}, "faults": [], "days": {}, "quiet": rows}
    out = replay(results, results_dir=tmp_path)
    assert out["replay"]["quiet_windows"] == 2 and out["replay"]["rule"]
    first, second = out["quiet"]
    assert first["inprocess"]["replayed"] and first["inprocess"]["recorded_shown"] == ["x"]
    assert quiet_ok(first["inprocess"])
    assert second["inprocess"]["shown"] == ["b"] and not quiet_ok(second["inprocess"])
    assert second["inprocess"]["top_hypothesis"]["engine_confidence"] is not None
    assert quiet_summary(out["quiet"])["d1"]["kinds"]["between"]["abstained"] == 1
