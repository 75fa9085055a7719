"""A mention ("@sre-bot why is payments-api slow?"): run a verb when it starts with one, otherwise investigate.

A question that names no service investigates every configured service; with none configured or discovered, the
help text explains what to ask. A mention inside a thread the bot already answered continues that investigation.
"""

from __future__ import annotations

import re

from ..deps import Deps
from ..llm.investigator import Progress
from .commands import VERBS, run_command
from .explain import explain
from .names import find_service, known_services
from .reply import Reply

__all__ = ["answer_mention"]


async def answer_mention(deps: Deps, text: str, *, thread: str | None = None,
                         progress: Progress | None = None) -> Reply:
    text = re.sub(r"<@[A-Z0-9]+(\|[^>]*)?>", " ", text).strip()
    first = text.split(maxsplit=1)[0].lower() if text else ""
    if first.lstrip("/") in VERBS:
        return await run_command(deps, text.lstrip("/"))
    follow_up = deps.llm is not None and deps.llm.conversations.get(thread) is not None
    names = await known_services(deps)
    if not text or (not follow_up and find_service(text, names) is None and not deps.config.services):
        return await run_command(deps, "help")
    return (await explain(deps, text, thread=thread, progress=progress, names=names)).reply
