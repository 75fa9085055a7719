"""An incident told in plain lines for the model's merge/split advice: one fact a line, so a quote names one."""

from __future__ import annotations

from collections.abc import Sequence

from ..store.incidents import StoredAlert, StoredIncident

__all__ = ["brief", "MAX_BRIEF_ALERTS"]

MAX_BRIEF_ALERTS = 30


def brief(s: StoredIncident, alerts: Sequence[StoredAlert]) -> str:
    """What the model is told about one incident (one fact per line, so a quote names one fact)."""
    inc = s.incident
    lines = [f"incident #{s.number}: {inc.title}", f"#{s.number} started {inc.started_at:%Y-%m-%d %H:%M:%S} UTC, "
             f"{'resolved' if inc.resolved else f'{inc.firing} firing'} of {len(inc.alerts)} alerts",
             f"#{s.number} services: {', '.join(inc.services) or 'none named'}",
             f"#{s.number} root by topology: {inc.root_service or '-'} ({inc.root_reason})"]
    for a in alerts[:MAX_BRIEF_ALERTS]:
        e = a.event
        labels = ", ".join(f"{k}={v}" for k, v in sorted(e.labels.items()) if k != "alertname")
        how = f" joined [{a.rule}]: {a.reason}" if a.rule else " opened it"
        skew = f" (its clock was off: {e.skew_note})" if e.skew_note else ""
        lines.append(f"#{s.number} alert {e.fingerprint} {e.name} {{{labels}}} started {e.starts_at:%H:%M:%S}{how}"
                     f"{skew}")
    if len(alerts) > MAX_BRIEF_ALERTS:
        lines.append(f"#{s.number} … and {len(alerts) - MAX_BRIEF_ALERTS} more alerts")
    return "\n".join(lines)
