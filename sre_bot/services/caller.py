"""Who sent a command or a mention, as the surface knows them: their Slack ids and the configured groups they are in."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Caller"]


@dataclass(frozen=True)
class Caller:
    user: str
    channel: str
    user_name: str | None = None
    thread_ts: str | None = None
    groups: frozenset[str] = frozenset()  # the configured Slack user groups (S…) this user belongs to
