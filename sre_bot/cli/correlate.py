"""`sre-bot correlate FILE... [--json] [--config sre-bot.yaml] [--discover] [--show-graph]`: replay alerts from
files, print the incidents.

So a team can tune its `correlation:` rules on last night's storm: the files are Alertmanager webhook v4 bodies,
lists of them, or lists of alerts as the v2 API returns them (`alert_payloads.py`). The rules come from the
config's `correlation:` section, the dependency graph from its `services[].depends_on` (aliases resolved). Events
are replayed in the order they happened (`correlate`). No server is contacted, unless:

- `--discover`: the topology is discovered as the running bot discovers it (`incidents/topology.discover`) from the
  configured systems (PROMETHEUS_URL's call-graph metrics, ARGOCD_URL's applications, ties learned from the
  resolved incidents in SRE_BOT_DB_URL when that database exists), at the time of the storm: the call graph is read
  over the hour before the capture's first alert up to its last one (at most a day), so last night's storm is
  replayed with last night's graph. A system that is not configured or does not answer adds nothing; stderr says so.
- `--show-graph`: the topology used is printed first, one line per edge (with where it came from), group and
  learned tie (`--json`: a `topology` object).

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
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ..alert_payloads import load_alert_files
from ..analysis.alert_times import replay_arrivals
from ..analysis.correlation import AlertEvent, Incident, correlate
from ..analysis.topology import Topology
from ..config import Config, load_config

if TYPE_CHECKING:
    from ..settings import Settings
    from ..store.store import Store

__all__ = ["run_correlate", "incidents_json", "render_incidents", "topology_json", "render_topology",
           "replay_topology", "MAX_DISCOVERY_SPAN"]

MAX_DISCOVERY_SPAN = timedelta(days=1)


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


def topology_json(topo: Topology) -> dict[str, Any]:
    """The `--json` document's `topology`: edges with their source, groups, learned ties, and the lines."""
    return {
        "edges": [{"caller": a, "callee": b, "source": s} for (a, b), s in sorted(topo.edges.items())],
        "groups": dict(sorted(topo.groups.items())),
        "ties": [{"services": [a, b], "together": t.together, "seen": t.seen, "strength": round(t.strength, 3)}
                 for (a, b), t in sorted(topo.ties.items())],
        "lines": topo.describe(),
    }


def render_topology(topo: Topology) -> str:
    """A heading that counts each part, then `Topology.describe()`."""
    by = {src: sum(1 for s in topo.edges.values() if s == src) for src in ("discovered", "config")}
    head = (f"topology: {len(topo.edges)} edge{'s' if len(topo.edges) != 1 else ''} ({by['discovered']} discovered, "
            f"{by['config']} configured), {len(set(topo.groups.values()))} Argo CD group(s), "
            f"{len(topo.ties)} learned tie(s)")
    return "\n".join([head, *(f"  {line}" for line in topo.describe())])


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


def _span(events: Sequence[AlertEvent], wall: datetime) -> tuple[datetime, timedelta]:
    """When the storm happened, as the discovery reads it: (its end, how far back): the receive times the replay
    gave (corroborated by the rest of the capture), from an hour before the first to the last (capped at the wall
    clock and at MAX_DISCOVERY_SPAN)."""
    from ..incidents.topology import DISCOVERY_WINDOW

    times = [e.received_at for e in events if e.received_at is not None]
    if not times:
        return wall, DISCOVERY_WINDOW
    end = min(max(times), wall)
    back = min(max(end - min(times), timedelta(0)) + DISCOVERY_WINDOW, MAX_DISCOVERY_SPAN)
    return end, back


async def _history_store(settings: Settings, err: TextIO) -> Store | None:
    """The bot's store to learn ties from, when SRE_BOT_DB_URL names one that exists (never a new SQLite file)."""
    from sqlalchemy.engine import make_url

    from ..store.errors import StoreError
    from ..store.store import open_store

    url = make_url(settings.db_url)
    if url.get_backend_name() == "sqlite" and not (url.database and Path(url.database).exists()):
        err.write(f"--discover: no store at {url.database or settings.db_url}: no learned ties\n")
        return None
    try:
        return await open_store(settings.db_url)
    except StoreError as e:
        err.write(f"--discover: the store could not be read ({e}): no learned ties\n")
        return None


async def replay_topology(cfg: Config, events: Sequence[AlertEvent], *, settings: Settings | None = None,
                          err: TextIO | None = None, wall: datetime | None = None) -> Topology:
    """The topology the running bot would have used for this storm: `discover` over the configured systems at the
    storm's time (see the module docstring). Never fails for a system that does not answer."""
    from ..compose import open_deps
    from ..incidents.topology import discover
    from ..settings import load_settings

    err = err or sys.stderr
    settings = settings or load_settings()
    missing = [name for name, v in (("PROMETHEUS_URL", settings.prometheus_url), ("ARGOCD_URL", settings.argocd_url))
               if v is None]
    if missing:
        err.write(f"--discover: {' and '.join(missing)} not set: nothing discovered from "
                  f"{'them' if len(missing) > 1 else 'it'}\n")
    end, back = _span(events, wall or datetime.now(timezone.utc))
    store = await _history_store(settings, err)
    try:
        async with open_deps(settings, config=cfg, use_llm=False) as deps:
            return await discover(replace(deps, store=store), now=end, window=back)
    finally:
        if store is not None:
            await store.close()


async def run_correlate(files: Sequence[str], *, as_json: bool = False, config_path: str | None = None,
                        out: TextIO | None = None, discover: bool = False, show_graph: bool = False,
                        err: TextIO | None = None) -> int:
    """Read the files, correlate, print; a bad file or config raises UsageError/ConfigError (exit 2 in cli)."""
    out = out or sys.stdout
    cfg = _load(config_path)
    rules = cfg.correlation
    events = replay_arrivals(load_alert_files(files), horizon=rules.max_age_delta + rules.window_delta)
    aliases = {a: s.name for s in cfg.services for a in s.aliases}
    topo = (await replay_topology(cfg, events, err=err) if discover
            else Topology.build(config=cfg.dependencies()))
    incidents = correlate(events, cfg.correlation, aliases=aliases, topology=topo)
    alerts_in = len({e.fingerprint for e in events})
    if as_json:
        doc = incidents_json(incidents, alerts_in=alerts_in, events_in=len(events))
        if show_graph:
            doc["topology"] = topology_json(topo)
        out.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    else:
        if show_graph:
            out.write(render_topology(topo) + "\n\n")
        out.write(render_incidents(incidents, alerts_in=alerts_in, events_in=len(events), files=len(files)) + "\n")
    return 0
