"""Conversations in the store: each Slack thread's conversation with the model, as an opaque JSON text.

    row = await store.conversations.load("C1:1700000000.000100", now=now)          # None: none, or expired
    version = await store.conversations.save(key, payload, expected=row.version if row else 0, now=now,
                                             ttl=timedelta(days=1), keep=500)   # None: another writer was first

`save` is a compare-and-set on `version`, so two replicas answering in one thread never overwrite each other's turn:
the loser reloads and rebases its turn (`llm/conversation.py` decides how). What is kept is bounded: a row expires
`ttl` after its last save, and beyond `keep` rows the least recently updated are deleted (both at most every few
minutes). The store reads no clock: `now` is passed in.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, NamedTuple

from sqlalchemy import delete, func, select, update

from ._dialect import upsert
from .schema import conversations

if TYPE_CHECKING:
    from .store import Store

__all__ = ["StoredConversation", "ConversationStore"]

_C = conversations.c
_PRUNE_EVERY = timedelta(minutes=5)


class StoredConversation(NamedTuple):
    version: int
    payload: str


class ConversationStore:
    """The `conversations` table; share one per store (it remembers when it last pruned)."""

    def __init__(self, store: Store) -> None:
        self._s = store
        self._next_prune: datetime | None = None

    async def load(self, key: str, *, now: datetime) -> StoredConversation | None:
        """The conversation of `key` with its version; None when there is none or it has expired."""
        query = select(_C.version, _C.payload).where(_C.key == key, _C.expires_at > now)
        async with self._s._tx("conversation_load") as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else StoredConversation(int(row.version), str(row.payload))

    async def exists(self, key: str, *, now: datetime) -> bool:
        """Whether `key` has an unexpired conversation (without reading it)."""
        query = select(_C.key).where(_C.key == key, _C.expires_at > now)
        async with self._s._tx("conversation_exists") as conn:
            return (await conn.execute(query)).first() is not None

    async def save(self, key: str, payload: str, *, expected: int, now: datetime, ttl: timedelta,
                   keep: int) -> int | None:
        """Write `payload` if the row is still at version `expected` (0: there is no row, or only an expired one);
        returns the new version, or None when another writer saved first (nothing was written)."""
        if ttl <= timedelta(0) or keep < 1:
            raise ValueError(f"save needs a positive ttl and keep, got ttl={ttl}, keep={keep}")
        values = {"payload": payload, "updated_at": now, "expires_at": now + ttl}
        if expected > 0:
            statement = (update(conversations)
                         .where(_C.key == key, _C.version == expected, _C.expires_at > now)
                         .values(version=_C.version + 1, **values).returning(_C.version))
        else:  # a new conversation, or one replacing an expired row (its version keeps counting up)
            insert = upsert(self._s.backend, conversations).values(key=key, version=1, **values)
            statement = insert.on_conflict_do_update(
                index_elements=[_C.key], set_={"version": _C.version + 1, **values},
                where=_C.expires_at <= now).returning(_C.version)
        async with self._s._tx("conversation_save", write=True) as conn:
            version = (await conn.execute(statement)).scalar_one_or_none()
            if version is not None and (self._next_prune is None or now >= self._next_prune):
                await conn.execute(delete(conversations).where(_C.expires_at <= now))
                oldest = select(_C.key).order_by(_C.updated_at.desc(), _C.key).offset(keep)
                await conn.execute(delete(conversations).where(_C.key.in_(oldest), _C.key != key))
                self._next_prune = now + min(ttl, _PRUNE_EVERY)
        return None if version is None else int(version)

    async def count(self, *, now: datetime) -> int:
        """How many unexpired conversations are kept."""
        query = select(func.count()).select_from(conversations).where(_C.expires_at > now)
        async with self._s._tx("conversation_count") as conn:
            return int((await conn.execute(query)).scalar_one())
