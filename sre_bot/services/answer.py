"""An investigation as a Reply: the engine's (summary, timeline, up to three hypotheses with their evidence, what
was checked, what could not be) or the model's, after the grounding check (verified quotes, catalog actions,
unknowns, and what the check removed). The footer always says who answered: the engine or the model, and why.

The engine's top confidence is shown through a calibration (`analysis/calibration.py`): by default the one
`sre-bot eval --write-calibration` fitted on the scenario library (`sre_bot/evaluation/calibration.json`); a caller
may pass another (a team's own, fitted on its feedback). A calibration is fitted on "was the top cause right", so
only the top hypothesis goes through it; the others show the engine's own number. Decisions (abstaining, suggesting
a rollback) stay on the engine's stated confidence; the calibrated number is what a person reads."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from ..actions.suggest import engine_suggestions
from ..analysis.calibration import Calibration
from ..investigation import Investigation
from .reply import Reply, Section, md_escape

if TYPE_CHECKING:
    from ..llm.investigator import LLMResult

__all__ = ["investigation_reply", "llm_reply", "llm_json", "library_calibration", "EVIDENCE_PER_HYPOTHESIS"]

EVIDENCE_PER_HYPOTHESIS = 4
_LIBRARY = "library"


@lru_cache(maxsize=1)
def library_calibration() -> Calibration | None:
    """The calibration fitted on the scenario library, shipped with the package; None when absent or unreadable."""
    try:
        text = resources.files("sre_bot").joinpath("evaluation", "calibration.json").read_text(encoding="utf-8")
        return Calibration.from_dict(json.loads(text))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _confidence(c: float, cal: Calibration | None, *, top: bool) -> str:
    """A calibration is fitted on top answers ("was the top cause right"): only the top one is shown through it."""
    if cal is None or cal.method == "identity":
        return f"confidence {c:.2f}"
    if not top:
        return f"engine confidence {c:.2f}"
    return f"confidence {cal.apply(c):.2f} (calibrated from the engine's {c:.2f})"


def _title(question: str) -> str:
    return f"Why: {question}" if len(question) < 120 else "Investigation"


def investigation_reply(inv: Investigation, *, why_engine: str | None = None,
                        calibration: Calibration | None | str = _LIBRARY) -> Reply:
    """The engine's answer; `why_engine` says why the model did not answer (no key, --no-llm, API down);
    `calibration`: how confidences are shown (default: the scenario library's; None: as the engine states them)."""
    cal = library_calibration() if calibration == _LIBRARY else calibration
    assert cal is None or isinstance(cal, Calibration)
    timeline = "\n".join(f"• {t.at:%H:%M} — {md_escape(t.text)}" for t in inv.timeline[:10])
    sections = []
    for i, h in enumerate(inv.hypotheses, 1):
        shown = h.evidence[:EVIDENCE_PER_HYPOTHESIS]
        more = len(h.evidence) - len(shown)
        note = "; ".join(h.reasons[:3]) + (f" (+{more} more evidence items)" if more > 0 else "")
        sections.append(Section(title=f"{i}. {h.cause} — {_confidence(h.confidence, cal, top=i == 1)}", note=note,
                                evidence=shown))
    suggested = engine_suggestions(inv, {s: s for s in inv.services})
    if suggested:
        lines = "\n".join(f"• {p.describe()} — {p.reason}" for p in suggested)
        sections.append(Section(title="Suggested actions (a person decides; nothing runs from this message)",
                                note=lines))
    sections.append(Section(title="Checked", note="; ".join(inv.checked) or "nothing"))
    gaps = list(inv.gaps)
    if gaps:
        gaps.append("confidence is lowered for each system that could not be checked")
    footer = f"Answered by the statistics engine ({inv.engine})" + (f"; no LLM: {why_engine}" if why_engine else "")
    summary = inv.summary
    if inv.hypotheses and cal is not None and cal.method != "identity":
        footer += f"; {cal.describe()}"
        stated = f"confidence {inv.hypotheses[0].confidence:.2f}"
        if summary.endswith(stated):  # the engine's summary ends with its top confidence
            summary = summary[: -len(stated)] + f"confidence {cal.apply(inv.hypotheses[0].confidence):.2f}"
    return Reply(kind="investigation", title=_title(inv.question), summary=summary, window=inv.window,
                 text=f"*Timeline*\n{timeline}" if timeline else None, sections=sections, gaps=gaps, footer=footer)


def llm_reply(engine: Investigation, result: LLMResult, question: str) -> Reply:
    """The model's answer after the grounding check, with the engine's gaps (what nobody could check)."""
    a = result.answer
    timeline = "\n".join(f"• {md_escape(at)} — {md_escape(text)}" for at, text, _ in a.timeline[:10])
    summary = a.summary
    if a.insufficient and "insufficient" not in summary.lower():
        summary = f"Insufficient evidence: {summary}"
    sections = []
    for i, h in enumerate(a.hypotheses, 1):
        quotes = "\n".join(f"“{q}” (`{i_}`)" for i_, q in h.quotes[:3])
        sections.append(Section(title=f"{i}. {h.cause} — model confidence {h.confidence:.2f} (uncalibrated)",
                                note=quotes or "cites evidence without a verbatim quote",
                                evidence=h.evidence[:EVIDENCE_PER_HYPOTHESIS]))
    if a.actions:
        lines = "\n".join(f"• {p.describe()} — {p.reason}" for p in a.actions)
        sections.append(Section(title="Suggested actions (a person decides; nothing runs from this message)",
                                note=lines))
    if a.unknowns:
        sections.append(Section(title="Unknown", note="\n".join(f"• {u}" for u in a.unknowns[:8])))
    checked = "every quote and number verified against the evidence" if not a.marks else "; ".join(a.marks)
    sections.append(Section(title="Grounding check", note=checked))
    footer = (f"Drafted by {result.model} ({result.prompt_version}) from {result.evidence_count} evidence items, "
              f"{result.steps} step(s), {len(result.tools_called)} tool call(s); needs a human check · "
              f"{result.usage.describe(result.prices)}")
    return Reply(kind="investigation", title=_title(question), summary=summary, window=engine.window,
                 text=f"*Timeline*\n{timeline}" if timeline else None, sections=sections, gaps=list(engine.gaps),
                 footer=footer)


def llm_json(result: LLMResult) -> dict[str, Any]:
    """The model's part of `sre-bot ask --json`."""
    a = result.answer
    return {
        "model": result.model, "prompt_version": result.prompt_version, "steps": result.steps,
        "ended": result.ended, "tools_called": result.tools_called, "refused_calls": result.refused_calls,
        "summary": a.summary, "insufficient_evidence": a.insufficient, "needs_human_check": True,
        "hypotheses": [{"service": h.service, "cause": h.cause, "confidence": h.confidence,
                        "evidence_ids": [e.id for e in h.evidence],
                        "quotes": [{"evidence_id": i, "text": q} for i, q in h.quotes]} for h in a.hypotheses],
        "timeline": [{"at": at, "text": t, "evidence_id": i} for at, t, i in a.timeline],
        "suggested_actions": [p.model_dump() for p in a.actions], "unknowns": a.unknowns,
        "grounding": {"marks": a.marks, "counts": a.counts, "dropped_actions": a.dropped_actions},
        "usage": result.usage.as_dict(result.prices),
    }
