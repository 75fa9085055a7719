"""Replies rendered as Block Kit with `slack_sdk.models.blocks`, so Slack's limits are checked, not hoped for.

Every evidence item becomes a section (label, status, the verbatim quote) and a context line saying where it came
from: the source, the exact query, the window, and links (Prometheus graph, Argo CD app, Grafana Explore).

Every string in a reply is escaped once for Slack (`text.escape`), in the blocks and in the fallback `text` alike
(the fallback is what notifications show): a service, alert, log line or question holding `<!channel>` shows it,
never pings with it. `Reply.text` is mrkdwn written by a service (an error, a list, a timeline): it goes through
`text.mrkdwn_safe`, which keeps what is already escaped and the bot's own mentions (`Only <@U…> may …`) and escapes
everything else.
"""

from __future__ import annotations

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from ..models import Evidence
from ..services.reply import Reply
from .text import escape, link, mrkdwn_safe

__all__ = ["render_reply", "looking_blocks", "escape", "MAX_BLOCKS"]

MAX_BLOCKS = 50
_TEXT_MAX = 3000
_ICON = {"ok": "", "no_data": "∅ ", "error": "⚠️ "}
_VERDICT = {"high": "🔺 ", "low": "🔻 ", "normal": "✅ "}


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 40] + f"… [{len(text) - limit + 40} chars not shown]"


def _mrkdwn(text: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=_clip(text, _TEXT_MAX), verbatim=True)


def _evidence_blocks(e: Evidence) -> list[Block]:
    icon = _ICON[e.status] or _VERDICT.get(str(e.data.get("verdict")), "")
    multiline = "\n" in e.quote or e.kind in ("logs", "log_template", "query")
    quote = escape(e.quote)
    body = f"```{_clip(quote, _TEXT_MAX - 200)}```" if multiline else quote
    text = f"{icon}*{escape(e.label)}*\n{body}"
    where = [escape(e.source)]
    if e.query:
        where.append(f"`{_clip(escape(e.query), 1200)}`")
    if e.window:
        where.append(e.window.label())
    links = ([link(e.url, _link_name(e))] if e.url else []) + [link(u, n) for n, u in e.extra_urls.items()]
    context = " · ".join(where + links)
    if e.partial:
        context += f" · _{escape(e.partial)}_"
    return [SectionBlock(text=_mrkdwn(text)),
            ContextBlock(elements=[_mrkdwn(f"{context} · id `{e.id}`")])]


def _link_name(e: Evidence) -> str:
    return {"prometheus": "graph", "argocd": "Argo CD", "alertmanager": "Alertmanager", "loki": "logs"}.get(
        e.source, "link")


def render_reply(reply: Reply, *, reserve: int = 0) -> tuple[str, list[dict]]:
    """(fallback text, blocks as dicts). Blocks past Slack's 50 (less `reserve`, kept for blocks the caller appends)
    are dropped with a note saying how many."""
    limit = MAX_BLOCKS - reserve
    blocks: list[Block] = [HeaderBlock(text=PlainTextObject(text=_clip(reply.title, 150)))]
    if reply.summary:
        blocks.append(SectionBlock(text=_mrkdwn(f"*{escape(reply.summary)}*")))
    if reply.window:
        blocks.append(ContextBlock(elements=[_mrkdwn(f"window {reply.window.label()}")]))
    text = mrkdwn_safe(reply.text) if reply.text else None
    if text:
        blocks.append(SectionBlock(text=_mrkdwn(text)))
    for section in reply.sections:
        blocks.append(DividerBlock())
        note = f" — {escape(section.note)}" if section.note else ""
        blocks.append(SectionBlock(text=_mrkdwn(f"*{escape(section.title)}*{note}")))
        for e in section.evidence:
            blocks.extend(_evidence_blocks(e))
    if reply.gaps:
        blocks.append(DividerBlock())
        gaps = "\n".join(f"• {escape(g)}" for g in reply.gaps)
        blocks.append(SectionBlock(text=_mrkdwn(f"*Could not check* (the answer above is missing this):\n{gaps}")))
    if reply.footer:
        blocks.append(ContextBlock(elements=[_mrkdwn(escape(reply.footer))]))
    if len(blocks) > limit:
        dropped = len(blocks) - (limit - 1)
        keep = blocks[-1:] if reply.footer else []  # who answered is never the part that gets cut
        blocks = blocks[: limit - 1 - len(keep)] + keep + [
            ContextBlock(elements=[_mrkdwn(f"_{dropped} more blocks not shown (Slack's limit is 50)_")])]
    fallback = escape(reply.summary) if reply.summary else text or escape(reply.title)
    return _clip(fallback, 3000), [b.to_dict() for b in blocks]


def looking_blocks(what: str) -> tuple[str, list[dict]]:
    """The "looking…" message while a question is worked on: `what` is plain text (it may name what was asked)."""
    text = escape(f"🔎 Looking… {what}")
    return text, [SectionBlock(text=_mrkdwn(text)).to_dict()]
