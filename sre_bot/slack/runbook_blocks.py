"""Runbooks in Block Kit: a run's message (the same Reply every surface shows, redrawn after each step), and the
"runbook X matches: run it?" suggestion with its button.

The button's value names the runbook and the service, never anything to execute; the click handler looks both up
again, and a run only reads (its remediation still needs an approval).
"""

from __future__ import annotations

from collections.abc import Sequence

from slack_sdk.models.blocks import Block, ButtonElement, ContextBlock, MarkdownTextObject, SectionBlock

from ..runbooks.match import Match
from ..runbooks.report import run_reply
from ..runbooks.run import RunState
from .render import render_reply
from .text import escape

__all__ = ["RUN_RUNBOOK", "run_blocks", "suggestion_blocks", "button_value", "parse_button_value"]

RUN_RUNBOOK = "sre_runbook_run"


def run_blocks(state: RunState) -> tuple[str, list[dict]]:
    return render_reply(run_reply(state))


def button_value(runbook: str, service: str | None) -> str:
    return f"{runbook}|{service or ''}"


def parse_button_value(value: str) -> tuple[str, str | None]:
    name, _, service = (value or "").partition("|")
    return name.strip(), (service.strip() or None)


def suggestion_blocks(matches: Sequence[Match], *, needs_service: frozenset[str] = frozenset()
                      ) -> tuple[str, list[dict]]:
    """One line per match with a "Run it" button; a runbook that needs a service the match does not know gets the
    command to type instead of a button."""
    blocks: list[Block] = []
    for m in matches:
        where = f" for *{escape(m.service)}*" if m.service else ""
        why = ", ".join(escape(r) for r in m.reasons)
        text = f"📒 runbook `{escape(m.runbook)}` matches{where}: run it?\n_{escape(m.title)} ({why})_"
        if m.service is None and m.runbook in needs_service:
            text += f"\nType `/sre runbook {escape(m.runbook)} &lt;service&gt;` to run it."
            blocks.append(SectionBlock(text=MarkdownTextObject(text=text[:2900], verbatim=True)))
            continue
        blocks.append(SectionBlock(block_id=f"runbook:{m.runbook}:{m.service or '-'}"[:255],
                                   text=MarkdownTextObject(text=text[:2900], verbatim=True),
                                   accessory=ButtonElement(text="Run it", action_id=RUN_RUNBOOK,
                                                           value=button_value(m.runbook, m.service))))
    blocks.append(ContextBlock(elements=[MarkdownTextObject(
        text="A runbook only reads (queries, logs, Argo CD, alerts); a fix it finds is offered for approval.")]))
    first = matches[0] if matches else None
    fallback = (f"runbook {escape(first.runbook)} matches" + (f" for {escape(first.service)}" if first.service else "")
                + ": run it?") if first else "No runbook matches"
    return fallback, [b.to_dict() for b in blocks]
