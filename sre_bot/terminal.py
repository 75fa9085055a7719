"""A `Reply` as terminal text, 100 columns wide: what Slack shows (`slack/render.py`), readable in a shell.

Rendered from the Reply itself (no Block Kit, no slack_sdk). Every field `render_reply` shows is here: the title,
summary and window; the free text (`Reply.text`, Slack mrkdwn, made plain by `plain`); each section's title and
note, the note's items one per line; each evidence item as one line (its label and verbatim quote; a multi-line
quote, such as log lines, indented below) and an indented detail line (source, the exact query, the window when it
is not the answer's, a short link label such as `graph [3]`, what is partial, the evidence id); the gaps; the
requests waiting for approval with their preview and note; the footer. Links are numbered and listed once at the
end (`links="list"`), or left out (`links="none"`): they are long, and Slack and `--json` keep them whole.

Lines are wrapped at `width` with a hanging indent, only at spaces: a URL or an inline code span is never broken,
and a query only at whitespace outside its string literals, which PromQL and LogQL ignore (so a copied query means
the same). A code span or URL longer than the width stays whole on a longer line.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from typing import Literal

from .models import Evidence, TimeRange
from .services.reply import Reply, Section
from .store.records import ActionRequest

__all__ = ["render_terminal", "plain", "LinkStyle"]

LinkStyle = Literal["list", "none"]

_ICON = {"ok": "", "no_data": "∅ ", "error": "⚠️ "}
_VERDICT = {"high": "🔺 ", "low": "🔻 ", "normal": "✅ "}
_LINK_NAME = {"prometheus": "graph", "argocd": "Argo CD", "alertmanager": "Alertmanager", "loki": "logs"}
_BOLD_ON, _BOLD_OFF = "\x1b[1m", "\x1b[22m"

_CODE = re.compile(r"(```.*?```|`[^`\n]*`)", re.S)  # split() puts the code at the odd positions
_ANGLE = re.compile(r"<([^<>\n]*)>")
_ENTITY = re.compile(r"&(amp|lt|gt);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">"}


def _emphasis(mark: str) -> re.Pattern[str]:
    """Slack's emphasis: the mark at a word boundary on both sides, hugging non-space text on one line."""
    m = re.escape(mark)
    return re.compile(rf"(?<![\w{m}]){m}(?=\S)([^{m}\n]*?\S){m}(?![\w{m}])")


_BOLD, _ITALIC, _STRIKE = _emphasis("*"), _emphasis("_"), _emphasis("~")


def _angle(m: re.Match[str]) -> str:
    """`<url|label>` → label, `<@U1>` → @U1, `<#C1|name>` → #name, `<!here>` → @here, `<!subteam^S1>` → @S1,
    `<!date^…|text>` → text."""
    target, _, label = m.group(1).partition("|")
    if target[:1] in ("@", "#"):
        return target[0] + (label.lstrip(target[0]) or target[1:])
    if target.startswith("!"):
        kind, _, ident = target[1:].partition("^")
        if kind == "date":
            return label
        return "@" + (label.lstrip("@") or ident or kind)
    return label or target.removeprefix("mailto:")


def _unescape(text: str) -> str:
    """Slack's three entities, undone once (`&amp;lt;` is the text `&lt;`)."""
    return _ENTITY.sub(lambda m: _ENTITIES[m.group(1)], text)


