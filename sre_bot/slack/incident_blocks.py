"""An incident as one Slack message (redrawn in place as alerts join and resolve), and the thread's batch notes.

The message: number, severity and title; firing/resolved state; start and last alert; services by onset; alert
counts by name; the likely root service with the correlator's reason and, once the investigation has run, its
top hypothesis with the quoted evidence; links to the incident it recurs and the ones it may be related to; and,
when alerts claimed times far from the clock (3 h ahead, 9999-12-31, before 1970), which, and what was used. While
it fires, an "Acknowledge" button (the escalation rule stops for it and its pages are acknowledged); once clicked,
who acknowledged it and when.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from ..store.incidents import StoredAlert, StoredIncident
from ..store.pages import Ack
from .render import escape

__all__ = ["incident_blocks", "batch_blocks", "METADATA_EVENT", "MAX_BATCH_LINES", "ACKNOWLEDGE"]

METADATA_EVENT = "sre_bot_incident"
ACKNOWLEDGE = "sre_incident_ack"  # the button's action_id; its value is the incident's key
MAX_BATCH_LINES = 15
MAX_SKEW_LINES = 2
_LIMIT = 2900
_SEV_ICON = {"critical": "🔴", "error": "🟠", "warning": "🟡", "info": "🔵", "none": "⚪"}


def _md(text: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=text if len(text) <= _LIMIT else text[:_LIMIT - 1] + "…", verbatim=True)


def _t(t: datetime) -> str:
    return f"{t:%Y-%m-%d %H:%M:%S} UTC"


def _lasted(a: datetime, b: datetime) -> str:
    s = max(0, int((b - a).total_seconds()))
    h, m = divmod(s // 60, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s % 60:02d}s" if m < 10 else f"{m}m"


def _root_line(s: StoredIncident, investigating: bool) -> str:
    """The investigation's top hypothesis with its quotes when there is one; the topology's guess otherwise."""
    inc, inv = s.incident, s.investigation
    topo = (f"`{escape(inc.root_service)}` by topology: {escape(inc.root_reason)}" if inc.root_service
            else "not known from topology (no alert names a service)")
    if inv and s.investigated_root and not inv.get("insufficient"):
        conf, cal = inv.get("confidence"), inv.get("calibrated")
        how = (f"confidence {cal:.0%}: {escape(str(inv.get('calibration') or 'recalibrated'))}"
               if isinstance(cal, (int, float))
               else f"confidence {conf:.0%}" if isinstance(conf, (int, float)) else "")
        line = (f"*Likely root service:* `{escape(str(inv.get('service')))}` — {escape(str(inv.get('cause')))}"
                + (f" ({how}, statistics engine)" if how else " (statistics engine)"))
        for q in inv.get("evidence", [])[:2]:
            line += f"\n> {escape(str(q.get('quote', '')))[:300]} `{escape(str(q.get('id', '')))}`"
        if inc.root_service and inc.root_service != inv.get("service"):
            line += f"\n_{topo}_"
        return line
    line = f"*Likely root service:* {topo}"
    if inv and s.investigated_root:
        line += (f"\n*Investigation* (from `{escape(s.investigated_root)}`): insufficient evidence for a cause — "
                 "the thread says what was checked")
    elif investigating and not inc.resolved:
        line += "\n_investigating…_ (the answer goes in the thread)"
    return line


def incident_blocks(s: StoredIncident, *, numbers: Mapping[str, int] | None = None,
                    investigating: bool = False, acknowledged: Ack | None = None) -> tuple[str, list[dict]]:
    """(fallback text, blocks); `numbers` maps other incidents' keys to their numbers for the links;
    `investigating`: the root-service investigation is on and has not answered yet; `acknowledged`: who
    acknowledged it in Slack (else, while it fires, the Acknowledge button)."""
    inc, numbers = s.incident, numbers or {}
    icon = "✅" if inc.resolved else _SEV_ICON.get(inc.severity, "🔴")
    title = f"{icon} #{s.number} {inc.severity.upper()} · {inc.title}"
    total = len(inc.alerts)
    if inc.resolved and inc.resolved_at:
        state = f"✅ *Resolved* at {_t(inc.resolved_at)} (lasted {_lasted(inc.started_at, inc.resolved_at)})"
    else:
        state = f"🔥 *Firing:* {inc.firing} of {total} alert{'s' if total != 1 else ''}"
    services = ", ".join(f"`{escape(x)}`" for x in inc.services[:20]) or "_none named_"
    if len(inc.services) > 20:
        services += f" and {len(inc.services) - 20} more"
    names = ", ".join(f"{escape(n)} ×{c}" for n, c in sorted(inc.alert_names.items(), key=lambda x: (-x[1], x[0])))
    body = (f"{state}\n*Started:* {_t(inc.started_at)} · last alert {inc.last_alert_at:%H:%M:%S} UTC\n"
            f"*Services ({len(inc.services)}):* {services}\n*Alerts ({total}):* {names}")
    blocks: list[Block] = [HeaderBlock(text=PlainTextObject(text=title[:150])), SectionBlock(text=_md(body)),
                           SectionBlock(text=_md(_root_line(s, investigating)))]
    notes = []
    if inc.follows:
        n = numbers.get(inc.follows)
        notes.append(f"recurs {'#' + str(n) if n else inc.follows}, which had resolved")
    related = sorted({numbers.get(r.incident, 0) for r in inc.related} - {0})
    if related:
        notes.append("possibly related: " + ", ".join(f"#{n}" for n in related) + " (not merged: a person decides)")
    notes.append(f"`/sre incident {s.number}` for every alert, the timeline and why alerts were grouped")
    skew = _skew_note(inc.skewed)
    if skew:
        blocks.append(ContextBlock(elements=[_md(skew)]))
    blocks.append(ContextBlock(elements=[_md(" · ".join(notes))]))
    if acknowledged is not None:
        blocks.append(ContextBlock(elements=[_md(f"👀 Acknowledged by <@{escape(acknowledged.by)}> at "
                                                 f"{acknowledged.at:%H:%M} UTC")]))
    elif not inc.resolved:
        blocks.append(ActionsBlock(elements=[ButtonElement(text="Acknowledge", action_id=ACKNOWLEDGE,
                                                           value=s.key[:2000])]))
    fallback = f"{escape(title)} — {'resolved' if inc.resolved else f'{inc.firing} firing'}"  # what notifications show
    return fallback[:3000], [b.to_dict() for b in blocks]


def _skew_note(skewed: Sequence[str]) -> str:
    """'⏱ 2 alerts carried a time far from the clock: …' with the first few, or '' when none did."""
    if not skewed:
        return ""
    n = len(skewed)
    lines = [f"⏱ {n} alert{'s' if n != 1 else ''} carried a time far from the clock; the time the bot received "
             f"{'each' if n != 1 else 'it'} was used instead, so grouping holds:"]
    lines += [f"• {escape(x)[:400]}" for x in skewed[:MAX_SKEW_LINES]]
    if n > MAX_SKEW_LINES:
        lines.append(f"…and {n - MAX_SKEW_LINES} more (the timeline of `/sre incident` has each)")
    return "\n".join(lines)


def _alert_line(a: StoredAlert) -> str:
    e = a.event
    where = f" on `{escape(a.service)}`" if a.service else ""
    which = e.instance
    where += f" ({escape(which)})" if which else ""
    summary = e.annotations.get("summary") or e.annotations.get("description") or ""
    skew = f"\n    ⏱ _{escape(e.skew_note)[:300]}_" if e.skew_note else ""
    return f"• *{escape(e.name)}*{where}" + (f": {escape(summary)[:200]}" if summary else "") + skew


def batch_blocks(s: StoredIncident, joined: Sequence[StoredAlert], resolved: Sequence[StoredAlert],
                 refired: Sequence[StoredAlert]) -> tuple[str, list[dict]]:
    """One thread note for everything that changed since the last one."""
    parts, budget = [], MAX_BATCH_LINES

    def section(head: str, items: Sequence[StoredAlert], reasons: bool) -> None:
        nonlocal budget
        if not items:
            return
        lines = [f"*{head} ({len(items)}):*"]
        for a in items[:max(budget, 0)]:
            why = f"\n    _[{a.rule}] {escape(a.reason)[:240]}_" if reasons and a.rule and a.reason else ""
            lines.append(_alert_line(a) + why)
        if len(items) > max(budget, 0):
            lines.append(f"…and {len(items) - max(budget, 0)} more (`/sre incident {s.number}`)")
        budget -= len(items)
        parts.append("\n".join(lines))

    section("Joined", joined, True)
    section("Fired again", refired, False)
    section("Resolved", resolved, False)
    inc = s.incident
    if inc.resolved and inc.resolved_at and resolved:
        parts.append(f"✅ *Every alert has resolved:* incident #{s.number} resolved at {_t(inc.resolved_at)}.")
    text = "\n\n".join(parts)
    summary = f"#{s.number}: {len(joined)} joined, {len(resolved)} resolved"
    return summary, [SectionBlock(text=_md(text)).to_dict()]
