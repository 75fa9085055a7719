"""An investigation thread's memory: the messages sent (redacted), and every evidence item returned so far.

A follow-up in the same Slack thread ("what about the DB?") continues the conversation: the model sees its earlier
evidence, and quotes of that evidence still verify. Where it is kept (`ConversationRows`):
- the store, when the bot has one (`store/conversations.py`, SQLite or PostgreSQL): a follow-up that reaches another
  replica, or comes after a restart, continues;
- process memory otherwise (the one-shot CLI): least recently used first out.
Either way at most `size` conversations are kept, each for `ttl` after its last turn, and a conversation is stored
trimmed to the model's input budget: the oldest large tool results are replaced by a note saying so (as the
investigator does when a request nears the budget), and evidence no message mentions any more is forgotten.

One turn at a time: within a process, a mention holds the thread's `lock` for its whole turn, so a second mention in
the thread waits and sees the first one's answer. Across replicas each save is a compare-and-set on the stored
version; a save that lost the race reloads the newer conversation and appends its own turn after the other's
(`Conversation.rebase_onto`), so two concurrent mentions in one thread both end up in it, and neither is lost.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from ..errors import SreBotError
from ..investigation import Investigation
from ..logging import get_logger
from ..models import Evidence, TimeRange
from .budget import estimate_request

__all__ = ["Conversation", "Conversations", "ConversationRows", "MemoryRows", "FORMAT"]

log = get_logger(__name__)

FORMAT = 1  # the payload's layout; a payload of another format is not read (the thread starts over)
_SAVE_ATTEMPTS = 5
_TRIM_NOTE = ("[this result was removed to keep the conversation within the token budget; answer from the rest, and "
              "list what it would have shown under unknowns]")
_TRIM_MIN_CHARS = 400


@dataclass
class Conversation:
    key: str
    engine: Investigation
    window: TimeRange
    messages: list[dict[str, Any]] = field(default_factory=list)  # as sent: redacted
    visible: dict[str, str] = field(default_factory=dict)  # evidence id -> the text the model saw
    evidence: dict[str, Evidence] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)  # call signature -> step it was made in
    open_tool_uses: list[dict[str, Any]] = field(default_factory=list)  # tool_result blocks owed to the last turn
    version: int = 0  # the stored version this was loaded at (0: not stored yet)
    base_messages: int = 0  # how many messages it had when loaded: the ones after are this turn's
    base_owed: int = 0  # how many owed tool_result blocks it had when loaded (they open this turn's first message)

    def remember(self, items: list[Evidence], visible: dict[str, str]) -> None:
        for e in items:
            self.evidence[e.id] = e
        _merge_visible(self.visible, visible)

    # -- storing ------------------------------------------------------------------------------------------------

    def to_payload(self) -> str:
        """JSON text (ASCII only: any database stores it, lone surrogates and NULs included, escaped)."""
        return json.dumps({
            "format": FORMAT, "key": self.key, "engine": self.engine.model_dump(mode="json"),
            "window": self.window.model_dump(mode="json"), "messages": self.messages, "visible": self.visible,
            "evidence": {i: e.model_dump(mode="json") for i, e in self.evidence.items()}, "calls": self.calls,
            "open_tool_uses": self.open_tool_uses,
        }, ensure_ascii=True, separators=(",", ":"))

    @classmethod
    def from_payload(cls, payload: str, *, version: int) -> Conversation:
        """The conversation `to_payload` wrote; ValueError when it cannot be read (another format, damaged)."""
        data = json.loads(payload)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"not a conversation of format {FORMAT}")
        messages, owed = list(data["messages"]), list(data["open_tool_uses"])
        return cls(key=str(data["key"]), engine=Investigation.model_validate(data["engine"]),
                   window=TimeRange.model_validate(data["window"]), messages=messages,
                   visible={str(k): str(v) for k, v in data["visible"].items()},
                   evidence={str(k): Evidence.model_validate(v) for k, v in data["evidence"].items()},
                   calls={str(k): int(v) for k, v in data["calls"].items()}, open_tool_uses=owed,
                   version=version, base_messages=len(messages), base_owed=len(owed))

    def trim(self, max_tokens: int) -> int:
        """Keep the messages within `max_tokens`: the oldest large tool results are replaced by a note saying they
        were removed, and evidence no message mentions any more is forgotten. Returns how many were removed."""
        if estimate_request({"messages": self.messages}) <= max_tokens:
            return 0
        removed = 0
        for block in [b for m in self.messages if m.get("role") == "user" for b in m.get("content") or []
                      if isinstance(b, dict) and b.get("type") == "tool_result"]:
            if len(str(block.get("content", ""))) > _TRIM_MIN_CHARS:
                block["content"] = _TRIM_NOTE
                removed += 1
                if estimate_request({"messages": self.messages}) <= max_tokens:
                    break
        if removed:
            sent = json.dumps(self.messages, ensure_ascii=False)
            self.evidence = {i: e for i, e in self.evidence.items() if i in sent}
            self.visible = {i: t for i, t in self.visible.items() if i in sent}
        return removed

    def rebase_onto(self, newer: Conversation) -> None:
        """Put this turn (the messages after `base_messages`) after `newer`'s, which another writer saved first.

        The turn's first message opened with the tool results owed to the conversation it started from; they become
        the ones owed to `newer`'s last answer, so roles still alternate and every tool_use is answered."""
        turn = [dict(m) for m in self.messages[self.base_messages:]]
        if turn:
            first = list(turn[0].get("content") or [])
            turn[0]["content"] = [*newer.open_tool_uses, *first[self.base_owed:]]
        else:
            self.open_tool_uses = list(newer.open_tool_uses)
        visible = dict(newer.visible)
        _merge_visible(visible, self.visible)
        self.engine, self.window = newer.engine, newer.window
        self.messages = [*newer.messages, *turn]
        self.visible = visible
        self.evidence = {**newer.evidence, **self.evidence}
        self.calls = {**newer.calls, **self.calls}
        self.version, self.base_messages, self.base_owed = newer.version, len(newer.messages), len(
            newer.open_tool_uses)


