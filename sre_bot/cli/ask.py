"""`sre-bot ask "QUESTION" [--at TIME] [--window DURATION] [--json] [--no-llm]`: the same answer as a mention.

With ANTHROPIC_API_KEY set the model investigates on top of the engine; `--no-llm` forces the engine alone. The
answer always says which one answered. A greeting gets a short reply (exit 0); a service name the bot does not know
gets "did you mean" and nothing configured says what to set (exit 2, on stderr).
"""

from __future__ import annotations

import json
import sys
from typing import TextIO

from ..clock import system_clock
from ..compose import open_deps
from ..deadline import answer_deadline
from ..errors import ConfigError, UsageError
from ..services.answer import llm_json
from ..services.explain import explain
from ..services.health import nothing_to_investigate
from ..services.names import known_services
from ..services.understand import understand
from ..settings import Settings
from ..terminal import render_terminal
from ..windows import parse_duration, parse_time

__all__ = ["ask"]


async def ask(settings: Settings, question: str, *, at: str | None = None, window: str | None = None,
              as_json: bool = False, use_llm: bool = True, out: TextIO = sys.stdout) -> int:
    """Exit 0 with an answer (insufficient evidence is an answer too) or a reply to a greeting; bad --at/--window
    and a service name not known ("did you mean …?") raise UsageError; nothing configured raises ConfigError."""
    now = system_clock()
    when = parse_time(at, now=now) if at else None
    length = parse_duration(window) if window else None
    said = understand(question, {})
    if said.kind == "greeting":
        if as_json:
            json.dump({"question": question, "reply": "greeting", "text": said.text}, out, indent=2)
            print(file=out)
        else:
            print(said.text, file=out)
        return 0
    empty = nothing_to_investigate(settings)
    if empty:
        raise ConfigError(empty)
    async with open_deps(settings, use_llm=use_llm) as deps:
        with answer_deadline(deps.settings.answer_deadline_s):
            names = await known_services(deps)
            said = understand(question, names)
            if said.kind == "unknown_service":
                raise UsageError(said.text)
            done = await explain(deps, question, at=when, window=length, names=names)
    if as_json:
        data = done.engine.to_json()
        data.update(answered_by=done.answered_by, why_engine=done.why_engine,
                    llm=llm_json(done.llm, done.engine) if done.llm else None)
        json.dump(data, out, indent=2)
        print(file=out)
    else:
        print(render_terminal(done.reply, ansi=out.isatty()), file=out)
    return 0
