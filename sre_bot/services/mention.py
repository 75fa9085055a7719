"""A mention ("@sre-bot why is payments-api slow?"): run a verb when it starts with one, otherwise investigate.

A greeting or thanks gets a short reply; a question naming no known service but a word close to one gets "did you
mean" (`services/understand.py`). A question that names no service investigates every configured service; with
none configured or discovered, the help text explains what to ask. A mention inside a thread the bot already
answered continues that investigation (the thread's conversation is kept in the store when there is one, so another
replica or a restarted bot continues it too); two mentions in one thread take turns. Under load the question waits
in line, hearing its place through `progress`, or is refused with "busy, ask again in a minute" when the line is
full (`services/admission.py`).
"""

from __future__ import annotations

import re
from contextlib import AbstractAsyncContextManager, nullcontext

from ..deadline import extended
from ..deps import Deps
from ..feedback.answers import for_feedback
from ..llm.investigator import Progress
from ..store.errors import StoreError
from .admission import Busy, reporting
from .caller import Caller
from .commands import REGISTRY, run_command
from .explain import explain
from .memory import with_memory
from .names import find_service, known_services
from .proposals import propose_from_answer
from .reply import Reply, Section
from .runbook_commands import with_runbook_suggestions
from .understand import understand, understood_reply

__all__ = ["answer_mention", "may_investigate"]


def _words(text: str) -> str:
    return re.sub(r"<@[A-Z0-9]+(\|[^>]*)?>", " ", text).strip()


def may_investigate(deps: Deps, text: str) -> bool:
    """Whether the mention may start an investigation (not a verb, not a greeting): only then does its first
    "looking…" message say where it stands in line."""
    text = _words(text)
    first = text.split(maxsplit=1)[0].lower() if text else ""
    if first.lstrip("/") in REGISTRY:
        return False
    return not text or understand(text, {s.name: s.name for s in deps.config.services}).kind != "greeting"


async def _known(deps: Deps) -> dict[str, str]:
    """`known_services`, looked up once a minute for a burst of mentions (`services/admission.py`)."""
    if deps.offload is None:
        return await known_services(deps)
    minute = int(deps.clock().timestamp()) // 60
    return await deps.offload.admission.shared(("names", minute), lambda: known_services(deps))


async def answer_mention(deps: Deps, text: str, *, thread: str | None = None,
                         progress: Progress | None = None, caller: Caller | None = None) -> Reply:
    """The reply to a mention; with a `caller` (and the store), the answer's suggested actions become proposals
    in `Reply.requests` (to post with buttons) or a section saying why they are only suggested."""
    text = _words(text)
    first = text.split(maxsplit=1)[0].lower() if text else ""
    if first.lstrip("/") in REGISTRY:
        return await run_command(deps, text.lstrip("/"), caller)
    if text and (said := understand(text, {s.name: s.name for s in deps.config.services})).kind == "greeting":
        return understood_reply(said)  # "thanks!", "hi", "👍": a short reply, not an investigation
    conversations = deps.llm.conversations if deps.llm is not None else None
    turn: AbstractAsyncContextManager[None] = conversations.lock(thread) if conversations else nullcontext()
    waits = conversations is not None and conversations.busy(thread)
    if waits and progress:
        await progress("waiting for my answer to the previous question in this thread")
    # One turn at a time in a thread: a second mention waits, then continues the conversation the first one left
    # (the wait does not eat its answer deadline: it gets its own from when its turn comes).
    async with turn:
        with extended(deps.settings.answer_deadline_s) if waits else nullcontext():
            follow_up = conversations is not None and await conversations.exists(thread, now=deps.clock())
            names = await _known(deps)
            if text and (said := understand(text, names)).kind == "unknown_service":
                return understood_reply(said)  # "I don't know `chekout`. Did you mean `checkout`?"
            if not text or (not follow_up and find_service(text, names) is None and not deps.config.services):
                return await run_command(deps, "help")
            try:
                with reporting(progress):  # "3 questions ahead of yours" in the "looking…" message
                    explained = await explain(deps, text, thread=thread, progress=progress, names=names)
            except Busy as e:  # the line is full: said plainly, nothing started, the person asks again
                return Reply(kind="error", title="Busy", text=str(e))
    explained = await for_feedback(deps, explained, question=text)  # team calibration; `reply.answer`
    reply = with_runbook_suggestions(deps, explained.reply, explained.engine)  # "runbook X matches: run it?"
    if caller is None or deps.store is None:
        return reply
    try:
        proposed = await propose_from_answer(deps, explained, caller, question=text, names=names)
    except StoreError as e:  # the answer goes out without its approval buttons, saying why
        missed = Section(title="Suggested actions, not offered for approval",
                         note=f"the store failed while recording them ({e}); ask again to get the buttons")
        return reply.model_copy(update={"sections": [*reply.sections, missed]})
    requests = [p.request for p in proposed if p.kind in ("approve", "auto") and p.request is not None]
    notes = [f"• {p.proposal.describe()} — {p.note}" for p in proposed if p.kind in ("suggest", "error")]
    sections = list(reply.sections)
    if notes:
        sections.append(Section(title="Suggested actions, not offered for approval", note="\n".join(notes)))
    request_notes = {p.request.id: p.note for p in proposed if p.request is not None and p.note}
    reply = reply.model_copy(update={"requests": requests, "sections": sections, "request_notes": request_notes})
    return await with_memory(deps, reply, explained.engine, caller=caller, names=names, question=text)  # "Seen before"
