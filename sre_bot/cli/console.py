"""The bot's surface in a terminal: the same `/sre` commands and mention-style questions, the same services and
Block Kit rendering as in Slack, printed readably. Used by `sre-bot demo` (interactive or scripted)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterable
from typing import TextIO

from ..deps import Deps
from ..services.caller import Caller
from ..services.commands import run_command
from ..services.mention import answer_mention
from ..services.reply import Reply
from ..slack.render import render_reply
from ..slack.text import blocks_to_text

__all__ = ["ask_console", "repl", "play_script", "PROMPT"]

PROMPT = "sre> "


async def ask_console(deps: Deps, line: str, *, caller: Caller | None = None) -> Reply:
    """`/sre ...` runs a command; anything else is treated as an @mention (which runs a verb when it starts with one).

    `caller`: who is typing, built like every surface's (`GroupMembership.caller`), groups resolved when a verb needs
    them. None (the demo): nobody in Slack, so verbs that act on a person's authority say to use Slack."""
    text = line.strip()
    if text.startswith("/sre"):
        return await run_command(deps, text[4:].strip(), caller)
    return await answer_mention(deps, text.removeprefix("@sre-bot").strip(), caller=caller)


def _show(reply: Reply, out: TextIO) -> None:
    _, blocks = render_reply(reply)
    print(blocks_to_text(blocks), file=out)
    print(file=out)


async def play_script(deps: Deps, lines: Iterable[str], out: TextIO = sys.stdout) -> list[Reply]:
    replies = []
    for line in lines:
        print(f"{PROMPT}{line}", file=out)
        reply = await ask_console(deps, line)
        _show(reply, out)
        replies.append(reply)
    return replies


async def repl(deps: Deps, inp: TextIO = sys.stdin, out: TextIO = sys.stdout) -> None:
    """Read lines until EOF, `exit` or `quit`."""
    loop = asyncio.get_running_loop()
    while True:
        print(PROMPT, end="", file=out, flush=True)
        line = await loop.run_in_executor(None, inp.readline)
        if not line or line.strip() in ("exit", "quit"):
            print(file=out)
            return
        if line.strip():
            _show(await ask_console(deps, line), out)
