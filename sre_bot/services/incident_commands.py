"""`/sre incidents [all]` and `/sre incident <n>`: the incidents the bot made from Alertmanager's alerts.

The list: open incidents, newest first (`all` adds resolved ones): number, severity, title, firing count, start,
root service. One incident: its state, services, root service and why, the investigation's finding, how its alerts
were linked (each merge's source: a discovered call-graph edge, configured depends_on, a shared label, a learned
co-occurrence, ...), every alert (with the rule, reason and source that brought it in), the incidents it may be
related to, and its timeline.
"""

from __future__ import annotations

import re
from datetime import datetime

from ..analysis.correlation import Merge
from ..deps import Deps
from ..errors import UsageError
from ..incidents.topology import source_text
from ..store.incidents import StoredAlert, StoredIncident
from ..store.store import Store
from ..windows import format_ago
from .reply import Reply, Section, md_escape

__all__ = ["list_incidents", "show_incident", "MAX_ALERT_LINES", "MAX_TIMELINE_LINES", "MAX_INCIDENT_NUMBER"]

MAX_ALERT_LINES = 40
MAX_TIMELINE_LINES = 30
MAX_INCIDENT_NUMBER = 2**31 - 1  # the store's `incidents.number` is a 32-bit integer on PostgreSQL
_KEY = re.compile(r"\binc-[0-9a-f]{10}(?:-\d+)?\b")
_NUMBER = re.compile(r"[0-9]{1,10}")  # ASCII digits only: str.isdigit() also accepts "²", which int() refuses


def _store(deps: Deps) -> Store:
    if deps.store is None:
        raise UsageError("incidents need the store (SRE_BOT_DB_URL); `sre-bot serve` opens it")
    return deps.store


def _state(s: StoredIncident) -> str:
    inc = s.incident
    if inc.resolved:
        return f"resolved {inc.resolved_at:%H:%M} UTC" if inc.resolved_at else "resolved"
    return f"firing {inc.firing}/{len(inc.alerts)}"


def _line(s: StoredIncident, now: datetime) -> str:
    inc = s.incident
    root = f" · root `{md_escape(inc.root_service)}`" if inc.root_service else ""
    return (f"*#{s.number}* {md_escape(inc.severity.upper())} · {md_escape(inc.title)} · {_state(s)} · started "
            f"{inc.started_at:%Y-%m-%d %H:%M} UTC ({format_ago(now, inc.started_at)}){root}")


async def list_incidents(deps: Deps, args: str) -> Reply:
    words = args.lower().split()
    if words not in ([], ["all"]):
        raise UsageError("`/sre incidents` lists open incidents; `/sre incidents all` adds resolved ones")
    everything = words == ["all"]
    found = await _store(deps).incidents.listing(open_only=not everything, limit=25)
    now = deps.clock()
    if not found:
        what = "no incidents yet" if everything else "no open incidents"
        return Reply(kind="incidents", title="Incidents", ephemeral=True,
                     text=f"{what.capitalize()}. Alerts reach me through `POST /alertmanager` (see the README).")
    lines = "\n".join(_line(s, now) for s in found)
    more = "" if len(found) < 25 else "\n_(the 25 newest)_"
    return Reply(kind="incidents", title=f"{'Incidents' if everything else 'Open incidents'} ({len(found)})",
                 ephemeral=True, text=lines + more + "\nDetails: `/sre incident <number>`")


def _source(m: Merge) -> str:
    """Where a merge's link came from, as people read it ("discovered edge", "shared label", ...)."""
    return source_text(m.source) or ("same service" if m.rule == "graph" else m.rule)


def _sources(merges: list[Merge]) -> str | None:
    """"linked by: discovered edge ×3, shared label ×1", most first; None without merges."""
    counts: dict[str, int] = {}
    for m in merges:
        counts[_source(m)] = counts.get(_source(m), 0) + 1
    return ("linked by: " + ", ".join(f"{s} ×{n}" for s, n in sorted(counts.items(), key=lambda x: (-x[1], x[0])))
            if counts else None)


