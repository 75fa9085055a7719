"""The grounding check: nothing the model wrote is shown until it is checked against what the tools returned.

- A quote must occur, after whitespace normalisation, in the text that was sent for the evidence item it cites
  (or, if it cites the wrong item, in another one: it is then re-attributed). Quotes that fail are removed and
  the answer is marked.
- Figures (numbers, times of day, dates, dotted versions/addresses) are checked against the evidence the text
  cites, never against the whole conversation. An item's text is what was sent for it (its `visible` text) and
  its header (label, query, partial note, window). A hypothesis's cause: the items that hypothesis cites (its
  verified evidence ids and the items its kept quotes were found in). A timeline entry (its `at` and text): the
  one item it cites. The summary: every item the kept answer cites (the hypotheses shown, kept timeline entries
  and kept suggested actions). Quotes need no figure check: they are verbatim.
- A number matches an evidence number that rounds to it as written: "0.25" matches 0.2487 but not 0.27; trailing
  zeros of a whole number count as padding beyond its second significant digit ("250" matches 249.6 and 246;
  "2k" matches 1,987; "2,000" matches 2000). Signs are ignored. A number with a unit may also match after a
  conversion within the unit's dimension: time (ns..days; a unitless evidence number is read as seconds or ms,
  so "250 ms" matches 0.25), percent and ratio ("12%" matches 0.12), bytes with decimal or binary prefixes
  ("1.5 GB" and "1.5 GiB" match 1.5e9 and 1610612736); an evidence number printed with a unit of the same
  dimension converts from that unit only. A bare number gets no variants ("250" never matches 0.25 or 250,000).
- Times of day (04:02, 4:02, 04:02:13) must appear as times in the cited text (04:02 is matched by 04:02:13);
  dates (2026-11-20) and dotted strings (1.2.3, 10.0.0.1) must appear as written.
- Exempt, because they are names or ranks, not measurements: digits inside a word or glued to letters (p95,
  payments-v2, payments-2, HTTP/2, 5xx, 2nd, a hex revision); a number after `#` (#42); after `top`, `rank`,
  `step`, `hypothesis`, `option`, `item` or `no.` (top 3, step 2; at most two digits); list numbering at a line
  start ("1." / "2)") or inline "(1) " / "2) " before a word; an integer up to 10 counting the answer's own
  subjects: services, hypotheses, causes, candidates, steps, options, items, findings, reasons, possibilities,
  directly or after one word ("3 services", "2 downstream services"). Nothing else: "3 restarts" is checked.
  Figures that fail are listed under the answer (marked, not removed) and counted in `numbers_unverified`.
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
from .figures import Figures, figures_of, unbacked
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


def _item_text(i: str, visible: Mapping[str, str], evidence: Mapping[str, Evidence]) -> str:
    """What the model was shown for item `i`: its text, and the header's label, query, note and window."""
    e = evidence.get(i)
    header = [e.label, e.query, e.partial or "", e.window.label() if e.window else ""] if e is not None else []
    return "\n".join([visible.get(i, ""), *header])


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
    item_figures: dict[str, Figures] = {}
    counts = dict(quotes_checked=0, quotes_removed=0, quotes_reattributed=0, hypotheses_dropped=0,
                  actions_dropped=0, numbers_unverified=0, timeline_dropped=0)
    marks: list[str] = []
    unsupported: list[str] = []

    def check_numbers(text: str, cited: Collection[str]) -> list[str]:
        for i in cited:
            if i not in item_figures:
                item_figures[i] = figures_of(_item_text(i, visible, evidence))
        bad = unbacked(text, Figures.union(item_figures[i] for i in cited))
        counts["numbers_unverified"] += len(bad)
        return bad

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
                                             unverified_numbers=check_numbers(h.cause, [e.id for e in cited])))
    hypotheses.sort(key=lambda h: -h.confidence)

    timeline = []
    timeline_bad: list[tuple[str, list[str]]] = []
    for t in answer.timeline:
        if t.evidence_id is not None and t.evidence_id in evidence:
            timeline.append((t.at, t.text, t.evidence_id))
            bad = check_numbers(f"{t.at}\n{t.text}", [t.evidence_id])
            if bad:
                timeline_bad.append((f"{t.at} {t.text}", bad))
        else:
            counts["timeline_dropped"] += 1

    actions: list[ProposedAction] = []
    refused: list[RefusedAction] = []
    action_ids: list[str] = []
    for a in answer.suggested_actions:
        try:
            actions.append(validate_action(a.action, a.args, reason=a.reason, evidence_ids=a.evidence_ids,
                                           evidence=evidence, services=services, since=deploys_since,
                                           webhooks=webhooks))
            action_ids.extend(a.evidence_ids)
        except UsageError as e:
            counts["actions_dropped"] += 1
            refused.append(RefusedAction(action=a.action, args=dict(a.args), reason=a.reason,
                                         evidence_ids=list(a.evidence_ids), why=str(e)))
    dropped = [r.why for r in refused]

    answer_ids = [*(e.id for h in hypotheses[:3] for e in h.evidence), *(i for _, _, i in timeline), *action_ids]
    summary_bad = check_numbers(answer.summary, [i for i in dict.fromkeys(answer_ids) if i in evidence])
    if counts["quotes_removed"]:
        marks.append(f"{counts['quotes_removed']} quote(s) removed: not found verbatim in the evidence")
    if unsupported:
        marks.append("dropped as unsupported (no verified evidence): " + "; ".join(unsupported))
    if summary_bad:
        marks.append("numbers in the summary not found in the evidence the answer cites: " + ", ".join(summary_bad))
    for gh in hypotheses:
        if gh.unverified_numbers:
            marks.append(f"numbers in “{gh.cause}” not found in the evidence it cites: "
                         + ", ".join(gh.unverified_numbers))
    for entry, bad in timeline_bad:
        marks.append(f"numbers in the timeline entry “{entry}” not found in the evidence it cites: " + ", ".join(bad))
    if dropped:
        marks.append(f"{len(dropped)} suggested action(s) dropped: " + "; ".join(dropped))
    if counts["timeline_dropped"]:
        marks.append(f"{counts['timeline_dropped']} timeline entr(ies) dropped: no evidence cited")
    return GroundedAnswer(
        summary=answer.summary, insufficient=answer.insufficient_evidence or not hypotheses,
        hypotheses=hypotheses[:3], timeline=timeline, actions=actions, unknowns=list(answer.unknowns),
        marks=marks, counts=counts, dropped_actions=dropped, refused_actions=refused)
