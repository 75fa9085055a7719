"""Suggestions from an answer become proposals: each through the autonomy ladder, with its source and trigger
recorded (the engine's version, or the model, its prompt version and what it was sent about the cited evidence)."""

from __future__ import annotations

from ..actions.approvals import Proposed, propose
from ..actions.catalog import ProposedAction
from ..actions.suggest import engine_suggestions
from ..deps import Deps
from .caller import Caller
from .explain import Explained

__all__ = ["propose_from_answer"]

MAX_PROPOSALS = 3


async def propose_from_answer(deps: Deps, explained: Explained, caller: Caller, *, question: str,
                              names: dict[str, str]) -> list[Proposed]:
    """Raise the answer's suggested actions (the model's, after grounding, else the engine's) as proposals."""
    if deps.store is None:
        return []
    engine = explained.engine
    evidence = {e.id: e for e in engine.evidence}
    redact = deps.llm.redactor.redact if deps.llm is not None else (lambda s: s)
    trigger = {"kind": "question", "question": redact(question), "channel": caller.channel,
               "thread_ts": caller.thread_ts}
    suggestions: list[tuple[ProposedAction, dict]] = []
    if explained.llm is not None:
        r = explained.llm
        visible = r.conversation.visible
        evidence |= r.conversation.evidence
        for p in r.answer.actions:
            suggestions.append((p, {"kind": "llm", "model": r.model, "prompt_version": r.prompt_version,
                                    "ended": r.ended, "engine": engine.engine,
                                    "sent": {i: visible[i] for i in p.evidence_ids if i in visible}}))
    else:
        suggestions = [(p, {"kind": "engine", "version": engine.engine}) for p in engine_suggestions(engine, names)]
    out = []
    for p, source in suggestions[:MAX_PROPOSALS]:
        out.append(await propose(deps, p, source=source, trigger=trigger, requested_by=caller.user,
                                 requested_by_name=caller.user_name, channel=caller.channel,
                                 thread_ts=caller.thread_ts, evidence=evidence))
    return out