def _alert_line(a: StoredAlert, merge: Merge | None = None) -> str:
    e = a.event
    where = f" on `{a.service}`" if a.service else ""
    pod = e.instance
    when = f"{e.starts_at:%H:%M:%S}" + (f"–{e.ends_at:%H:%M:%S}" if e.status == "resolved" and e.ends_at else "")
    how = f" · [{a.rule}] {a.reason}" if a.rule else " · opened the incident" if a.reason is None else ""
    if a.rule and merge is not None and merge.rule == a.rule:
        how += f" · source: {md_escape(_source(merge))}"
    return f"• {'✅' if e.status == 'resolved' else '🔥'} {e.name}{where}" + (f" ({pod})" if pod else "") + \
        f" · {when} UTC{how}" + (f" · ⏱ {e.skew_note}" if e.skew_note else "")


async def show_incident(deps: Deps, args: str) -> Reply:
    ref = args.strip().lstrip("#")
    if not _NUMBER.fullmatch(ref) or not 1 <= int(ref) <= MAX_INCIDENT_NUMBER:
        raise UsageError(f"`/sre incident <number>` takes an incident number from 1 to {MAX_INCIDENT_NUMBER}, e.g. "
                         "`/sre incident 12` (`/sre incidents` lists them)")
    store = _store(deps)
    s = await store.incidents.get(int(ref))
    if s is None:
        raise UsageError(f"there is no incident #{ref}; `/sre incidents all` lists them")
    inc = s.incident
    numbers: dict[str, str] = {}
    for key in {r.incident for r in inc.related} | ({inc.follows} if inc.follows else set()):
        other = await store.incidents.get(key)
        numbers[key] = f"#{other.number}" if other else key
    alerts = await store.incidents.alerts(s.key)
    merges = {m.alert: m for m in inc.merges}  # the latest merge of each alert (a recurrence may join again)
    timeline = await store.incidents.timeline(s.key)
    summary = [f"{_state(s)} · started {inc.started_at:%Y-%m-%d %H:%M:%S} UTC · last alert "
               f"{inc.last_alert_at:%H:%M:%S} UTC",
               md_escape(f"services: {', '.join(inc.services) or 'none named'}"),
               md_escape(f"likely root service: {inc.root_service or '—'} ({inc.root_reason})")]
    if linked := _sources(inc.merges):
        summary.append(md_escape(linked))
    inv = s.investigation
    if inv:
        summary.append("investigation: " + ("insufficient evidence" if inv.get("insufficient") else
                                            md_escape(f"{inv.get('service')}: {inv.get('cause')} ")
                                            + f"({float(inv.get('confidence', 0)):.0%})"))
    if inc.follows:
        summary.append(f"recurs {numbers[inc.follows]}, which had resolved")
    if s.channel:
        summary.append(f"message in channel {md_escape(s.channel)}" + ("" if s.message_ts else " (not posted yet)"))
    sections = [Section(title="Alerts", note="\n" + "\n".join(
        [_alert_line(a, merges.get(a.event.fingerprint)) for a in alerts[:MAX_ALERT_LINES]]
        + ([f"…and {len(alerts) - MAX_ALERT_LINES} more"] if len(alerts) > MAX_ALERT_LINES else [])))]
    if inc.related:
        sections.append(Section(title="Possibly related (not merged: a person decides)", note="\n" + "\n".join(
            f"• {numbers[r.incident]} [{r.rule}] {r.reason}" for r in inc.related)))
    shown = timeline[-MAX_TIMELINE_LINES:]
    cut = len(timeline) - len(shown)
    for key in {k for t in shown for k in _KEY.findall(t.text)} - set(numbers):
        other = await store.incidents.get(key)
        numbers[key] = f"#{other.number}" if other else key
    shown = [t._replace(text=_KEY.sub(lambda m: numbers.get(m.group(0), m.group(0)), t.text)) for t in shown]
    sections.append(Section(title="Timeline", note="\n" + "\n".join(
        ([f"…{cut} earlier entries"] if cut else []) + [f"{t.at:%H:%M:%S} {t.text}" for t in shown])))
    return Reply(kind="incident", title=f"#{s.number} {inc.severity.upper()} · {inc.title}"[:150],
                 summary=" · ".join(summary[:1]), text="\n".join(summary[1:]), sections=sections, ephemeral=True)
