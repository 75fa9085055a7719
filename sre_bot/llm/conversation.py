"""An investigation thread's memory: the messages sent (redacted), and every evidence item returned so far.

A follow-up in the same Slack thread ("what about the DB?") continues the conversation: the model sees its earlier
evidence, and quotes of that evidence still verify. Kept in memory per process, least recently used first out,
and forgotten after a day.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from ..investigation import Investigation
from ..models import Evidence, TimeRange

__all__ = ["Conversation", "Conversations"]


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
    updated: float = field(default_factory=time.monotonic)

    def remember(self, items: list[Evidence], visible: dict[str, str]) -> None:
        for e in items:
            self.evidence[e.id] = e
        for i, text in visible.items():
            if text not in self.visible.get(i, ""):
                self.visible[i] = (self.visible[i] + "\n" + text) if i in self.visible else text


class Conversations:
    """Thread key ("channel:thread_ts") -> Conversation, at most `size` of them, each for `ttl_s` seconds."""

    def __init__(self, size: int = 500, ttl_s: float = 86400.0) -> None:
        self._items: OrderedDict[str, Conversation] = OrderedDict()
        self._size, self._ttl = size, ttl_s
        self._lock = threading.Lock()

    def get(self, key: str | None) -> Conversation | None:
        if key is None:
            return None
        with self._lock:
            c = self._items.get(key)
            if c is None:
                return None
            if time.monotonic() - c.updated > self._ttl:
                del self._items[key]
                return None
            self._items.move_to_end(key)
            return c

    def put(self, c: Conversation) -> None:
        with self._lock:
            c.updated = time.monotonic()
            self._items[c.key] = c
            self._items.move_to_end(c.key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)
