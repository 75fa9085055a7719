"""Slack's text encoding: what arrives in a command or mention, made plain; Block Kit dicts made readable."""

from __future__ import annotations

import re

__all__ = ["unescape", "blocks_to_text"]

_LINK = re.compile(r"<([^<>|]+)\|([^<>]+)>")
_BARE = re.compile(r"<((?:https?|mailto):[^<>|]+)>")


def unescape(text: str) -> str:
    """Slack sends `&lt;`, `&gt;`, `&amp;` and auto-links `<http://x|x>`; give back what the person typed."""
    text = _LINK.sub(lambda m: m.group(2), text)
    text = _BARE.sub(lambda m: m.group(1), text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


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
