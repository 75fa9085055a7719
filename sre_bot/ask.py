"""`sre-bot ask "QUESTION" [--at TIME] [--window DURATION] [--json]`: the same investigation as a mention."""

from __future__ import annotations

import json
import sys
from typing import TextIO

from .clock import system_clock
from .compose import open_deps
from .services.answer import investigation_reply
from .services.investigate import investigate
from .settings import Settings
from .slack.render import render_reply
from .slack.text import blocks_to_text
from .windows import parse_duration, parse_time

__all__ = ["ask"]


async def ask(settings: Settings, question: str, *, at: str | None = None, window: str | None = None,
              as_json: bool = False, out: TextIO = sys.stdout) -> int:
    """Exit 0 with an answer (insufficient evidence is an answer too); bad --at/--window raise UsageError."""
    now = system_clock()
    when = parse_time(at, now=now) if at else None
    length = parse_duration(window) if window else None
    async with open_deps(settings) as deps:
        inv = await investigate(deps, question, at=when, window=length)
    if as_json:
        json.dump(inv.to_json(), out, indent=2)
        print(file=out)
    else:
        _, blocks = render_reply(investigation_reply(inv))
        print(blocks_to_text(blocks), file=out)
    return 0