def plain(mrkdwn: str, *, ansi: bool = False) -> str:
    """Slack mrkdwn as plain text: `*bold*` → bold (ANSI bold with `ansi`), `_x_` and `~x~` → x, `<url|label>` →
    label, a bare `<url>` → the url, `<@U123>` → @U123 (the name when the mention carries one), `<#C1>` → #C1,
    `<!here>` → @here, entities unescaped once. Inline code keeps its backticks (entities unescaped inside); a
    ``` block becomes its lines, indented four spaces. Never raises."""
    parts = _CODE.split(mrkdwn)
    out: list[str] = []
    for i, part in enumerate(parts):
        if i % 2 and part.startswith("```") and len(part) >= 6:  # a block: its own lines, indented
            body = "\n".join("    " + ln for ln in _unescape(part[3:-3]).strip("\n").splitlines())
            before = "\n" if out and out[-1] and not out[-1].endswith("\n") else ""
            after = "" if parts[i + 1].startswith("\n") else "\n"
            out.append(before + body + after)
        elif i % 2:
            out.append(_unescape(part))
        else:
            text = _ANGLE.sub(_angle, part)
            text = _BOLD.sub(lambda m: f"{_BOLD_ON}{m.group(1)}{_BOLD_OFF}" if ansi else m.group(1), text)
            text = _STRIKE.sub(lambda m: m.group(1), _ITALIC.sub(lambda m: m.group(1), text))
            out.append(_unescape(text))
    return "".join(out)


# What wrapping must not break: inline code, double-quoted strings (query literals, log fields), URLs have no spaces.
_KEEP_WHOLE = re.compile(r'`[^`\n]*`|"(?:[^"\\\n]|\\.){0,80}"')
_NBSP = "\x00"


def _wrap(text: str, width: int, indent: str = "", hang: str = "  ") -> list[str]:
    """Each line of `text` wrapped at spaces (never inside code or a quoted string) with a hanging indent."""
    out: list[str] = []
    for line in text.split("\n"):
        if not line.strip():
            out.append("")
            continue
        lead = len(line) - len(line.lstrip(" "))
        first, rest = indent + " " * lead, indent + " " * lead + hang
        kept = _KEEP_WHOLE.sub(lambda m: m.group(0).replace(" ", _NBSP), line.strip(" "))
        wrapped = textwrap.wrap(kept, width, initial_indent=first, subsequent_indent=rest, break_long_words=False,
                                break_on_hyphens=False, drop_whitespace=True) or [first]
        out += [w.replace(_NBSP, " ") for w in wrapped]
    return out


def _query(q: str) -> str:
    """A query for the detail line: whitespace runs outside string literals become one space (where it may wrap),
    spaces inside literals stay unbreakable."""
    parts = re.split(r'("(?:[^"\\]|\\.)*"|`[^`]*`|\'(?:[^\'\\]|\\.)*\')', q)
    return "".join(p.replace(" ", _NBSP) if i % 2 else re.sub(r"\s+", " ", p) for i, p in enumerate(parts))


class _Links:
    """The reply's URLs, each numbered once in order of first appearance."""

    def __init__(self, style: LinkStyle) -> None:
        self.style = style
        self.urls: list[str] = []

    def label(self, name: str, url: str) -> str | None:
        if self.style == "none" or not url:
            return None
        if url not in self.urls:
            self.urls.append(url)
        return f"{name} [{self.urls.index(url) + 1}]"


def _evidence(e: Evidence, window: TimeRange | None, links: _Links, width: int) -> list[str]:
    """The item's line (label and quote; a multi-line quote below it), a detail line (source, the window when not
    the answer's, link labels, what is partial, the id), then the exact query."""
    icon = _ICON[e.status] or _VERDICT.get(str(e.data.get("verdict")), "")
    if "\n" in e.quote or e.kind in ("logs", "log_template", "query"):
        lines = _wrap(f"{icon}{e.label}", width, indent="  ", hang="   ")
        lines += _wrap("\n".join(e.quote.splitlines()), width, indent="      ", hang="    ")
    else:
        same = e.quote.lower().startswith(e.label.lower())
        lines = _wrap(f"{icon}{e.quote if same else f'{e.label} — {e.quote}'}", width, indent="  ", hang="   ")
    where: list[str] = [e.source]
    if e.window and (window is None or e.window.label() != window.label()):
        where.append(e.window.label())
    named = ([(_LINK_NAME.get(e.source, "link"), e.url)] if e.url else []) + list(e.extra_urls.items())
    where += [x.replace(" ", _NBSP) for x in (links.label(n, u) for n, u in named) if x]
    if e.partial:
        where.append(e.partial)
    where.append(f"id{_NBSP}{e.id}")
    lines += _wrap("↳ " + " · ".join(where), width, indent="    ", hang="  ")
    if e.query:
        lines += _wrap(_query(e.query), width, indent="      ", hang="    ")
    return lines


