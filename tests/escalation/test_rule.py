"""The escalation rule alone: every condition that must hold, each failure a reason, and `auto` only with a paging
severity under an `auto` policy."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sre_bot.escalation.config import SEVERITY_ORDER, EscalationConfig
from sre_bot.escalation.rule import Facts, decide, highest_severity, severity_of

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=timezone.utc)

CFG = EscalationConfig.model_validate({
    "teams": {"payments": {"services": ["payments-api", "payments-db"], "pagerduty": True},
              "search": {"services": ["search"], "opsgenie": True}},
    "unknown": {"min_severity": "critical", "after": "10m", "max_per_hour": 2},
})

BASE = Facts(number=7, resolved=False, started_at=NOW - timedelta(minutes=15), severities=("critical", "warning"),
             answer="abstained", root_service="payments-db", policies={"pagerduty.page": "approve"})


def test_an_unknown_critical_incident_is_offered_to_its_team_for_approval() -> None:
    """Everything holds: a page to payments through PagerDuty, waiting for a click."""
    d = decide(BASE, CFG, now=NOW)
    assert d.offer and d.team == "payments" and d.action == "pagerduty.page" and not d.auto
    assert d.held == "pagerduty.page is at approve" and d.severity == "critical"
    assert "offered for approval" in d.line() and "no confident cause (it abstained)" in d.line()


def test_opsgenie_team_gets_an_opsgenie_alert_and_no_answer_counts_as_unknown() -> None:
    """A team paged through Opsgenie only; an incident with no answer at all is as unknown as one that abstained."""
    d = decide(replace(BASE, root_service="search", answer="none"), CFG, now=NOW)
    assert d.offer and d.action == "opsgenie.alert" and "no answer" in d.reasons[0]


@pytest.mark.parametrize(("change", "reason"), [
    ({"answer": "confident"}, "a confident cause was found"),
    ({"runbooks": ("db-pool",)}, "runbook db-pool matches"),
    ({"seen_before": True}, "seen before"),
    ({"acknowledged_by": "U123"}, "acknowledged by <@U123>"),
    ({"offered": True}, "already offered or paged"),
    ({"severities": ("warning", "error")}, "severity error is below critical"),
    ({"severities": ()}, "no alert firing"),
    ({"started_at": NOW - timedelta(minutes=3)}, "open less than 10m"),
    ({"root_service": "unknown-svc"}, "no team owns unknown-svc"),
    ({"root_service": None}, "no team owns its root service"),
    ({"team_pages": {"payments": 2}}, "payments was paged 2 time(s) in the last hour (max_per_hour 2)"),
])
def test_each_failing_condition_is_a_reason(change: dict, reason: str) -> None:
    """One condition fails: no offer, and the reason says which."""
    d = decide(replace(BASE, **change), CFG, now=NOW)
    assert not d.offer and any(reason in r for r in d.reasons), d.reasons
    assert d.line().startswith("escalation: not offered: ")


def test_several_failures_are_all_listed_and_resolved_or_disabled_stop_early() -> None:
    """Every failing condition is named; a resolved incident or a disabled rule has one short reason."""
    d = decide(replace(BASE, answer="confident", acknowledged_by="U1"), CFG, now=NOW)
    assert len(d.reasons) == 2
    assert decide(replace(BASE, resolved=True), CFG, now=NOW).reasons == ("resolved",)
    off = CFG.model_copy(update={"unknown": CFG.unknown.model_copy(update={"enabled": False})})
    assert decide(BASE, off, now=NOW).reasons == ("the unknown-issue rule is disabled",)


def test_default_team_takes_services_nobody_owns() -> None:
    """A service in no team goes to `default_team`."""
    cfg = CFG.model_copy(update={"default_team": "search"})
    assert decide(replace(BASE, root_service="unknown-svc"), cfg, now=NOW).team == "search"


def test_auto_needs_an_auto_policy_and_a_paging_severity() -> None:
    """`auto` policy and a critical alert: no click; `auto` policy without a paging severity: held for a person."""
    auto = replace(BASE, policies={"pagerduty.page": "auto"})
    assert decide(auto, CFG, now=NOW).auto
    cfg = CFG.model_copy(update={"unknown": CFG.unknown.model_copy(update={"paging_severities": ["page"]})})
    d = decide(auto, cfg, now=NOW)
    assert d.offer and not d.auto and d.held and "paging severity (page)" in d.held


def test_severity_labels_outside_the_order_rank_as_warning() -> None:
    """Unknown or missing labels are "warning"; the highest wins."""
    assert severity_of("P1") == "warning" and severity_of(None) == "warning" and severity_of(" Critical ") == "critical"
    assert highest_severity(["info", None, "page", "critical"]) == "page" and highest_severity([]) is None


_facts = st.builds(
    Facts, number=st.integers(1, 99), resolved=st.booleans(),
    started_at=st.integers(0, 120).map(lambda m: NOW - timedelta(minutes=m)),
    severities=st.lists(st.sampled_from([*SEVERITY_ORDER, None, "P1"]), max_size=4).map(tuple),
    answer=st.sampled_from(["confident", "abstained", "none"]),
    root_service=st.sampled_from(["payments-api", "search", "other", None]),
    runbooks=st.sampled_from([(), ("rb",)]), seen_before=st.booleans(),
    acknowledged_by=st.sampled_from([None, "U1"]), offered=st.booleans(),
    team_pages=st.dictionaries(st.sampled_from(["payments", "search"]), st.integers(0, 3)),
    policies=st.fixed_dictionaries({"pagerduty.page": st.sampled_from(["approve", "auto", "suggest"]),
                                    "opsgenie.alert": st.sampled_from(["approve", "auto"])}))


@given(_facts)
def test_an_offer_means_every_condition_held(f: Facts) -> None:
    """Whatever the facts: an offer implies each condition of the rule, and `auto` implies the auto conditions;
    no offer always carries at least one reason."""
    d = decide(f, CFG, now=NOW)
    if not d.offer:
        assert d.reasons and not d.auto
        return
    sev = highest_severity(f.severities)
    assert not f.resolved and f.answer != "confident" and not f.runbooks and not f.seen_before
    assert f.acknowledged_by is None and not f.offered and NOW - f.started_at >= timedelta(minutes=10)
    assert sev is not None and SEVERITY_ORDER.index(sev) >= SEVERITY_ORDER.index("critical")
    assert d.team is not None and f.team_pages.get(d.team, 0) < 2
    if d.auto:
        assert f.policies[d.action or ""] == "auto"
        assert any(severity_of(s) in ("critical", "page") for s in f.severities)