def _merge_visible(into: dict[str, str], more: dict[str, str]) -> None:
    for i, text in more.items():
        if text not in into.get(i, ""):
            into[i] = (into[i] + "\n" + text) if i in into else text


class ConversationRows(Protocol):
    """Where conversations are kept, as `(version, payload)` rows; `save` is a compare-and-set on the version."""

    async def load(self, key: str, *, now: datetime) -> tuple[int, str] | None: ...

    async def exists(self, key: str, *, now: datetime) -> bool: ...

    async def save(self, key: str, payload: str, *, expected: int, now: datetime, ttl: timedelta,
                   keep: int) -> int | None: ...


class MemoryRows:
    """Conversations in this process only: at most `keep`, least recently used first out, each for `ttl`."""

    def __init__(self) -> None:
        self._rows: OrderedDict[str, tuple[int, str, datetime]] = OrderedDict()

    def _live(self, key: str, now: datetime) -> tuple[int, str, datetime] | None:
        row = self._rows.get(key)
        if row is not None and row[2] <= now:
            del self._rows[key]
            return None
        return row

    async def load(self, key: str, *, now: datetime) -> tuple[int, str] | None:
        row = self._live(key, now)
        if row is None:
            return None
        self._rows.move_to_end(key)
        return row[0], row[1]

    async def exists(self, key: str, *, now: datetime) -> bool:
        return self._live(key, now) is not None

    async def save(self, key: str, payload: str, *, expected: int, now: datetime, ttl: timedelta,
                   keep: int) -> int | None:
        old = self._rows.get(key)
        live = self._live(key, now)
        if (live[0] if live else 0) != expected:
            return None
        version = (old[0] if old else 0) + 1
        self._rows[key] = (version, payload, now + ttl)
        self._rows.move_to_end(key)
        while len(self._rows) > keep:
            self._rows.popitem(last=False)
        return version


class Conversations:
    """Thread key ("channel:thread_ts") -> Conversation, kept in `rows` (process memory when None): at most `size`,
    each for `ttl` after its last turn, trimmed to `max_tokens`. A store that fails is logged and costs only the
    memory: the answer is never lost, the next follow-up starts over."""

    def __init__(self, rows: ConversationRows | None = None, *, size: int = 500,
                 ttl: timedelta = timedelta(days=1), max_tokens: int = 60_000) -> None:
        self._rows: ConversationRows = rows if rows is not None else MemoryRows()
        self._size, self._ttl, self._max_tokens = size, ttl, max_tokens
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def lock(self, key: str | None) -> AsyncIterator[None]:
        """Hold the thread's turn (within this process) until the block ends; None: no thread, no lock."""
        if key is None:
            yield
            return
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def busy(self, key: str | None) -> bool:
        """Whether a turn in this thread is under way in this process (`lock` would wait)."""
        return key is not None and key in self._locks and self._locks[key][0].locked()

    async def exists(self, key: str | None, *, now: datetime) -> bool:
        if key is None:
            return False
        try:
            return await self._rows.exists(key, now=now)
        except SreBotError as e:
            log.warning("could not look up the thread's conversation; treating it as new", key=key, error=str(e))
            return False

    async def get(self, key: str | None, *, now: datetime) -> Conversation | None:
        """The thread's conversation as last saved, or None (none, expired, unreadable, or the store failed)."""
        if key is None:
            return None
        try:
            row = await self._rows.load(key, now=now)
        except SreBotError as e:
            log.warning("could not load the thread's conversation; it starts over", key=key, error=str(e))
            return None
        return None if row is None else self._read(key, row)

    @staticmethod
    def _read(key: str, row: tuple[int, str]) -> Conversation | None:
        try:
            return Conversation.from_payload(row[1], version=row[0])
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            log.warning("a stored conversation could not be read; the thread starts over", key=key, error=str(e))
            return None

    async def put(self, conv: Conversation, *, now: datetime) -> bool:
        """Save `conv` (trimmed). When another writer saved the thread since `conv` was loaded, `conv` is rebased
        onto theirs (in place) and saved again. False when it could not be saved (logged)."""
        for _ in range(_SAVE_ATTEMPTS):
            trimmed = conv.trim(self._max_tokens)
            if trimmed:
                log.info("conversation trimmed to the token budget", key=conv.key, results_removed=trimmed)
            try:
                version = await self._rows.save(conv.key, conv.to_payload(), expected=conv.version, now=now,
                                                 ttl=self._ttl, keep=self._size)
                if version is not None:
                    conv.version, conv.base_messages, conv.base_owed = version, len(conv.messages), len(
                        conv.open_tool_uses)
                    return True
                row = await self._rows.load(conv.key, now=now)
            except SreBotError as e:
                log.warning("the thread's conversation was not saved; a follow-up starts over", key=conv.key,
                            error=str(e))
                return False
            newer = None if row is None else self._read(conv.key, row)
            if newer is None:  # it expired meanwhile (0), or what is stored cannot be read (replaced): this one wins
                conv.version = 0 if row is None else row[0]
            else:
                log.info("another turn was saved first in this thread; this one goes after it", key=conv.key,
                         theirs=newer.version)
                conv.rebase_onto(newer)
        log.warning("the thread's conversation was not saved: other turns kept winning", key=conv.key,
                    attempts=_SAVE_ATTEMPTS)
        return False
