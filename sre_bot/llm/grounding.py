"""The grounding check: nothing the model wrote is shown until it is checked against what the tools returned.

- A quote must occur, after whitespace normalisation, in the text that was sent for the evidence item it cites
  (or, if it cites the wrong item, in another one: it is then re-attributed). Quotes that fail are removed and
  the answer is marked.
- A number in the summary, a cause or the timeline must match a value in the evidence (unit conversions of ms/s
  and ratio/percent allowed; small counts up to 10 are exempt). Numbers that fail are listed under the answer.
- A hypothesis needs at least one evidence item that exists and is `ok`; one without is dropped and named as
  unsupported. A timeline entry must cite an existing item.
- A suggested action must be in the catalog, its arguments must validate and the cited evidence must support it
  (`actions.catalog.validate_action`, with the configured webhook names); one that fails is dropped, and kept in
  `GroundedAnswer.refused_actions` with why (the caller audits it).
Pure: no I/O. Every removal is counted in `GroundedAnswer.counts` for logs and metrics.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..actions.catalog import ProposedAction, validate_action
from ..errors import UsageError
from ..models import Evidence
from .schema import ModelAnswer

__all__ = ["GroundedHypothesis", "GroundedAnswer", "RefusedAction", "ground", "normalise", "numbers_in"]

MIN_QUOTE_CHARS = 6
_NUM = re.compile(r"(?<![\w.])[-+]?\d[\d,]*(?:\.\d+)?(?![\d])")
_TIME = re.compile(r"\b\d{1,2}:\d{2}(?::\d{2})?\b")
_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")


def normalise(text: str) -> str:
    return " ".join(text.split())


def _strip_quote(q: str) -> str:
    q = normalise(q).strip("\"'“”‘’ ")
    q = q.removeprefix("…").removeprefix("...").removesuffix("…").removesuffix("...")
    return q.strip()


def numbers_in(text: str) -> list[str]:
    """The numbers a reader would take as facts (times and dates are checked as strings elsewhere)."""
    text = _DATE.sub(" ", _TIME.sub(" ", text))
    return [m.group(0).lstrip("+") for m in _NUM.finditer(text)]


def _values(corpus: str) -> set[float]:
    out: set[float] = set()
    for n in numbers_in(corpus):
        try:
            v = float(n.replace(",", ""))
        except ValueError:
            continue
        out.update({v, v * 1000, v / 1000, v * 100, v / 100})
    return out


def _number_ok(n: str, values: set[float]) -> bool:
    v = float(n.replace(",", ""))
    if v.is_integer() and abs(v) <= 10:
        return True
    return any(abs(v - x) <= max(abs(x) * 0.01, 1e-9) for x in values)


@dataclass
class GroundedHypothesis:
    service: str | None
    cause: str
    confidence: float
    evidence: list[Evidence]
    quotes: list[tuple[str, str]]  # (evidence id, verbatim text)
    unverified_numbers: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RefusedAction:
    """A suggested action the check dropped: what the model asked for, and why it may not be proposed."""

    action: str
    args: dict[str, Any]
    reason: str
    evidence_ids: list[str]
    why: str


@dataclass
class GroundedAnswer:
    summary: str
    insufficient: bool
    hypotheses: list[GroundedHypothesis]
    timeline: list[tuple[str, str, str]]  # (at, text, evidence id)
    actions: list[ProposedAction]
    unknowns: list[str]
    marks: list[str]  # what the check removed or could not verify, said plainly under the answer
    counts: dict[str, int]
    dropped_actions: list[str] = field(default_factory=list)  # why each was dropped (for the log)
    refused_actions: list[RefusedAction] = field(default_factory=list)  # the same, whole (for the audit)


def ground(answer: ModelAnswer, *, visible: Mapping[str, str], evidence: Mapping[str, Evidence],
           services: Mapping[str, str], deploys_since: datetime | None = None,
           webhooks: Collection[str] = ()) -> GroundedAnswer:
    """Check `answer` against `visible` (the text sent per evidence id) and `evidence` (the items by id); a deploy
    before `deploys_since` does not support a rollback; `webhooks`: the configured webhook names (the only ones a
    `webhook` action may name: pass the config's, or every webhook suggestion is dropped)."""
    texts = {i: normalise(t) for i, t in visible.items()}
    corpus = "\n".join(visible.values())
    values = _values(corpus)
    counts = dict(quotes_checked=0, quotes_removed=0, quotes_reattributed=0, hypotheses_dropped=0,
                  actions_dropped=0, numbers_unverified=0, timeline_dropped=0)
    marks: list[str] = []
    unsupported: list[str] = []

    def check_numbers(text: str) -> list[str]:
        bad = [n for n in numbers_in(text) if not _number_ok(n, values)]
        times = [t for t in _TIME.findall(text) if t not in corpus]
        counts["numbers_unverified"] += len(bad) + len(times)
        return bad + times

    hypotheses = []
    for h in answer.hypotheses[:5]:
        quotes = []
        for q in h.quotes:
            counts["quotes_checked"] += 1
            text = _strip_quote(q.text)
            where = q.evidence_id if text and text in texts.get(q.evidence_id, "") else None
            if where is None and len(text.replace(" ", "")) >= MIN_QUOTE_CHARS:
                where = next((i for i, t in texts.items() if text in t), None)
                if where is not None:
                    counts["quotes_reattributed"] += 1
            if where is None or len(text.replace(" ", "")) < MIN_QUOTE_CHARS:
                counts["quotes_removed"] += 1
                continue
            quotes.append((where, text))
        ids = list(dict.fromkeys([*h.evidence_ids, *(i for i, _ in quotes)]))
        cited = [evidence[i] for i in ids if i in evidence and evidence[i].status == "ok"]
        if not cited:
            counts["hypotheses_dropped"] += 1
            unsupported.append(h.cause)
            continue
        service = services.get(h.service, h.service) if h.service else None
        hypotheses.append(GroundedHypothesis(service=service, cause=h.cause, confidence=h.confidence,
                                             evidence=cited, quotes=quotes,
                                             unverified_numbers=check_numbers(h.cause)))
    hypotheses.sort(key=lambda h: -h.confidence)

    timeline = []
    for t in answer.timeline:
        if t.evidence_id is not None and t.evidence_id in evidence:
            timeline.append((t.at, t.text, t.evidence_id))
        else:
            counts["timeline_dropped"] += 1

    actions: list[ProposedAction] = []
    refused: list[RefusedAction] = []
    for a in answer.suggested_actions:
        try:
            actions.append(validate_action(a.action, a.args, reason=a.reason, evidence_ids=a.evidence_ids,
                                           evidence=evidence, services=services, since=deploys_since,
                                           webhooks=webhooks))
        except UsageError as e:
            counts["actions_dropped"] += 1
            refused.append(RefusedAction(action=a.action, args=dict(a.args), reason=a.reason,
                                         evidence_ids=list(a.evidence_ids), why=str(e)))
    dropped = [r.why for r in refused]

    summary_bad = check_numbers(answer.summary)
    if counts["quotes_removed"]:
        marks.append(f"{counts['quotes_removed']} quote(s) removed: not found verbatim in the evidence")
    if unsupported:
        marks.append("dropped as unsupported (no verified evidence): " + "; ".join(unsupported))
    if summary_bad:
        marks.append("numbers in the summary not found in the evidence: " + ", ".join(summary_bad))
    for gh in hypotheses:
        if gh.unverified_numbers:
            marks.append(f"numbers in “{gh.cause}” not found in the evidence: " + ", ".join(gh.unverified_numbers))
    if dropped:
        marks.append(f"{len(dropped)} suggested action(s) dropped: " + "; ".join(dropped))
    if counts["timeline_dropped"]:
        marks.append(f"{counts['timeline_dropped']} timeline entr(ies) dropped: no evidence cited")
    return GroundedAnswer(
        summary=answer.summary, insufficient=answer.insufficient_evidence or not hypotheses,
        hypotheses=hypotheses[:3], timeline=timeline, actions=actions, unknowns=list(answer.unknowns),
        marks=marks, counts=counts, dropped_actions=dropped, refused_actions=refused)
