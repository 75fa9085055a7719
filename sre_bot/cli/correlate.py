"""`sre-bot correlate FILE... [--json] [--config sre-bot.yaml]`: replay alerts from files, print the incidents.

So a team can tune its `correlation:` rules on last night's storm: the files are Alertmanager webhook v4 bodies,
lists of them, or lists of alerts as the v2 API returns them (`alert_payloads.py`). The rules come from the
config's `correlation:` section, the dependency graph from its `services[].depends_on` (aliases resolved). Events
are replayed in the order they happened (`correlate`). No server is contacted.

Times far from the clock: the live bot checks each alert's times against when it received the notification (a
start more than `max_clock_skew` after that, or before 1970, is set aside and the receive time used). Captured
files carry no receive time and the replay has no "now" — the wall clock says nothing about last night's storm —
so the capture is its own clock (`alert_times.replay_arrivals`): a notification is taken as received at the
latest time that the capture's other alerts corroborate (another alert claims a time within `max_incident_age`
+ `window` of it) among the notifications up to it, in the order the files give them. A start on 9999-12-31,
three hours past the rest of the storm or before 1970 is then set aside as the live bot would, and the output
says which time was set aside and what was used. An alert alone, that far from every other alert of the capture,
cannot be told from a skewed clock and is treated as one; a capture with no two alerts near each other is taken
as it is.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from ..alert_payloads import load_alert_files
from ..analysis.alert_times import replay_arrivals
from ..analysis.correlation import Incident, correlate
from ..config import Config, load_config

__all__ = ["run_correlate", "incidents_json", "render_incidents"]


def _load(config_path: str | None) -> Config:
    if config_path:
        return load_config(Path(config_path), required=True)
    from ..settings import load_settings

    return load_config(load_settings().config_path)


def incidents_json(incidents: Sequence[Incident], *, alerts_in: int, events_in: int) -> dict[str, Any]:
    """The `--json` document: every incident with its alerts' fingerprints and merge reasons."""
    return {
        "alerts_in": alerts_in,
        "events_in": events_in,
        "incidents_out": len(incidents),
        "incidents": [{
            "id": i.key, "title": i.title, "severity": i.severity, "services": i.services,
            "root_service": i.root_service, "root_reason": i.root_reason, "alerts": i.alerts,
            "alert_names": i.alert_names, "started_at": i.started_at.isoformat(),
            "last_alert_at": i.last_alert_at.isoformat(), "resolved": i.resolved,
            "resolved_at": i.resolved_at.isoformat() if i.resolved_at else None, "firing": i.firing,
            "follows": i.follows, "merges": [m.model_dump() for m in i.merges],
            "related": [r.model_dump() for r in i.related], "skewed": i.skewed,
        } for i in incidents],
    }


def render_incidents(incidents: Sequence[Incident], *, alerts_in: int, events_in: int, files: int) -> str:
    """One block per incident: key, severity, title, state, services, root service and why, merges."""
    lines = [f"{alerts_in} alerts ({events_in} events) from {files} file{'s' if files != 1 else ''} → "
             f"{len(incidents)} incident{'s' if len(incidents) != 1 else ''}"]
    for i in incidents:
        state = (f"resolved at {i.resolved_at:%Y-%m-%d %H:%M:%S} UTC" if i.resolved and i.resolved_at
                 else "resolved" if i.resolved else f"firing {i.firing} of {len(i.alerts)}")
        names = ", ".join(f"{n} ×{c}" for n, c in sorted(i.alert_names.items(), key=lambda x: (-x[1], x[0])))
        lines += ["", f"{i.key}  {i.severity.upper()}  {i.title}",
                  f"  started   {i.started_at:%Y-%m-%d %H:%M:%S} UTC · {state}",
                  f"  services  {', '.join(i.services) or '(none named)'}",
                  f"  root      {i.root_service or '—'}: {i.root_reason}",
                  f"  alerts    {len(i.alerts)}: {names}"]
        if i.follows:
            lines.append(f"  follows   {i.follows} (a recurrence after it resolved)")
        for n, m in enumerate(i.merges):
            lines.append(f"  {'merges' if n == 0 else '':<9} {m.alert} [{m.rule}] {m.reason}")
        for n, r in enumerate(i.related):
            lines.append(f"  {'related' if n == 0 else '':<9} {r.incident} [{r.rule}] {r.reason}")
        for n, note in enumerate(i.skewed):
            lines.append(f"  {'clock' if n == 0 else '':<9} {note}")
    return "\n".join(lines)


def run_correlate(files: Sequence[str], *, as_json: bool = False, config_path: str | None = None,
                  out: TextIO | None = None) -> int:
    """Read the files, correlate, print; a bad file or config raises UsageError/ConfigError (exit 2 in cli)."""
    out = out or sys.stdout
    cfg = _load(config_path)
    rules = cfg.correlation
    events = replay_arrivals(load_alert_files(files), horizon=rules.max_age_delta + rules.window_delta)
    aliases = {a: s.name for s in cfg.services for a in s.aliases}
    incidents = correlate(events, cfg.correlation, cfg.dependencies(), aliases=aliases)
    alerts_in = len({e.fingerprint for e in events})
    if as_json:
        doc = incidents_json(incidents, alerts_in=alerts_in, events_in=len(events))
        out.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    else:
        out.write(render_incidents(incidents, alerts_in=alerts_in, events_in=len(events), files=len(files)) + "\n")
    return 0
