"""The bot's surface in a terminal: the same `/sre` commands and mention-style questions, the same services as in
Slack, printed readably. Used by `sre-bot demo` (interactive or scripted).

With a store and a `Caller`, the console is a person at the keyboard: `/sre run …` and an answer's suggested
actions become approval requests exactly as in Slack, and where Slack would show Approve / Reject buttons the
console asks. The choice goes through the same gate as a click (`actions.approvals.decide`: approvers, kill
switch, fingerprint of what was shown, the store's claim, the audit), so nothing runs without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TextIO

from ..actions.approvals import decide
from ..actions.deps import ActionDeps
from ..actions.policy import Click, fingerprint
from ..deps import Deps
from ..services.caller import Caller
from ..services.commands import run_command
from ..services.mention import answer_mention
from ..services.reply import Reply
from ..store.records import ActionRequest
from ..terminal import render_terminal

__all__ = ["ask_console", "repl", "play_script", "Console", "Step", "PROMPT", "LineReader", "Decision"]

PROMPT = "sre> "

Decision = Literal["approve", "reject", "skip"]
Ask = Callable[[str], Awaitable[str | None]]  # a prompt → the line typed (None: end of input)


async def ask_console(deps: Deps, line: str, *, caller: Caller | None = None) -> Reply:
    """`/sre ...` runs a command; anything else is treated as an @mention (which runs a verb when it starts with one).

    `caller`: who is typing, built like every surface's (`GroupMembership.caller`), groups resolved when a verb needs
    them. None: nobody in Slack, so verbs that act on a person's authority say to use Slack."""
    text = line.strip()
    if text.startswith("/sre"):
        return await run_command(deps, text[4:].strip(), caller)
    return await answer_mention(deps, text.removeprefix("@sre-bot").strip(), caller=caller)


def _show(reply: Reply, out: TextIO, *, links: Literal["list", "none"] = "none") -> None:
    """The reply for a terminal; `requests`: `Console.handle` shows each itself. `links`: labels only by default
    (the demo's point at a simulator; Slack and --json carry the full URLs), or numbered and listed at the end."""
    print(render_terminal(reply, links=links, ansi=out.isatty(), requests=False), file=out)
    print(file=out)


@dataclass(frozen=True)
class Step:
    """One line of a scripted conversation, and what the person does with any request it puts up for approval."""
    line: str
    decision: Decision = "skip"
    note: str | None = None  # said before the line (what this step shows)


def _parse_decision(text: str | None) -> Decision:
    t = (text or "").strip().lower()
    if t in ("a", "approve", "y", "yes"):
        return "approve"
    if t in ("r", "reject", "n", "no"):
        return "reject"
    return "skip"


