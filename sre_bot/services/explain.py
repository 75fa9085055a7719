"""A question about an incident, answered: the engine always runs first; the model, when configured, investigates
on top of it; a follow-up in the same thread continues the model's conversation with its evidence.

Whatever happens to the model (no key, --no-llm, rate limits, overload, a malformed answer, the deadline), the
person gets an answer: the engine's, with one line saying why the model did not answer.

The engine's part answers within SRE_BOT_ANSWER_DEADLINE (`sre_bot.deadline`); the model's part has its own
SRE_BOT_LLM_DEADLINE on top, and its tool calls skip a system that was already silent in this answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ..deadline import answer_deadline, extended
from ..deps import Deps
from ..investigation import Investigation
from ..logging import get_logger
from .answer import investigation_reply, llm_reply
from .investigate import investigate
from .names import find_service, known_services
from .reply import Reply
from .trace_evidence import add_trace_evidence

if TYPE_CHECKING:  # the model's code (and anthropic) is imported only when a model is configured
    from ..llm.investigator import LLMResult, Progress

__all__ = ["Explained", "explain"]

log = get_logger(__name__)


@dataclass
class Explained:
    reply: Reply
    engine: Investigation
    llm: LLMResult | None = None
    why_engine: str | None = None  # set when the engine's answer is shown: why the model's is not

    @property
    def answered_by(self) -> str:
        return "llm" if self.llm is not None else "engine"


async def explain(deps: Deps, question: str, *, thread: str | None = None, at: datetime | None = None,
                  window: timedelta | None = None, progress: Progress | None = None,
                  names: dict[str, str] | None = None) -> Explained:
    with answer_deadline(deps.settings.answer_deadline_s) as engine_deadline:
        names = names if names is not None else await known_services(deps)
        conv = await deps.llm.conversations.get(thread, now=deps.clock()) if deps.llm is not None else None
        if conv is not None:
            engine = conv.engine
            if find_service(question, names) not in (None, engine.focus):  # a follow-up about another service
                engine = await add_trace_evidence(deps, await investigate(
                    deps, question, at=conv.window.end - conv.window.duration / 4, window=conv.window.duration,
                    names=names))
        else:  # traces of the top suspects beside the engine's ranking, when Tempo is configured
            engine = await add_trace_evidence(deps, await investigate(deps, question, at=at, window=window,
                                                                      names=names))
    engine_deadline.close()  # the engine's answer is in; the model and what follows have their own limits
    if deps.llm is None:
        return Explained(investigation_reply(engine, why_engine=deps.llm_off_reason), engine,
                         why_engine=deps.llm_off_reason)
    from ..llm.investigator import LLMUnavailable, run_llm_investigation

    if progress:
        await progress("asking the model to investigate the engine's findings")
    try:
        with extended(deps.settings.llm_deadline_s, of=engine_deadline):
            result = await run_llm_investigation(deps.llm, deps, question, engine, services=names,
                                                 graph=engine.graph, conversation=conv, key=thread, progress=progress)
    except LLMUnavailable as e:
        deps.metrics.llm_answers.labels(f"fallback_{e.kind}").inc()
        log.warning("llm unavailable; engine answer shown", reason=e.reason, kind=e.kind)
        why = f"{e.reason}; this is the statistics engine's answer"
        return Explained(investigation_reply(engine, why_engine=why), engine, why_engine=why)
    deps.metrics.llm_answers.labels(result.ended.split(":")[0]).inc()
    return Explained(llm_reply(engine, result, question), engine, llm=result)
