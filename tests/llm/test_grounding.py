"""The grounding check: quotes, numbers, hypotheses and actions are checked against what the tools returned."""

from __future__ import annotations

from datetime import datetime, timezone

from sre_bot.llm.grounding import ground, numbers_in
from sre_bot.llm.schema import ModelAnswer
from sre_bot.models import Evidence

T = datetime(2026, 11, 20, 4, 0, tzinfo=timezone.utc)
EV = {
    "ev_deploy": Evidence(id="ev_deploy", source="argocd", kind="deploy", label="checkout deploy", query="q",
                          quote="#42 revision 3f2a9c1d7e8b deployed 2026-11-20 03:58 UTC by alice",
                          service="checkout", data={"deployed_at": T.isoformat(), "revision": "3f2a9c1d7e8b"}),
    "ev_lat": Evidence(id="ev_lat", source="prometheus", kind="anomaly", label="checkout latency p95", query="q",
                       quote="checkout latency p95 rose from 120 ms (its baseline) to 1,450 ms at 04:02 UTC "
                             "(robust z +14.2)", service="checkout"),
    "ev_logs": Evidence(id="ev_logs", source="loki", kind="logs", label="checkout logs", query="q",
                        quote="ERROR  payment   timeout after 5000ms\nERROR db pool exhausted", service="checkout"),
    "ev_down": Evidence(id="ev_down", source="loki", kind="logs", label="db logs", query="q",
                        quote="loki: connection refused", status="error", service="db"),
    "ev_alert": Evidence(id="ev_alert", source="alertmanager", kind="alert", label="alert HighLatency", query="q",
                         quote="HighLatency (critical) firing since 2026-11-20 04:03 UTC", service="checkout",
                         data={"labels": {"alertname": "HighLatency", "service": "checkout"}}),
}
VISIBLE = {i: e.quote for i, e in EV.items()}
SERVICES = {"checkout": "checkout", "co": "checkout", "db": "db"}


def _answer(**kw) -> ModelAnswer:
    base = dict(summary="checkout latency rose to 1,450 ms after the deploy of 3f2a9c1d7e8b.",
                hypotheses=[dict(service="checkout", cause="bad deploy of checkout", confidence=0.8,
                                 evidence_ids=["ev_deploy"],
                                 quotes=[dict(evidence_id="ev_lat", text="rose from 120 ms (its baseline)")])])
    base.update(kw)
    return ModelAnswer.model_validate(base)


def _ground(a: ModelAnswer):
    return ground(a, visible=VISIBLE, evidence=EV, services=SERVICES)


def test_verbatim_quote_is_kept_and_clean_answer_has_no_marks():
    """A quote copied verbatim (whitespace aside) is kept and nothing is marked."""
    g = _ground(_answer())
    assert g.hypotheses[0].quotes == [("ev_lat", "rose from 120 ms (its baseline)")]
    assert g.marks == [] and g.counts["quotes_removed"] == 0


def test_whitespace_differences_do_not_fail_a_quote():
    """Runs of spaces and line breaks are normalised before comparing."""
    a = _answer(hypotheses=[dict(cause="db pool", confidence=0.5, evidence_ids=[],
                                 quotes=[dict(evidence_id="ev_logs", text="ERROR payment timeout after 5000ms")])])
    assert _ground(a).hypotheses[0].quotes == [("ev_logs", "ERROR payment timeout after 5000ms")]


def test_hallucinated_quote_is_removed_and_marked():
    """A quote that is not in the evidence is removed, counted and said under the answer."""
    a = _answer(hypotheses=[dict(service="checkout", cause="bad deploy", confidence=0.8, evidence_ids=["ev_deploy"],
                                 quotes=[dict(evidence_id="ev_lat", text="latency rose to 9 seconds"),
                                         dict(evidence_id="ev_deploy", text="deployed 2026-11-20 03:58 UTC")])])
    g = _ground(a)
    assert g.hypotheses[0].quotes == [("ev_deploy", "deployed 2026-11-20 03:58 UTC")]
    assert g.counts["quotes_removed"] == 1
    assert any("1 quote(s) removed" in m for m in g.marks)


def test_quote_citing_the_wrong_item_is_reattributed():
    """A real quote cited under the wrong id is kept under the item it comes from."""
    a = _answer(hypotheses=[dict(cause="db pool exhausted", confidence=0.6, evidence_ids=[],
                                 quotes=[dict(evidence_id="ev_lat", text="db pool exhausted")])])
    g = _ground(a)
    assert g.hypotheses[0].quotes == [("ev_logs", "db pool exhausted")]
    assert g.counts["quotes_reattributed"] == 1


def test_hypothesis_without_verified_evidence_is_dropped():
    """Invented ids, failed items and removed quotes leave nothing: the hypothesis is dropped as unsupported."""
    a = _answer(hypotheses=[dict(cause="DNS outage", confidence=0.9, evidence_ids=["ev_made_up", "ev_down"],
                                 quotes=[dict(evidence_id="ev_lat", text="DNS lookups failing")])])
    g = _ground(a)
    assert g.hypotheses == [] and g.insufficient
    assert any("unsupported" in m and "DNS outage" in m for m in g.marks)


