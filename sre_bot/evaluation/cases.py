"""From a scenario's truth to what the evaluation asks: one case per truth incident, with its question and alerts.

The question is the truth's own (`question:`), else what an on-call engineer paged by the incident would ask:
"why is <service> failing?" for the alerting service that depends on most of the incident's other alerting
services (the symptom end of the chain: the user-facing one), ties broken by severity then start. With no alert and
no question it is "what is wrong?". A case without truth alerts has no correlation truth.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..analysis.correlation import SEVERITIES, severity_of
from ..analysis.graph import depends_on_closure
from ..sandbox.scenario import Scenario
from ..sandbox.truth import TruthIncident, alert_ref_matches

__all__ = ["EvalCase", "eval_cases", "incident_alerts", "default_question", "action_text"]


@dataclass(frozen=True)
class EvalCase:
    name: str
    question: str
    truth: TruthIncident
    alerts: tuple[int, ...]  # indexes into scenario.alerts


def incident_alerts(sc: Scenario, inc: TruthIncident, *, single: bool) -> tuple[int, ...]:
    """The scenario alerts of this incident: its `alerts:` references, or (a lone incident without them) every alert
    on its root service and affected services."""
    if inc.alerts is not None:
        return tuple(i for i, a in enumerate(sc.alerts) if any(alert_ref_matches(r, a.alertname, a.service)
                                                                 for r in inc.alerts))
    if not single:
        return ()
    services = {inc.root_service, *inc.affected} - {None}
    return tuple(i for i, a in enumerate(sc.alerts) if a.service in services)


def _closure(sc: Scenario, start: str) -> set[str]:
    return depends_on_closure({s.name: s.depends_on for s in sc.services}, start)


def default_question(sc: Scenario, alerts: tuple[int, ...]) -> str:
    specs = [sc.alerts[i] for i in alerts if sc.alerts[i].service]
    if not specs:
        return "what is wrong?"
    alerting = {a.service for a in specs}
    sev = {s: i for i, s in enumerate(SEVERITIES)}

    def key(a):  # noqa: ANN001 - an AlertSpec
        reach = len(_closure(sc, a.service) & alerting)
        severity = sev[severity_of({"severity": a.severity})]
        return (-reach, severity, a.starts)

    return f"why is {min(specs, key=key).service} failing?"


def eval_cases(sc: Scenario) -> list[EvalCase]:
    """Every truth incident as a case; a scenario without truth has none."""
    if sc.truth is None:
        return []
    incidents = sc.truth.cases()
    out = []
    for inc in incidents:
        alerts = incident_alerts(sc, inc, single=len(incidents) == 1)
        out.append(EvalCase(name=inc.name, question=inc.question or default_question(sc, alerts), truth=inc,
                            alerts=alerts))
    return out


def action_text(name: str, service: str | None) -> str:
    """An action as results compare it: "argocd.rollback checkout"."""
    return f"{name} {service}" if service else name
