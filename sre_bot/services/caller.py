"""Who sent a command or a mention, as the surface knows them: their Slack ids and the configured groups they are in.

Every surface builds its Caller in one place (`slack/usergroups.py`: slash commands, mentions, buttons; the
console takes one the same way), with a `lookup` that lists the person's configured Slack user groups. The groups
are resolved on demand — `run_command` does it for the verbs that act on the person's authority (the kill switch,
autonomy) — so a status check never waits on Slack, and an approver through a group counts on every surface.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

__all__ = ["Caller", "GroupLookup"]

GroupLookup = Callable[[str], Awaitable[frozenset[str]]]  # user id -> the configured user groups (S…) they are in


@dataclass(frozen=True)
class Caller:
    user: str
    channel: str
    user_name: str | None = None
    thread_ts: str | None = None
    groups: frozenset[str] = frozenset()  # the configured Slack user groups (S…) this user belongs to, once resolved
    lookup: GroupLookup | None = field(default=None, repr=False, compare=False)

    async def resolved(self) -> Caller:
        """This caller with `groups` filled in from `lookup` (no lookup or no user: unchanged). The result carries no
        lookup, so resolving again asks nobody."""
        if self.lookup is None or not self.user:
            return self
        return replace(self, groups=self.groups | await self.lookup(self.user), lookup=None)
