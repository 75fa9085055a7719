"""Which of the configured Slack user groups a person is in (`usergroups.users.list`), cached for a minute."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from ..logging import get_logger

__all__ = ["GroupMembership"]

log = get_logger(__name__)


class GroupMembership:
    """Members of each configured group, fetched on demand and kept `ttl_s`; a group Slack will not list (no
    `usergroups:read` scope, deleted group) admits nobody, and the log says why."""

    def __init__(self, groups: Collection[str], *, ttl_s: float = 60.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._groups = sorted(groups)
        self._ttl = ttl_s
        self._now = monotonic
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}

    async def of(self, client: AsyncWebClient, user: str) -> frozenset[str]:
        found = set()
        for group in self._groups:
            if user in await self._members(client, group):
                found.add(group)
        return frozenset(found)

    async def _members(self, client: AsyncWebClient, group: str) -> frozenset[str]:
        hit = self._cache.get(group)
        if hit and self._now() - hit[0] < self._ttl:
            return hit[1]
        try:
            resp = await client.usergroups_users_list(usergroup=group)
            members = frozenset(resp.get("users") or [])
        except SlackApiError as e:
            log.warning("cannot list a user group's members; it admits nobody", group=group,
                        error=e.response.get("error"))
            members = frozenset()
        self._cache[group] = (self._now(), members)
        return members
