"""Slack's text encoding both ways: what arrives in a command or mention, made plain; what the bot sends, escaped so
that only the bot's own mentions and links are markup; Block Kit dicts made readable.

Slack reads `&`, `<` and `>` in a message's `text` and in mrkdwn blocks as control characters: `<!channel>` pings
the channel, `<@U…>` a person, `<#C…>` links a channel, `<url|label>` is a link. Every string that came from a person
or a system (alert labels, log lines, service names, the model's prose, a command's arguments) is therefore escaped
exactly once before it is put into mrkdwn (`escape`); `plain_text` objects are shown as they are and need nothing.
Mrkdwn assembled elsewhere (a `Reply.text`) goes through `mrkdwn_safe`, which keeps what is already escaped and the
shapes the bot writes itself (a mention of a user, channel or user group by id), and escapes everything else, so a
broadcast (`<!channel>`, `<!here>`, `<!everyone>`) or a link never gets through, whoever wrote it.
"""

from __future__ import annotations

import re
from urllib.parse import quote

__all__ = ["unescape", "escape", "mrkdwn_safe", "link", "blocks_to_text"]

_LINK = re.compile(r"<([^<>|]+)\|([^<>]+)>")
_BARE = re.compile(r"<((?:https?|mailto):[^<>|]+)>")
# What `mrkdwn_safe` keeps: an entity already escaped, and the bot's own mentions by id (no label: a label is the
# form Slack gives what people type, never what the bot writes). Broadcasts (`<!channel>` …) are not among them.
_KEEP = re.compile(r"&(?:amp|lt|gt);|<@[UW][A-Z0-9]+>|<#[CGD][A-Z0-9]+>|<!subteam\^S[A-Z0-9]+>")
_ENTITY = re.compile(r"&(?:amp|lt|gt);")
_CODE = re.compile(r"(```.*?```|`[^`\n]*`)", re.S)  # split() keeps the code spans at the odd positions
_URL_UNSAFE = re.compile(r"[\s<>|\"`]")


def unescape(text: str) -> str:
    """Slack sends `&lt;`, `&gt;`, `&amp;` and auto-links `<http://x|x>`; give back what the person typed."""
    text = _LINK.sub(lambda m: m.group(2), text)
    text = _BARE.sub(lambda m: m.group(1), text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def escape(text: str) -> str:
    """A plain string made safe for mrkdwn or a message's `text`: Slack's three control characters escaped (apply
    once, to the plain string: escaping escaped text would show `&amp;lt;`)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mrkdwn_safe(text: str) -> str:
    """Mrkdwn from elsewhere, with every `&`, `<` and `>` escaped except entities already escaped and, outside code,
    the bot's own mentions by id (`<@U…>`, `<#C…>`, `<!subteam^S…>`): idempotent, and no broadcast, link or labelled
    mention gets through. Inside backticks only entities are kept: the bot never mentions anyone in code, while an
    echo of what was typed (`` `/sre status <@U…>` ``) usually sits there."""
    out = []
    for i, part in enumerate(_CODE.split(text)):
        keep = _ENTITY if i % 2 else _KEEP
        last = 0
        for m in keep.finditer(part):
            out += [escape(part[last:m.start()]), m.group(0)]
            last = m.end()
        out.append(escape(part[last:]))
    return "".join(out)


def link(url: str, label: str) -> str:
    """A mrkdwn link the bot builds itself: the label escaped, and the URL unable to end the link early (`|`, `>`,
    spaces are percent-encoded); anything but http(s) is shown as escaped text, not linked."""
    if not re.match(r"https?://[^\s/?#]", url, re.I):
        return escape(f"{label} ({url})" if url else label)
    return f"<{_URL_UNSAFE.sub(lambda m: quote(m.group(0), safe=''), url)}|{escape(label)}>"


def _mrkdwn_to_text(text: str) -> str:
    text = _LINK.sub(lambda m: f"{m.group(2)} <{m.group(1)}>", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def blocks_to_text(blocks: list[dict], *, width: int = 100) -> str:
    """Block Kit as terminal text: headers underlined, code blocks indented, context lines dimmed with '·'."""
    out: list[str] = []
    for b in blocks:
        t = b.get("type")
        if t == "header":
            title = b["text"]["text"]
            out += ["", title, "=" * min(len(title), width)]
        elif t == "divider":
            out.append("-" * min(40, width))
        elif t == "section":
            text = _mrkdwn_to_text(b.get("text", {}).get("text", ""))
            for part in re.split(r"(```.*?```)", text, flags=re.DOTALL):
                if part.startswith("```"):
                    out += ["    " + line for line in part.strip("`").splitlines()]
                elif part.strip():
                    out.append(part.replace("*", "").strip("\n"))
            for f in b.get("fields") or []:
                out.append(_mrkdwn_to_text(f.get("text", "")))
        elif t == "context":
            parts = [_mrkdwn_to_text(e.get("text", "")) for e in b.get("elements", [])]
            out.append("    ↳ " + " ".join(parts))
        elif t == "actions":
            labels = [e.get("text", {}).get("text", "?") for e in b.get("elements", [])]
            out.append("    [" + "] [".join(labels) + "]")
    return "\n".join(out).strip("\n")
