"""Which of the configured Slack user groups a person is in (`usergroups.users.list`), cached for a minute, and the
one place a Slack payload becomes a `Caller`: slash commands, mentions and button clicks alike.

    caller = groups.caller_of_command(client, command)   # groups are listed only when a verb needs them
    caller = await caller.resolved()                       # … like this (run_command does it for such verbs)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from functools import partial
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from ..logging import get_logger
from ..services.caller import Caller

__all__ = ["GroupMembership"]

log = get_logger(__name__)


def _text(value: Any) -> str:
    """A payload field that should be a string; anything else (a malformed payload) is treated as absent."""
    return value if isinstance(value, str) else ""


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


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

    # -- callers: every Slack surface builds its Caller here ------------------------------------------------------

    def caller(self, client: AsyncWebClient, *, user: str, channel: str, user_name: str | None = None,
               thread_ts: str | None = None) -> Caller:
        """A Caller whose groups `resolved()` lists through `client` (nothing is asked until then)."""
        return Caller(user=user, channel=channel, user_name=user_name or None, thread_ts=thread_ts,
                      lookup=partial(self.of, client))

    def caller_of_command(self, client: AsyncWebClient, command: Mapping[str, Any]) -> Caller:
        """Who sent a slash command."""
        return self.caller(client, user=_text(command.get("user_id")), channel=_text(command.get("channel_id")),
                           user_name=_text(command.get("user_name")))

    def caller_of_event(self, client: AsyncWebClient, event: Mapping[str, Any], *,
                        thread_ts: str | None = None) -> Caller:
        """Who wrote a message event (a mention); `thread_ts`: the thread the answer goes in."""
        return self.caller(client, user=_text(event.get("user")), channel=_text(event.get("channel")),
                           thread_ts=thread_ts)

    def caller_of_action(self, client: AsyncWebClient, body: Mapping[str, Any]) -> Caller:
        """Who clicked a button (or submitted a modal): `user`, and the channel of the message clicked."""
        user = _mapping(body.get("user"))
        container = _mapping(body.get("container"))
        channel = _text(_mapping(body.get("channel")).get("id")) or _text(container.get("channel_id"))
        return self.caller(client, user=_text(user.get("id")), channel=channel,
                           user_name=_text(user.get("username")) or _text(user.get("name")),
                           thread_ts=_text(container.get("thread_ts")) or None)

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
