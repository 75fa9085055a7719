"""The model's optional sentence per runbook step: one request, a forced `step_notes` tool call, then the grounding
check. A note survives only if its quote is found verbatim (after whitespace normalisation) in the text that was
sent for an evidence item of that step, and every number in it is in that text or the step's deterministic
reading. Notes never change a status, a root cause or a remediation: the caller only shows them.

Redaction, the LLM audit file and token metrics work as for investigations. Any failure (no answer, API errors,
the deadline) raises `NotesUnavailable`; the run simply has no notes and says why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..models import Evidence
from .budget import Usage
from .client import LLM
from .evidence_text import render_evidence
from .grounding import MIN_QUOTE_CHARS, normalise, numbers_in
from .oneshot import OneShotUnavailable, forced_tool_call
from .prompts import load_prompt

__all__ = ["StepBrief", "StepNote", "NotesResult", "NotesUnavailable", "runbook_notes", "NOTES_TOOL"]

NOTES_TOOL = "step_notes"
_MAX_SENTENCE = 300
_TOOL = {
    "name": NOTES_TOOL,
    "description": "Give at most one sentence per runbook step, each quoting its evidence verbatim.",
    "input_schema": {"type": "object", "required": ["notes"], "properties": {"notes": {"type": "array", "items": {
        "type": "object", "required": ["step_id", "sentence", "evidence_id", "quote"],
        "properties": {"step_id": {"type": "string"}, "sentence": {"type": "string"},
                       "evidence_id": {"type": "string", "description": "an evidence id of that step"},
                       "quote": {"type": "string", "description": "copied exactly from that evidence's text"}}}}}},
}


@dataclass(frozen=True)
class StepBrief:
    step_id: str
    title: str
    status: str
    reading: str  # the deterministic interpretation
    evidence: Sequence[Evidence]


@dataclass(frozen=True)
class StepNote:
    step_id: str
    sentence: str
    evidence_id: str
    quote: str


@dataclass
class NotesResult:
    notes: dict[str, StepNote]
    dropped: list[str]
    model: str
    prompt_version: str
    usage: Usage = field(default_factory=Usage)


class NotesUnavailable(Exception):
    """No notes this time; the message says why (shown small under the run)."""


def _close(n: str, corpus_numbers: list[float]) -> bool:
    v = float(n.replace(",", ""))
    if v.is_integer() and abs(v) <= 10:
        return True
    return any(abs(v - x) <= max(abs(x) * 0.01, 1e-9) or abs(v - x * 100) <= max(abs(x), 1e-9)
               for x in corpus_numbers)


def _ground(raw: Any, briefs: dict[str, StepBrief], visible: dict[str, str]) -> tuple[dict[str, StepNote],
                                                                                         list[str]]:
    notes: dict[str, StepNote] = {}
    dropped: list[str] = []
    items = raw.get("notes") if isinstance(raw, dict) else None
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        sid, sentence = str(item.get("step_id", "")), " ".join(str(item.get("sentence", "")).split())
        brief = briefs.get(sid)
        if brief is None or sid in notes or not sentence:
            dropped.append(f"{sid or '?'}: no such step, or a second note")
            continue
        ids = [e.id for e in brief.evidence if e.id in visible]
        quote = normalise(str(item.get("quote", ""))).strip("\"'“”‘’ ").removesuffix("…").removeprefix("…")
        where = next((i for i in [str(item.get("evidence_id", "")), *ids] if i in ids and quote
                      and quote in normalise(visible[i])), None)
        if where is None or len(quote.replace(" ", "")) < MIN_QUOTE_CHARS:
            dropped.append(f"{sid}: quote not found verbatim in its evidence")
            continue
        corpus = " ".join([*(visible[i] for i in ids), brief.reading])
        values = [float(x.replace(",", "")) for x in numbers_in(corpus)]
        bad = [n for n in numbers_in(sentence) if not _close(n, values)]
        if bad:
            dropped.append(f"{sid}: numbers not in the evidence ({', '.join(bad)})")
            continue
        notes[sid] = StepNote(sid, sentence[:_MAX_SENTENCE], where, quote)
    return notes, dropped


async def runbook_notes(llm: LLM, *, runbook: str, service: str | None, steps: Sequence[StepBrief],
                        prompts_dir: Path | None = None) -> NotesResult:
    """One sentence per step where the model has one, grounded; NotesUnavailable when none could be had."""
    prompt = load_prompt("runbook_notes", prompts_dir)
    briefs = {s.step_id: s for s in steps if s.evidence}
    visible: dict[str, str] = {}
    parts = [f"Runbook {runbook}" + (f" for service {service}" if service else "") + ". Its steps:"]
    cap = max(llm.limits.tool_result_tokens // max(len(briefs), 1), 300)
    for s in briefs.values():
        rendered = render_evidence(list(s.evidence), cap_tokens=cap, redact=llm.redactor.redact)
        visible.update(rendered.visible)
        parts.append(f"\n## step {s.step_id}: {s.title}\nstatus: {s.status}\nthe runbook's reading: {s.reading}\n"
                     f"{rendered.text}")
    try:
        raw, usage = await forced_tool_call(llm, kind="runbook_notes", prompt=prompt, tool=_TOOL,
                                            text="\n".join(parts))
    except OneShotUnavailable as e:
        raise NotesUnavailable(str(e)) from e
    notes, dropped = _ground(raw, briefs, visible)
    if llm.metrics is not None and dropped:
        llm.metrics.llm_grounding.labels("runbook_notes_dropped").inc(len(dropped))
    return NotesResult(notes, dropped, llm.model, prompt.ref, usage)