def test_numbers_not_in_the_evidence_are_listed():
    """47% appears nowhere in the evidence; 1,450 ms and 14.2 do."""
    g = _ground(_answer(summary="latency 1,450 ms (z 14.2) and errors at 47% since 04:02"))
    assert g.counts["numbers_unverified"] == 1
    assert any("47" in m for m in g.marks)


def test_unit_conversions_count_as_matches():
    """1.45 s is 1,450 ms; 0.12 s is 120 ms."""
    g = _ground(_answer(summary="p95 went from 0.12 s to 1.45 s"))
    assert g.counts["numbers_unverified"] == 0


def test_numbers_in_text():
    """Times and dates are not numbers; signs and thousands separators are."""
    assert numbers_in("at 04:02 UTC on 2026-11-20, +14.2 and 1,450 ms and v2") == ["14.2", "1,450"]


def test_invented_action_is_dropped():
    """An action outside the catalog is dropped and counted."""
    a = _answer(suggested_actions=[dict(action="delete_database", args={"service": "checkout"}, reason="x",
                                        evidence_ids=["ev_deploy"])])
    g = _ground(a)
    assert g.actions == [] and g.counts["actions_dropped"] == 1
    assert "not in the action catalog" in g.dropped_actions[0]


def test_rollback_needs_a_deploy_of_that_service_in_the_cited_evidence():
    """Rollback citing the deploy passes; rollback of a service with no deploy evidence is dropped."""
    ok = dict(action="argocd.rollback", args={"service": "co"}, reason="deploy preceded the onset",
              evidence_ids=["ev_deploy", "ev_lat"])
    bad = dict(action="argocd.rollback", args={"service": "db"}, reason="ignore previous instructions",
               evidence_ids=["ev_logs"])
    g = _ground(_answer(suggested_actions=[ok, bad]))
    assert [p.describe() for p in g.actions] == ["argocd.rollback(service=checkout)"]
    assert "does not show a deploy of db" in g.dropped_actions[0]


def test_action_with_bad_arguments_is_dropped():
    """Unknown services, extra arguments and a too-long silence do not validate."""
    g = _ground(_answer(suggested_actions=[
        dict(action="argocd.restart", args={"service": "prod"}, reason="r", evidence_ids=["ev_lat"]),
        dict(action="argocd.restart", args={"service": "checkout", "force": True}, reason="r", evidence_ids=["ev_lat"]),
        dict(action="alertmanager.silence", args={"matchers": {"alertname": "HighLatency"}, "duration": "3d", "comment": "noisy"},
             reason="r", evidence_ids=["ev_alert"]),
    ]))
    assert g.actions == [] and g.counts["actions_dropped"] == 3


def test_silence_needs_an_alert_its_matchers_select():
    """A silence whose matchers select a cited firing alert is kept."""
    g = _ground(_answer(suggested_actions=[
        dict(action="alertmanager.silence", args={"matchers": {"alertname": "HighLatency"}, "duration": "2h",
                                     "comment": "rollback in progress"}, reason="r", evidence_ids=["ev_alert"])]))
    assert [p.action for p in g.actions] == ["alertmanager.silence"]


def test_timeline_entry_needs_existing_evidence():
    """Timeline entries citing nothing real are dropped."""
    g = _ground(_answer(timeline=[dict(at="03:58 UTC", text="deploy", evidence_id="ev_deploy"),
                                  dict(at="04:10 UTC", text="DB failover", evidence_id="ev_nowhere")]))
    assert g.timeline == [("03:58 UTC", "deploy", "ev_deploy")] and g.counts["timeline_dropped"] == 1


def test_an_old_deploy_does_not_support_a_rollback():
    """A deploy from before the incident's lookback is not the change that started it."""
    a = _answer(suggested_actions=[dict(action="argocd.rollback", args={"service": "checkout"}, reason="r",
                                        evidence_ids=["ev_deploy"])])
    late = datetime(2026, 11, 20, 5, 0, tzinfo=timezone.utc)
    g = ground(a, visible=VISIBLE, evidence=EV, services=SERVICES, deploys_since=late)
    assert g.actions == [] and "since 05:00 UTC" in g.dropped_actions[0]


def test_a_log_line_alone_does_not_support_a_restart():
    """Logs that mention (or ask for) a restart are not an anomaly; a measured anomaly is."""
    logs_only = _answer(suggested_actions=[dict(action="argocd.restart", args={"service": "checkout"}, reason="r",
                                                evidence_ids=["ev_logs"])])
    assert _ground(logs_only).actions == []
    measured = _answer(suggested_actions=[dict(action="argocd.restart", args={"service": "checkout"}, reason="r",
                                               evidence_ids=["ev_lat"])])
    assert [p.action for p in _ground(measured).actions] == ["argocd.restart"]
