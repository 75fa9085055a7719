"""Suggestions from an answer become proposals: each through the autonomy ladder, with its source and trigger
recorded (the engine's version, or the model, its prompt version and what it was sent about the cited evidence).

A model's suggestion that the grounding check dropped, or one past `MAX_PROPOSALS`, becomes no request, and is
audited as `refused` with why: nothing a model asked for goes unrecorded. The answer enters the action path here,
so this is where its `ActionDeps` is built.
"""

from __future__ import annotations

from typing import Any

from ..actions.approvals import Proposed, propose, refuse_proposal
from ..actions.catalog import ProposedAction
from ..actions.deps import ActionDeps
from ..actions.suggest import engine_suggestions
from ..deps import Deps
from .answer import engine_probability
from .caller import Caller
from .explain import Explained

__all__ = ["propose_from_answer", "MAX_PROPOSALS"]

MAX_PROPOSALS = 3


async def propose_from_answer(deps: Deps, explained: Explained, caller: Caller, *, question: str,
                              names: dict[str, str]) -> list[Proposed]:
    """Raise the answer's suggested actions (the model's, after grounding, else the engine's) as proposals; with
    no store (a one-shot command) there is nothing to raise."""
    if deps.store is None:
        return []
    actions = ActionDeps.of(deps)
    engine = explained.engine
    evidence = {e.id: e for e in engine.evidence}
    redact = actions.llm.redactor.redact if actions.llm is not None else (lambda s: s)
    trigger = {"kind": "question", "question": redact(question), "channel": caller.channel,
               "thread_ts": caller.thread_ts}
    suggestions: list[tuple[ProposedAction, dict[str, Any]]] = []
    if explained.llm is not None:
        r = explained.llm
        visible = r.conversation.visible
        evidence |= r.conversation.evidence
        model = {"kind": "llm", "model": r.model, "prompt_version": r.prompt_version, "ended": r.ended,
                 "engine": engine.engine}
        for p in r.answer.actions:
            target = p.args.get("service") or p.service
            suggestions.append((p, {**model, "sent": {i: visible[i] for i in p.evidence_ids if i in visible},
                                    # the engine's calibrated probability for the service the action targets
                                    "confidence": engine_probability(engine, str(target) if target else None),
                                    "calibration": engine.calibration}))
        for d in r.answer.refused_actions:
            await refuse_proposal(actions, action=d.action, args=d.args, code="ungrounded", why=d.why,
                                  source={**model, "sent": {i: visible[i] for i in d.evidence_ids if i in visible}},
                                  trigger=trigger, requested_by=caller.user, requested_by_name=caller.user_name,
                                  evidence_ids=d.evidence_ids)
    else:
        top = engine.hypotheses[0] if engine.hypotheses else None
        why = {"confidence": top.confidence, "engine_confidence": top.engine_confidence,
               "calibration": engine.calibration} if top is not None else {}
        suggestions = [(p, {"kind": "engine", "version": engine.engine, **why})
                       for p in engine_suggestions(engine, names)]
    for p, source in suggestions[MAX_PROPOSALS:]:
        await refuse_proposal(actions, action=p.action, args=p.args, code="too_many",
                              why=f"only the first {MAX_PROPOSALS} suggestions of an answer are proposed",
                              source=source, trigger=trigger, requested_by=caller.user,
                              requested_by_name=caller.user_name, evidence_ids=p.evidence_ids)
    out = []
    for p, source in suggestions[:MAX_PROPOSALS]:
        out.append(await propose(actions, p, source=source, trigger=trigger, requested_by=caller.user,
                                 requested_by_name=caller.user_name, channel=caller.channel,
                                 thread_ts=caller.thread_ts, evidence=evidence))
    return out
