"""What a service answers, independent of the surface: sections of evidence, a summary, and the gaps.

Slack renders a Reply as Block Kit (`slack/render.py`); the console renders the same blocks as text.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from ..feedback.model import AnswerDraft
from ..models import Evidence, TimeRange
from ..runbooks.match import Match
from ..store.records import ActionRequest

__all__ = ["Section", "Reply", "gaps_of", "md_escape"]

ReplyKind = Literal["help", "status", "query", "logs", "deploys", "investigation", "error", "actions", "audit",
                   "killswitch", "incidents", "incident", "accuracy", "autonomy", "traces"]


def md_escape(text: str) -> str:
    """Free text from elsewhere (alert names and labels, previews, audit summaries, the model's words) for
    `Reply.text`, which is mrkdwn: Slack's three control characters escaped, so nothing in it becomes a mention, a
    broadcast or a link. Apply once, to the plain string."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class Section(BaseModel):
    title: str
    evidence: list[Evidence] = Field(default_factory=list)
    note: str | None = None  # shown under the title (e.g. "all normal")


class Reply(BaseModel):
    kind: ReplyKind
    title: str
    summary: str | None = None
    window: TimeRange | None = None
    sections: list[Section] = Field(default_factory=list)
    gaps: list[str] = Field(default_factory=list)  # what could not be checked, said plainly
    text: str | None = None  # free text (help, errors)
    ephemeral: bool = False  # only the asker should see it
    footer: str | None = None  # who answered and how (engine or model, tokens, cost), shown last and small
    requests: list[ActionRequest] = Field(default_factory=list)  # proposals to post with Approve / Reject
    request_notes: dict[str, str] = Field(default_factory=dict)  # request id -> a line to show with it
    answer: AnswerDraft | None = None  # an investigation answer's claims, stored with its feedback buttons
    runbooks: list[Match] = Field(default_factory=list)  # runbooks that match; Slack posts them with "Run it"

    @property
    def evidence(self) -> list[Evidence]:
        return [e for s in self.sections for e in s.evidence]

    @classmethod
    def error(cls, message: str) -> Reply:
        return cls(kind="error", title="Sorry, I can't do that", text=message, ephemeral=True)


def gaps_of(evidence: list[Evidence]) -> list[str]:
    """One plain sentence per failed check ("prometheus: ... — latency not checked"), deduplicated by message."""
    seen: dict[str, list[str]] = {}
    for e in evidence:
        if e.status == "error":
            seen.setdefault(e.quote, []).append(e.label)
    out = []
    for message, labels in seen.items():
        what = labels[0] if len(labels) == 1 else f"{len(labels)} checks ({labels[0]}, …)"
        out.append(f"{message} — {what} not checked")
    return out
