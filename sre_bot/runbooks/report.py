"""A run as a Reply: one section per step (status, interpretation, the model's verified sentence, its evidence
quoted and linked like every other answer), the outcome on top, the remediation at the end. Slack redraws the
same message from it after every step; the console and a mention show it once. Pure.
"""

from __future__ import annotations

from ..services.reply import Reply, Section, gaps_of
from .run import RemedyRun, RunState, StepRun

__all__ = ["run_reply", "STATUS_ICON"]

STATUS_ICON = {"pending": "⏸️", "running": "🔄", "ok": "✅", "finding": "🔎", "failed": "⚠️", "skipped": "⏭️"}
_MAX_BLOCKS = 50  # Slack's limit per message
_PRIORITY = {"finding": 0, "failed": 1, "ok": 2}
_PER_STEP = 3
_REMEDY = {
    "approve": "approval requested below", "auto": "ran automatically (autonomy: auto), see below",
    "suggest": "suggested only", "off": "turned off in the config", "error": "could not be prepared",
    "unsupported": "not offered",
}


def _summary(state: RunState) -> str:
    done = sum(1 for s in state.steps if s.status not in ("pending", "running"))
    if state.outcome == "running":
        current = state.current
        return f"Running: {done} of {len(state.steps)} steps done" + (f", now: {current.step.title}"
                                                                       if current else "")
    failed = sum(1 for s in state.steps if s.status == "failed")
    tail = f" ({failed} step(s) could not check)" if failed else ""
    if state.outcome == "cause_found":
        return f"Root cause found: {state.cause}{tail}"
    if state.outcome == "findings":
        return f"{len(state.findings)} finding(s), no root cause declared by the runbook{tail}"
    if state.outcome == "incomplete":
        return f"Nothing found, but {failed} step(s) could not check: the answer is incomplete"
    return "Nothing found: every check read normal"


def _shown(steps: list[StepRun], budget: int) -> dict[str, int]:
    """How many evidence items each step shows (two blocks each), within Slack's 50 once every step has its
    title: findings first, then failures, then the rest; within a group, one item per step per round."""
    left = budget - 2 * len(steps)
    counts = {s.step.id: 0 for s in steps}
    for status in _PRIORITY:
        group = [s for s in steps if s.status == status]
        for round_ in range(_PER_STEP):
            for s in group:
                if left >= 2 and len(s.evidence) > round_:
                    counts[s.step.id] += 1
                    left -= 2
    return counts


def _section(i: int, sr: StepRun, shown: int) -> Section:
    note = sr.interpretation or ("waiting" if sr.status == "pending" else "reading…")
    if sr.note and sr.note_quote:
        note += f"\n🤖 {sr.note} (“{sr.note_quote[1][:200]}”, `{sr.note_quote[0]}`)"
    hidden = len(sr.evidence) - shown if sr.status in _PRIORITY else 0
    if hidden > 0:
        note += f" ({hidden} more evidence item(s) in the audit)"
    return Section(title=f"{STATUS_ICON[sr.status]} {i}. {sr.step.title} — {sr.status}", note=note,
                   evidence=sr.evidence[:shown])


def _remedy_line(r: RemedyRun) -> str:
    return f"• {r.describe} — {_REMEDY[r.kind]}" + (f": {r.note}" if r.note else "")


def run_reply(state: RunState) -> Reply:
    rb = state.runbook
    evidence = [e for s in state.steps for e in s.evidence]
    gaps = gaps_of(evidence)
    fixed = 4 + (2 if state.outcome != "running" else 0) + (2 if gaps else 0)  # header, summary, text, footer
    shown = _shown(state.steps, _MAX_BLOCKS - fixed)
    sections = [_section(i, sr, shown[sr.step.id]) for i, sr in enumerate(state.steps, 1)]
    if state.outcome != "running":
        if state.remedies:
            note = "\n".join(_remedy_line(r) for r in state.remedies)
        elif rb.remediation:
            note = "nothing offered: the runbook offers its remediation only when it finds the cause"
        else:
            note = "this runbook names no remediation"
        sections.append(Section(title="Remediation (a person decides; nothing runs from this message)", note=note))
    who = f" · started by <@{state.requested_by}>" if state.requested_by else ""
    title = rb.title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = f"*{title}*{who} at {state.started_at:%H:%M} UTC · run `{state.id}`"
    footer = (f"Read-only steps from {rb.source or rb.name} (version {rb.digest or '-'}); statuses come from the "
              "runbook's own conditions") + (f" · {state.notes_by}" if state.notes_by else "")
    return Reply(kind="investigation", title=f"📒 Runbook {rb.name}" + (f" — {state.service}" if state.service
                                                                        else ""),
                 summary=_summary(state), text=text, sections=sections, gaps=gaps, footer=footer,
                 requests=[r.request for r in state.remedies if r.request is not None and r.kind in ("approve",
                                                                                                       "auto")],
                 request_notes={r.request.id: r.note for r in state.remedies if r.request is not None and r.note})