def _items(note: str, width: int) -> list[str]:
    """A note's items one per line: its own lines, or a long `a; b; c` split at the semicolons."""
    lines = [ln for ln in plain(note).strip("\n").split("\n")]
    if len(lines) == 1 and len(lines[0]) > width - 4 and "; " in lines[0]:
        lines = lines[0].split("; ")
    out: list[str] = []
    for ln in lines:
        if ln.startswith("    "):  # a code block's line
            out += _wrap(ln, width, indent="  ", hang="    ")
        elif ln.strip():
            item = ln.strip()
            out += _wrap(item if item.startswith("• ") else f"• {item}", width, indent="  ", hang="  ")
    return out


def _section(s: Section, window: TimeRange | None, links: _Links, width: int, bold: Callable[[str], str]
             ) -> list[str]:
    lines = ["", *(bold(ln) for ln in _wrap(s.title, width, hang="   "))]
    if s.note:
        note = plain(s.note)
        inline = "\n" not in note.strip("\n") and len(s.title) + len(note) + 3 <= width
        if inline:
            lines[-1] += f" — {note.strip()}"
        else:
            lines += _items(s.note, width)
    for e in s.evidence:
        lines += _evidence(e, window, links, width)
    return lines


def _request(req: ActionRequest, note: str | None, width: int) -> list[str]:
    target = req.args.get("service") or req.args.get("app") or req.args.get("name") or ""
    head = (f"• {req.action}" + (f" — {target}" if target else "") + f" · risk {req.risk} · "
            + ("reversible" if req.reversible else "not reversible") + f" · {req.status} · id {req.id}")
    lines = _wrap(head, width, indent="  ", hang="  ")
    for label, text in (("what will happen", req.preview), ("why", req.reason), ("evidence", ", ".join(
            req.evidence_ids[:8])), ("note", plain(note) if note else "")):
        if text:
            lines += _wrap(f"{label}: {text}", width, indent="    ", hang="  ")
    return lines


def render_terminal(reply: Reply, width: int = 100, *, links: LinkStyle = "list", ansi: bool = False,
                    requests: bool = True) -> str:
    """The reply as text for a terminal `width` columns wide. `links`: "list" numbers each URL once and lists them
    at the end, "none" leaves URLs out; `ansi`: bold titles and *bold* text (only when writing to a TTY);
    `requests`: show the requests waiting for approval (off when the caller shows them itself)."""
    def bold(text: str) -> str:
        return f"{_BOLD_ON}{text}{_BOLD_OFF}" if ansi else text

    link_list = _Links(links)
    out = [bold(reply.title), "=" * min(len(reply.title), width)]
    if reply.summary:
        out += _wrap(reply.summary, width)
    if reply.window:
        out.append(f"window {reply.window.label()}")
    if reply.text:  # its bullets indented like a section's items
        text = re.sub(r"^• ", "  • ", plain(reply.text, ansi=ansi).strip("\n"), flags=re.M)
        out += ["", *_wrap(text, width)]
    for s in reply.sections:
        out += _section(s, reply.window, link_list, width, bold)
    if reply.gaps:
        out += ["", bold("Could not check") + " (the answer above is missing this):"]
        out += [ln for g in reply.gaps for ln in _wrap(f"• {g}", width, indent="  ", hang="  ")]
    if requests and reply.requests:
        out += ["", bold("Waiting for approval") + " (a person decides; nothing runs until then):"]
        for req in reply.requests:
            out += _request(req, reply.request_notes.get(req.id), width)
    if reply.footer:
        out += ["", *_wrap(reply.footer, width)]
    if link_list.urls:
        out += ["", "Links:", *(f"  [{i}] {u}" for i, u in enumerate(link_list.urls, 1))]
    return "\n".join(out).strip("\n")
