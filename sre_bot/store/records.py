"""What the store keeps: an `ActionRequest` (one proposed action and its life) and an `AuditRecord` (one fact).

An action request moves through these states, and only the Store moves it (each arrow is one atomic statement):

    pending ──claim──► executing ──finish──► succeeded | failed
       ├──reject──► rejected
       ├──expire──► expired
       └──mark_refused──► refused

`claim` is approval and start in one step (the exactly-once gate), so the store never writes "approved"; the value
exists for surfaces that want to say it. A request left in `executing` (the process died between claim and finish)
stays there: it is never claimed again, and `Store.stuck()` lists it so a person can look at the target.

Every timestamp is timezone-aware UTC; a naive datetime is taken to be UTC.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timezone
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["Risk", "RequestStatus", "TERMINAL_STATUSES", "ActionRequest", "AuditRecord", "Flag", "new_request_id"]

Risk = Literal["low", "medium", "high"]
RequestStatus = Literal["pending", "approved", "executing", "succeeded", "failed", "rejected", "expired", "refused"]
TERMINAL_STATUSES: frozenset[str] = frozenset({"succeeded", "failed", "rejected", "expired", "refused"})

_ID_PATTERN = r"^[A-Za-z0-9_-]{16,64}$"


def new_request_id() -> str:
    """A random url-safe token (22 characters, 128 bits): safe in a Slack button value and unguessable."""
    return secrets.token_urlsafe(16)


def _utc(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


class ActionRequest(BaseModel):
    """One proposed action from suggestion to outcome; `version` counts the store's writes to the row."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(default_factory=new_request_id, pattern=_ID_PATTERN)
    action: str = Field(min_length=1, max_length=100)  # a catalog name
    args: dict[str, Any] = Field(default_factory=dict)
    preview: str = ""
    risk: Risk
    reversible: bool
    reason: str = ""
    evidence_ids: list[str] = Field(default_factory=list)
    source: dict[str, Any] = Field(default_factory=dict)  # {"kind": "engine", "version": …} or {"kind": "llm", …}
    requested_by: str | None = None  # Slack user id of the person who asked, if one did
    channel: str
    thread_ts: str | None = None
    message_ts: str | None = None  # the approval message, once posted
    created_at: datetime
    expires_at: datetime
    status: RequestStatus = "pending"
    decided_by: str | None = None
    decided_by_name: str | None = None
    decided_at: datetime | None = None
    reason_rejected: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    outcome_detail: str | None = None
    target_response: dict[str, Any] | None = None
    version: int = 1

    @field_validator("created_at", "expires_at", "decided_at", "started_at", "finished_at")
    @classmethod
    def _tz(cls, v: datetime | None) -> datetime | None:
        return _utc(v)


class AuditRecord(BaseModel):
    """One appended fact: what happened (`kind`, `summary`), who did it, about which request, with JSON `data`.

    `id` is assigned by the store on append (leave it None); ids grow with insertion order.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: int | None = None
    at: datetime
    kind: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")  # suggested, approved, rejected, kill_switch, command, …
    actor: str | None = None
    request_id: str | None = None
    summary: str
    data: dict[str, Any] = Field(default_factory=dict)

    @field_validator("at")
    @classmethod
    def _tz(cls, v: datetime) -> datetime:
        return _utc(v)  # type: ignore[return-value]


class Flag(NamedTuple):
    """A persisted switch (the kill switch is one): its value, who set it, when. Unset reads `(False, None, None)`."""

    value: bool
    set_by: str | None
    set_at: datetime | None
