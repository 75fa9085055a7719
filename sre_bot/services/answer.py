"""An investigation as a Reply: the engine's (summary, timeline, up to three hypotheses with their evidence, what
was checked, what could not be) or the model's, after the grounding check (verified quotes, catalog actions,
unknowns, and what the check removed). The footer always says who answered: the engine or the model, and why.

Every engine hypothesis shows one number, its `confidence`: the probability that it is the root cause, calibrated
on real ground truth (`services/confidence.py`); the footer says on what. Once a team has voted enough on answers,
its own recalibration (`feedback/answers.py`) maps that probability once more, and the footer says so too. The
model's hypotheses show the engine's probability for the service they name, beside the model's own stated number
(which no calibration has checked)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..actions.suggest import engine_suggestions
from ..analysis.calibration import TEAM_SOURCE, Calibration
from ..investigation import Investigation
from .confidence import shipped_calibration
from .reply import Reply, Section, md_escape

if TYPE_CHECKING:
    from ..llm.investigator import LLMResult

__all__ = ["investigation_reply", "llm_reply", "llm_json", "library_calibration", "engine_probability",
           "EVIDENCE_PER_HYPOTHESIS"]

EVIDENCE_PER_HYPOTHESIS = 4
LEADS = 3  # when an answer abstains below the threshold, the strongest candidates it still names as leads
library_calibration = shipped_calibration  # the calibration shipped with the package (older name)


def _team(cal: Calibration | None) -> Calibration | None:
    return cal if cal is not None and cal.method == "platt" and cal.source == TEAM_SOURCE else None


def _title(question: str) -> str:
    return f"Why: {question}" if len(question) < 120 else "Investigation"


def investigation_reply(inv: Investigation, *, why_engine: str | None = None,
                        team: Calibration | None = None) -> Reply:
    """The engine's answer; `why_engine` says why the model did not answer (no key, --no-llm, API down); `team`: a
    team's recalibration, applied to every hypothesis's probability when given (a fitted Platt one)."""
    recal = _team(team)

    def shown(c: float) -> float:
        return round(recal.apply(c), 2) if recal is not None else c

    timeline = "\n".join(f"• {t.at:%H:%M} — {md_escape(t.text)}" for t in inv.timeline[:10])
    sections = []
    for i, h in enumerate(inv.hypotheses, 1):
        # the engine's strongest items, then the slowest trace of the service when Tempo was read (trace_evidence.py)
        evidence = [e for e in h.evidence if e.kind != "trace"][:EVIDENCE_PER_HYPOTHESIS]
        evidence += [e for e in h.evidence if e.kind == "trace"][:1]
        more = len(h.evidence) - len(evidence)
        note = "; ".join(h.reasons[:3]) + (f" (+{more} more evidence items)" if more > 0 else "")
        sections.append(Section(title=f"{i}. {h.cause} — confidence {shown(h.confidence):.2f}", note=note,
                                evidence=evidence))
    if inv.insufficient and inv.abstain_reason == "below threshold":
        leads = inv.ranking[:LEADS]
        sections.append(Section(
            title=f"Leads — none reaches the {inv.abstain_below or 0:.2f} needed to name a cause",
            note="\n".join(f"• {md_escape(r.cause)} — confidence {shown(r.confidence):.2f}" for r in leads)))
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
    if inv.calibration:
        footer += f"; confidence = probability the hypothesis is the root cause, {inv.calibration}"
    if recal is not None:
        footer += f", then recalibrated on the {recal.source} ({recal.points} votes, {recal.correct} right)"
    summary = inv.summary
    if inv.hypotheses and recal is not None:
        stated = f"confidence {inv.hypotheses[0].confidence:.2f}"
        if summary.endswith(stated):  # the engine's summary ends with its top confidence
            summary = summary[: -len(stated)] + f"confidence {shown(inv.hypotheses[0].confidence):.2f}"
    return Reply(kind="investigation", title=_title(inv.question), summary=summary, window=inv.window,
                 text=f"*Timeline*\n{timeline}" if timeline else None, sections=sections, gaps=gaps, footer=footer)


def engine_probability(engine: Investigation, service: str | None) -> float | None:
    """The calibrated probability the engine gives `service` being the root cause; None when it does not rank it."""
    return next((r.confidence for r in engine.ranking if service and r.service == service), None)


def _model_confidence(engine: Investigation, service: str | None, stated: float) -> str:
    p = engine_probability(engine, service)
    said = f"the model said {stated:.2f}, uncalibrated"
    if p is None:
        return f"no calibrated confidence (the statistics engine does not rank {service or 'it'}); {said}"
    return f"confidence {p:.2f} (the statistics engine's, for {service}); {said}"


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
        sections.append(Section(title=f"{i}. {h.cause} — {_model_confidence(engine, h.service, h.confidence)}",
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


def llm_json(result: LLMResult, engine: Investigation | None = None) -> dict[str, Any]:
    """The model's part of `sre-bot ask --json`."""
    a = result.answer
    return {
        "model": result.model, "prompt_version": result.prompt_version, "steps": result.steps,
        "ended": result.ended, "tools_called": result.tools_called, "refused_calls": result.refused_calls,
        "summary": a.summary, "insufficient_evidence": a.insufficient, "needs_human_check": True,
        "hypotheses": [{"service": h.service, "cause": h.cause,
                        "confidence": engine_probability(engine, h.service) if engine is not None else None,
                        "model_confidence": h.confidence,
                        "evidence_ids": [e.id for e in h.evidence],
                        "quotes": [{"evidence_id": i, "text": q} for i, q in h.quotes]} for h in a.hypotheses],
        "timeline": [{"at": at, "text": t, "evidence_id": i} for at, t, i in a.timeline],
        "suggested_actions": [p.model_dump() for p in a.actions], "unknowns": a.unknowns,
        "grounding": {"marks": a.marks, "counts": a.counts, "dropped_actions": a.dropped_actions},
        "usage": result.usage.as_dict(result.prices),
    }
