"""The `truth:` format (sandbox/truth.py), the questions asked of it (evaluation/cases.py) and `backends:`."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest

from sre_bot.clock import frozen_clock
from sre_bot.errors import ConfigError
from sre_bot.evaluation.cases import default_question, eval_cases
from sre_bot.sandbox import Sandbox, load_scenario, parse_scenario
from tests.sandbox._support import NOW

BASE: dict[str, Any] = {
    "name": "t",
    "duration": "2h",
    "services": [
        {"name": "web", "depends_on": ["api"]},
        {"name": "api", "depends_on": ["db"]},
        {"name": "db", "kind": "database"},
        {"name": "jobs", "kind": "worker"},
    ],
    "alerts": [
        {"alertname": "HighErrorRate", "service": "web", "severity": "warning", "starts": "-5m"},
        {"alertname": "HighErrorRate", "service": "api", "severity": "critical", "starts": "-6m"},
        {"alertname": "DBDown", "service": "db", "severity": "critical", "starts": "-7m"},
        {"alertname": "JobLate", "service": "jobs", "starts": "-3m"},
    ],
}


def _with_truth(truth: Any) -> dict[str, Any]:
    return {**copy.deepcopy(BASE), "truth": truth}


def _error(truth: Any) -> str:
    with pytest.raises(ConfigError) as e:
        parse_scenario(_with_truth(truth), source="scenario t.yaml")
    return str(e.value)


def test_the_original_form_is_one_incident_with_every_alert_on_its_services() -> None:
    """A top-level truth is one case; without `alerts:` it owns the alerts on its root and affected services."""
    sc = parse_scenario(_with_truth({"root_service": "db", "cause": "dependency_outage", "summary": "db died",
                                     "affected": ["api", "web"]}))
    (case,) = eval_cases(sc)
    assert case.name == "db" and case.truth.root_service == "db" and case.alerts == (0, 1, 2)
    assert case.question == "why is web failing?"  # the alerting service that depends on the most others
    assert sc.truth is not None and sc.truth.root_service == "db"  # old readers keep working


def test_incidents_with_alert_references_questions_and_actions() -> None:
    """`incidents:` gives several cases; `Name@service` picks one alert; a no-cause case abstains."""
    sc = parse_scenario(_with_truth({"incidents": [
        {"name": "db", "alerts": ["DBDown", "HighErrorRate"], "root_service": "db", "cause": "dependency_outage",
         "action": "none"},
        {"name": "jobs", "alerts": ["JobLate@jobs"], "question": "why are jobs late?", "cause": "none",
         "action": "none"},
        {"name": "deploy", "root_service": "api", "cause": "bad_deploy", "question": "why is api failing?",
         "action": {"name": "argocd.rollback"}},
    ]}))
    db, jobs, deploy = eval_cases(sc)
    assert db.alerts == (0, 1, 2) and db.question == "why is web failing?"
    assert jobs.alerts == (3,) and jobs.question == "why are jobs late?" and jobs.truth.root_service is None
    assert deploy.alerts == () and deploy.truth.action_service == "api"


@pytest.mark.parametrize("truth, expected", [
    ({"root_service": "api", "cause": "none", "summary": "."}, "cause `none` means no root service"),
    ({"cause": "bad_deploy", "summary": "."}, "cause 'bad_deploy' needs a `root_service`"),
    ({"cause": "none", "action": {"name": "argocd.rollback"}}, "takes `action: none`"),
    ({"root_service": "nope", "cause": "bad_deploy"}, "truth: unknown service 'nope'"),
    ({"root_service": "api", "cause": "bad_deploy", "alerts": ["Nope"]}, "'Nope' selects no alert"),
    ({"root_service": "api", "cause": "bad_deploy", "action": {"name": "argocd.restart", "service": "x"}},
     "unknown service 'x'"),
    ({"root_service": "api", "cause": "weather"}, "truth.cause"),
    ({"cause": "none", "incidents": [{"name": "a", "cause": "none"}]}, "write cause inside each incident"),
    ({"incidents": [{"name": "a", "cause": "none"}, {"name": "a", "cause": "none"}]}, "must be unique: a"),
    ({"incidents": [{"name": "a", "cause": "none", "alerts": ["HighErrorRate"]},
                    {"name": "b", "cause": "none", "alerts": ["HighErrorRate@api"]}]},
     "truth.incidents[b].alerts: 'HighErrorRate@api' is already in incident 'a'"),
])
def test_truth_mistakes_are_named(truth: dict[str, Any], expected: str) -> None:
    """Each mistake in a truth is refused with the field and the reason."""
    assert expected in _error(truth)


def test_default_question_without_alerts_names_no_service() -> None:
    """No alert and no question: the generic question, which names no service (and so no root)."""
    sc = parse_scenario(_with_truth({"cause": "none"}))
    assert default_question(sc, ()) == "what is wrong?"


async def test_a_down_backend_answers_503_and_an_absent_one_is_not_configured() -> None:
    """`backends: {loki: down, argocd: absent}`: Loki is served but fails, Argo CD has no URL at all."""
    data = copy.deepcopy(BASE)
    data["backends"] = {"loki": "down", "argocd": "absent"}
    sc = parse_scenario(data)
    async with Sandbox(sc, clock=frozen_clock(NOW)) as sb:
        env = sb.urls.as_env()
        assert "ARGOCD_URL" not in env and sb.urls.argocd is None and "LOKI_URL" in env
        async with httpx.AsyncClient() as http:
            r = await http.get(env["LOKI_URL"] + "/loki/api/v1/query_range", params={"query": '{app="web"}'})
            assert r.status_code == 503 and "down in this scenario" in r.text
            ok = await http.get(env["PROMETHEUS_URL"] + "/api/v1/query", params={"query": "up"})
            assert ok.status_code == 200


def test_unknown_backend_state_is_refused() -> None:
    """A backend state other than up, down or absent is a field error."""
    data = copy.deepcopy(BASE)
    data["backends"] = {"loki": "flaky"}
    with pytest.raises(ConfigError, match=r"backends\.loki"):
        parse_scenario(data)


def test_the_default_scenario_keeps_its_story_and_gains_truth_fields() -> None:
    """checkout-bad-deploy: same root and cause, its question, its five incident alerts, the rollback."""
    sc = load_scenario("checkout-bad-deploy")
    (case,) = eval_cases(sc)
    assert case.truth.root_service == "checkout" and case.truth.cause == "bad_deploy"
    assert case.question == "why is frontend returning errors?"
    names = {sc.alerts[i].alertname for i in case.alerts}
    assert "CatalogCacheHitRateLow" not in names and "KubePodCrashLooping" not in names and len(case.alerts) == 5
    assert case.truth.action_service == "checkout"
