"""`/sre status <service>`: golden signals now vs baseline, firing alerts, Argo CD state and deploys, top errors.

All of it within one answer deadline (SRE_BOT_ANSWER_DEADLINE): a system that does not answer in time is named in
the gaps, and what the others said is still shown."""

from __future__ import annotations

import asyncio

from ..deadline import answer_deadline
from ..deps import Deps
from ..models import Evidence, TimeRange
from ..tools.alerts import firing_alerts
from ..tools.deploys import app_status
from ..tools.logs import error_templates
from ..tools.signals import golden_signals
from .reply import Reply, Section, gaps_of

__all__ = ["status_report", "signal_summary"]


def signal_summary(service: str, signals: list[Evidence]) -> str:
    """One line: which signals are off their baseline, or that all checked ones look normal."""
    off = [e for e in signals if e.status == "ok" and e.data.get("verdict") in ("high", "low")]
    checked = [e for e in signals if e.status == "ok"]
    if not checked:
        return f"{service}: no signal data to compare"
    if not off:
        return f"{service}: all {len(checked)} signals with data are within their baseline"
    parts = [f"{e.label.removeprefix(service + ' ')} {e.data['verdict']}" for e in off]
    return f"{service}: {len(off)} of {len(checked)} signals off baseline — " + ", ".join(parts)


async def status_report(deps: Deps, service: str, window: TimeRange) -> Reply:
    svc = deps.config.service(service)
    with answer_deadline(deps.settings.answer_deadline_s) as deadline:
        signals, alerts, app, logs = await asyncio.gather(
            golden_signals(deps, svc, window),
            firing_alerts(deps, svc),
            app_status(deps, deps.config.argocd_app(svc), service=svc.name),
            error_templates(deps, svc, window),
        )
    deadline.close()  # the answer is in
    everything = [*signals, *alerts, *app, *logs]
    known = deps.config.find_service(service) is not None
    summary = signal_summary(svc.name, signals)
    if not known and not any(e.status == "ok" for e in everything):
        names = ", ".join(deps.config.service_names) or "none configured"
        summary = f"I found no data for `{service}` anywhere. Known services: {names}."
    firing = [e for e in alerts if e.kind == "alert"]
    if firing:
        summary += f"; {len(firing)} alert{'s' if len(firing) != 1 else ''} firing"
    return Reply(
        kind="status", title=f"Status of {svc.name}", summary=summary, window=window,
        sections=[
            Section(title="Golden signals (now vs baseline)", evidence=signals),
            Section(title="Firing alerts", evidence=alerts),
            Section(title="Argo CD", evidence=app),
            Section(title="Top error log lines", evidence=logs),
        ],
        gaps=gaps_of(everything),
    )