@dataclass
class Console:
    """A person at the keyboard: every line goes through the same services as Slack, as `caller`."""
    deps: Deps
    out: TextIO = sys.stdout
    caller: Caller | None = None

    async def handle(self, line: str, *, decision: Decision | None = None, ask: Ask | None = None) -> Reply:
        """Run one line and show the reply; then, for each request waiting for approval, the scripted `decision` or
        the person's answer to `ask` (neither: left pending, as an unclicked message in Slack)."""
        reply = await ask_console(self.deps, line, caller=self.caller)
        _show(reply, self.out)
        for req in reply.requests:
            if req.status != "pending":
                continue
            self.show_request(req, reply.request_notes.get(req.id))
            choice = decision
            if choice is None and ask is not None:
                choice = _parse_decision(await ask(f"Approve `{req.action}` ({req.id[:8]})? "
                                                   "[a]pprove / [r]eject / Enter to leave it pending: "))
            elif choice is not None and choice != "skip":
                print(f"(the person at the keyboard chooses: {choice})", file=self.out)
            await self.decide(req, choice or "skip")
        return reply

    def show_request(self, req: ActionRequest, note: str | None = None) -> None:
        """What Slack's approval message shows: the preview of exactly what will run, its risk, the reason."""
        print(f"🔐 Approval request `{req.action}` ({req.id[:8]}), {req.risk} risk"
              f"{', reversible' if req.reversible else ', not reversible'}, expires {req.expires_at:%H:%M} UTC",
              file=self.out)
        print(f"   {req.preview}", file=self.out)
        if req.reason:
            print(f"   why: {req.reason}", file=self.out)
        if note:
            print(f"   {note}", file=self.out)

    async def decide(self, req: ActionRequest, choice: Decision, reason: str = "") -> None:
        if choice == "skip" or self.caller is None or self.deps.store is None:
            print(f"⏳ `{req.action}` ({req.id[:8]}) is left pending: `/sre actions` lists it; it expires at "
                  f"{req.expires_at:%H:%M} UTC.\n", file=self.out)
            return
        click = Click(user=self.caller.user, user_name=self.caller.user_name, channel=req.channel, message_ts=None,
                      request_id=req.id, fingerprint=fingerprint(req), groups=self.caller.groups)
        done = await decide(ActionDeps.of(self.deps), click, choice, reason=reason or "rejected in the console")
        if done.refusal is not None:
            print(f"✋ Refused ({done.refusal.code}): {done.refusal.message}\n", file=self.out)
        elif choice == "reject":
            print(f"🚫 `{req.action}` rejected: nothing runs.\n", file=self.out)
        elif done.outcome is not None:
            mark = "✅" if done.outcome.ok else "❌"
            print(f"{mark} `{req.action}` approved by you; ran once: {done.outcome.detail}\n", file=self.out)


async def play_script(deps: Deps, lines: Iterable[str | Step], out: TextIO = sys.stdout, *,
                      caller: Caller | None = None) -> list[Reply]:
    """Each line shown after the prompt, then its reply; a `Step` also says what to do with its requests."""
    console = Console(deps, out, caller)
    replies = []
    for item in lines:
        step = item if isinstance(item, Step) else Step(item)
        if step.note:
            print(f"# {step.note}", file=out)
        print(f"{PROMPT}{step.line}", file=out)
        replies.append(await console.handle(step.line, decision=step.decision))
    return replies


class LineReader:
    """Lines from a person: on a terminal with line editing and a history kept across runs (GNU readline, in
    the standard library), else plain lines from `inp`."""

    def __init__(self, inp: TextIO = sys.stdin, out: TextIO = sys.stdout, *, history: Path | None = None) -> None:
        self.inp, self.out = inp, out
        self.tty = inp is sys.stdin and inp.isatty() and out is sys.stdout
        self.history = history
        self._readline = None
        if self.tty:
            try:
                import readline  # noqa: PLC0415 - only a terminal needs it (absent on some platforms)
            except ImportError:
                readline = None  # type: ignore[assignment]
            self._readline = readline
            if readline is not None and history is not None:
                readline.set_history_length(1000)
                with contextlib.suppress(OSError):
                    readline.read_history_file(history)

    def _read(self, prompt: str) -> str | None:
        if self.tty:
            try:
                return input(prompt)
            except EOFError:
                return None
        print(prompt, end="", file=self.out, flush=True)
        line = self.inp.readline()
        return line.rstrip("\n") if line else None

    async def read(self, prompt: str = PROMPT) -> str | None:
        return await asyncio.get_running_loop().run_in_executor(None, self._read, prompt)

    def save(self) -> None:
        if self._readline is not None and self.history is not None:
            try:
                self.history.parent.mkdir(parents=True, exist_ok=True)
                self._readline.write_history_file(self.history)
            except OSError:
                pass


def default_history() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "sre-bot" / "console_history"


async def repl(deps: Deps, inp: TextIO = sys.stdin, out: TextIO = sys.stdout, *,
               caller: Caller | None = None, reader: LineReader | None = None) -> None:
    """Read lines until end of input, `exit` or `quit`; asks before any request is approved or rejected."""
    reader = reader or LineReader(inp, out, history=default_history())
    console = Console(deps, out, caller)
    try:
        while True:
            line = await reader.read(PROMPT)
            if line is None or line.strip() in ("exit", "quit"):
                print(file=out)
                return
            if line.strip():
                await console.handle(line, ask=reader.read)
    finally:
        reader.save()
