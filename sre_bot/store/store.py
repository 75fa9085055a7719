"""The `Store`: approvals, exactly-once execution, the append-only audit log, flags and seen events.

    store = await open_store("sqlite+aiosqlite:///var/lib/sre-bot/sre-bot.db")   # or postgresql+asyncpg://…
    async with store:
        req = await store.claim(request_id, user="U123", user_name="ana", now=now)
        if req is None: ...  # someone else won, or it was rejected/expired: get_request() says which

Every state change is one conditional statement (`UPDATE … WHERE status = 'pending' … RETURNING`), so the
database decides who wins, across coroutines, processes and replicas. The store never reads a clock: every
method that needs the time takes `now` (only its retry budget is measured, on the monotonic clock). Database and
driver errors leave as `StoreError`.

Under load a transaction may have to wait: for a pooled connection, for SQLite's one writer (writes take turns on
an in-process lock first, see `_dialect`), or for PostgreSQL to accept a connection. Starting a transaction (taking
the connection and the `BEGIN`) is retried when the database says "try again" — no free connection, locked or
busy, too many connections — with a growing, jittered pause, at most `_ATTEMPTS` times within `_RETRY_BUDGET_S`;
nothing has been written at that point, so a retry can never write twice. An error inside the transaction is not
retried here (the caller's statements may have had effects outside the database); it leaves as a `StoreError`
whose `transient` says whether trying the whole operation again could succeed.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import Row, func, insert, literal, select, tuple_, update
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ..logging import get_logger
from ._dialect import (
    DEFAULT_POOL_OVERFLOW,
    DEFAULT_POOL_SIZE,
    RELAXED_WRITE,
    WRITE,
    Backend,
    backend_of,
    describe,
    is_transient,
    make_engine,
    parse_url,
    upsert,
    write_lock,
)
from .cases import CaseStore
from .conversations import ConversationStore
from .errors import StoreError
from .feedback import FeedbackStore
from .inbox import InboxWriter
from .incidents import IncidentStore, LeaseStore
from .migrate import upgrade_to_head
from .records import ActionRequest, AuditRecord, Flag
from .schema import action_requests, alert_inbox, audit, flags
from .seen import SeenKeys
from .verdicts import VerdictStore

__all__ = ["Store", "open_store"]

_R = action_requests.c
_JSON_FIELDS = ("args", "evidence_ids", "source", "target_response")
_EXPORT_BATCH = 500
_ATTEMPTS = 8  # tries to start one transaction when the database says "try again"
_RETRY_BUDGET_S = 30.0  # no new try starts later than this after the first
_PAUSE_S = (0.05, 2.0)  # the first pause between tries, and the longest (doubling, with jitter): ≤ 5 s in all
_WRITE_WAIT_S = 30.0  # SQLite: the longest a write waits for this process's earlier writes

log = get_logger(__name__)


async def open_store(url: str, *, pool_size: int = DEFAULT_POOL_SIZE,
                     max_overflow: int = DEFAULT_POOL_OVERFLOW) -> Store:
    """Connect to `url`, bring its schema to the newest revision, and return the store (close it when done).

    SQLite: the file's directory is created; WAL, foreign keys and a busy timeout are set on every connection.
    `pool_size` connections are kept open and up to `max_overflow` more are opened under load.
    Raises ConfigError for a URL that is not SQLite or PostgreSQL, StoreError when the database fails.
    """
    parsed = parse_url(url)
    backend = backend_of(parsed)
    try:
        engine = make_engine(parsed, pool_size=pool_size, max_overflow=max_overflow)
    except OSError as e:
        raise StoreError(f"cannot create the directory of {describe(parsed)}: {e.strerror or e}", backend=backend,
                         operation="open") from e
    store = Store(engine, backend, describe(parsed), write_lock=write_lock(parsed))
    try:
        async with store._guard("open"):
            await upgrade_to_head(store._engine, backend)
    except BaseException:
        await store.close()
        raise
    return store


def _reason(e: BaseException) -> str:
    cause = e.orig if isinstance(e, DBAPIError) and e.orig is not None else e
    text = str(cause).strip().splitlines()
    return text[0] if text else type(cause).__name__


def _request(row: Row[Any]) -> ActionRequest:
    return ActionRequest.model_validate(dict(row._mapping))


def _audit(row: Row[Any]) -> AuditRecord:
    return AuditRecord.model_validate(dict(row._mapping))


class Store:
    """One database behind one interface; safe to share between coroutines (it holds a connection pool)."""

    def __init__(self, engine: AsyncEngine, backend: Backend, where: str, *,
                 write_lock: asyncio.Lock | None = None) -> None:
        self._engine = engine
        self.backend: Backend = backend
        self.where = where  # the URL without its password
        self._write_lock = write_lock  # SQLite: writes take turns on it (`_dialect.write_lock`)
        self._writer: asyncio.Task[Any] | None = None  # the task whose write holds it (a nested write is a bug)
        self._closed = False
        self._seen = SeenKeys(self)
        self._inbox = InboxWriter(self)
        self.incidents = IncidentStore(self)
        self.leases = LeaseStore(self)
        self.feedback = FeedbackStore(self)
        self.conversations = ConversationStore(self)
        self.cases = CaseStore(self)
        self.verdicts = VerdictStore(self)

    async def close(self) -> None:
        """Close every pooled connection; later calls raise StoreError."""
        self._closed = True
        await self._engine.dispose()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def ping(self) -> None:
        """One trivial read (`SELECT 1`); StoreError when the database does not answer. Readiness uses it."""
        async with self._tx("ping") as conn:
            await conn.execute(select(literal(1)))

    # -- plumbing ------------------------------------------------------------------------------------------------

    @asynccontextmanager
    async def _guard(self, operation: str) -> AsyncIterator[None]:
        try:
            yield
        except IntegrityError as e:
            raise StoreError(f"the database refused the write: {_reason(e)}", backend=self.backend,
                             operation=operation) from e
        except (SQLAlchemyError, OSError) as e:
            raise StoreError(f"failed on {self.where}: {_reason(e)}", backend=self.backend,
                             operation=operation, transient=is_transient(e)) from e

    @asynccontextmanager
    async def _tx(self, operation: str, *, write: bool = False,
                  durable: bool = True) -> AsyncIterator[AsyncConnection]:
        """One transaction; a write one takes SQLite's write lock up front (`BEGIN IMMEDIATE`), after this
        process's earlier writes to the file. Starting it is retried (bounded) when the database says so.
        `durable=False`: on SQLite the commit does not wait for the disk (`_dialect.RELAXED_WRITE`)."""
        if self._closed:
            raise StoreError("the store is closed", backend=self.backend, operation=operation)
        async with self._guard(operation):
            async with self._write_turn(operation, write):
                conn = await self._begin(operation, (WRITE if durable else RELAXED_WRITE) if write else None)
                try:
                    yield conn
                    await conn.commit()
                except BaseException:
                    with suppress(SQLAlchemyError, OSError):  # the error that got us here is the one to report
                        await conn.rollback()
                    await conn.close()
                    raise
            await conn.close()  # back to the pool after the next write could start (the transaction is over)

    @asynccontextmanager
    async def _write_turn(self, operation: str, write: bool) -> AsyncIterator[None]:
        """SQLite writes: wait for this process's earlier writes (bounded) before taking a connection."""
        if not write or self._write_lock is None:
            yield
            return
        if self._writer is not None and self._writer is asyncio.current_task():
            raise RuntimeError(f"{operation}: a write transaction inside another one on SQLite would wait for itself")
        try:
            async with asyncio.timeout(_WRITE_WAIT_S):
                await self._write_lock.acquire()
        except TimeoutError:
            raise StoreError(f"waited {_WRITE_WAIT_S:.0f} s for this process's other writes to {self.where}",
                             backend=self.backend, operation=operation, transient=True) from None
        self._writer = asyncio.current_task()
        try:
            yield
        finally:
            self._writer = None
            self._write_lock.release()

    async def _begin(self, operation: str, write: dict[str, Any] | None) -> AsyncConnection:
        """A pooled connection inside a new transaction; tried again while the database answers "try again"."""
        started = time.monotonic()
        for attempt in range(1, _ATTEMPTS + 1):
            conn: AsyncConnection | None = None
            try:
                conn = await self._engine.connect().start()  # from the pool (PoolTimeout when none is free in time)
                if write is not None:
                    conn = await conn.execution_options(**write)
                await conn.begin()  # SQLite: BEGIN IMMEDIATE waits up to its busy timeout for the write lock
                return conn
            except (SQLAlchemyError, OSError) as e:
                if conn is not None:
                    with suppress(SQLAlchemyError, OSError):  # a broken connection is dropped from the pool
                        await conn.close()
                pause = min(_PAUSE_S[1], _PAUSE_S[0] * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
                if not is_transient(e) or attempt == _ATTEMPTS or \
                        time.monotonic() - started + pause > _RETRY_BUDGET_S:
                    raise
                log.warning("store busy; trying again", operation=operation, attempt=attempt,
                            reason=_reason(e), pause_s=round(pause, 3))
                await asyncio.sleep(pause)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _change(self, operation: str, statement: Any) -> ActionRequest | None:
        async with self._tx(operation, write=True) as conn:
            row = (await conn.execute(statement.returning(*action_requests.c))).first()
        return None if row is None else _request(row)

    # -- audit (append-only: there is no update or delete, and a database trigger refuses both) -------------------

    async def append(self, record: AuditRecord) -> AuditRecord:
        """Append one record; returns it as stored: with the id the database assigned, `data` as JSON values."""
        values = record.model_dump(exclude={"id"})
        values["data"] = to_jsonable_python(record.data)
        async with self._tx("append", write=True) as conn:
            new_id = (await conn.execute(insert(audit).values(values).returning(audit.c.id))).scalar_one()
        return record.model_copy(update={"id": new_id, "data": values["data"]})

    async def latest(self, n: int) -> list[AuditRecord]:
        """The `n` newest records, newest first."""
        if n < 0:
            raise ValueError(f"latest(n) needs n >= 0, got {n}")
        query = select(audit).order_by(audit.c.at.desc(), audit.c.id.desc()).limit(n)
        async with self._tx("latest") as conn:
            return [_audit(row) for row in await conn.execute(query)]

    async def has_audit(self, request_id: str, kind: str) -> bool:
        """Whether a record of `kind` about `request_id` exists."""
        query = select(audit.c.id).where(audit.c.request_id == request_id, audit.c.kind == kind).limit(1)
        async with self._tx("has_audit") as conn:
            return (await conn.execute(query)).first() is not None

    async def since(self, t: datetime, *, limit: int | None = None) -> AsyncIterator[AuditRecord]:
        """Records at or after `t`, oldest first, fetched in batches (each its own short transaction)."""
        after: tuple[datetime, int] | None = None
        left = limit
        while left is None or left > 0:
            size = _EXPORT_BATCH if left is None else min(left, _EXPORT_BATCH)
            query = select(audit).where(audit.c.at >= t)
            if after is not None:
                query = query.where(tuple_(audit.c.at, audit.c.id) > tuple_(*after))
            query = query.order_by(audit.c.at, audit.c.id).limit(size)
            async with self._tx("since") as conn:
                batch = [_audit(row) for row in await conn.execute(query)]
            for record in batch:
                yield record
            if len(batch) < size:
                return
            after = (batch[-1].at, batch[-1].id)  # type: ignore[assignment]
            left = None if left is None else left - len(batch)

    # -- action requests -----------------------------------------------------------------------------------------

    async def create_request(self, req: ActionRequest) -> ActionRequest:
        """Insert a new request (normally `pending`); StoreError if the id exists."""
        values = req.model_dump()
        values.update({name: to_jsonable_python(getattr(req, name)) for name in _JSON_FIELDS})
        async with self._tx("create_request", write=True) as conn:
            await conn.execute(insert(action_requests).values(values))
        return req.model_copy(update={name: values[name] for name in _JSON_FIELDS})

    async def get_request(self, request_id: str) -> ActionRequest | None:
        async with self._tx("get_request") as conn:
            row = (await conn.execute(select(action_requests).where(_R.id == request_id))).first()
        return None if row is None else _request(row)

    async def pending(self, now: datetime) -> list[ActionRequest]:
        """Requests still waiting for a decision (pending and not expired), oldest first."""
        query = (select(action_requests).where(_R.status == "pending", _R.expires_at > now)
                 .order_by(_R.created_at, _R.id))
        async with self._tx("pending") as conn:
            return [_request(row) for row in await conn.execute(query)]

    async def set_message(self, request_id: str, channel: str, message_ts: str) -> ActionRequest | None:
        """Record where the approval message was posted; None when the id is unknown."""
        return await self._change("set_message", update(action_requests).where(_R.id == request_id)
                                  .values(channel=channel, message_ts=message_ts, version=_R.version + 1))

    async def claim(self, request_id: str, *, user: str, user_name: str | None,
                    now: datetime) -> ActionRequest | None:
        """Approve and start in one statement: the row (now `executing`) when this caller won, else None.

        Only a pending, unexpired request can be claimed, and only once, whatever the number of concurrent
        callers, processes or replicas. None means lost, rejected, expired, already run or unknown.
        """
        return await self._change("claim", update(action_requests)
                                  .where(_R.id == request_id, _R.status == "pending", _R.expires_at > now)
                                  .values(status="executing", decided_by=user, decided_by_name=user_name,
                                          decided_at=now, started_at=now, version=_R.version + 1))

    async def reject(self, request_id: str, *, user: str, user_name: str | None, reason: str,
                     now: datetime) -> ActionRequest | None:
        """Pending and unexpired → rejected; None when the request was not in that state."""
        return await self._change("reject", update(action_requests)
                                  .where(_R.id == request_id, _R.status == "pending", _R.expires_at > now)
                                  .values(status="rejected", decided_by=user, decided_by_name=user_name,
                                          decided_at=now, reason_rejected=reason, version=_R.version + 1))

    async def mark_refused(self, request_id: str, *, reason: str, now: datetime) -> ActionRequest | None:
        """Pending → refused by policy (kill switch, autonomy level); None when it was not pending."""
        return await self._change("mark_refused", update(action_requests)
                                  .where(_R.id == request_id, _R.status == "pending")
                                  .values(status="refused", decided_at=now, reason_rejected=reason,
                                          version=_R.version + 1))

    async def expire(self, now: datetime) -> list[str]:
        """Every pending request whose `expires_at` has passed → expired; returns their ids."""
        statement = (update(action_requests).where(_R.status == "pending", _R.expires_at <= now)
                     .values(status="expired", decided_at=now, version=_R.version + 1).returning(_R.id))
        async with self._tx("expire", write=True) as conn:
            return sorted((await conn.execute(statement)).scalars())

    async def finish(self, request_id: str, *, ok: bool, detail: str, response: dict[str, Any] | None,
                     now: datetime) -> ActionRequest | None:
        """Executing → succeeded or failed, with the outcome; None when the request was not executing."""
        return await self._change("finish", update(action_requests)
                                  .where(_R.id == request_id, _R.status == "executing")
                                  .values(status="succeeded" if ok else "failed", finished_at=now,
                                          outcome_detail=detail, target_response=to_jsonable_python(response),
                                          version=_R.version + 1))

    async def stuck(self, now: datetime, older_than: timedelta) -> list[ActionRequest]:
        """Requests `executing` since at least `older_than` ago: a crash between claim and finish left them there.

        They are never claimed again; a person checks the target and the bot shows the row as it is.
        """
        query = (select(action_requests).where(_R.status == "executing", _R.started_at <= now - older_than)
                 .order_by(_R.started_at, _R.id))
        async with self._tx("stuck") as conn:
            return [_request(row) for row in await conn.execute(query)]

    async def count_started(self, *, since: datetime, decided_by: str | None = None,
                            action: str | None = None) -> int:
        """How many requests started executing at or after `since` (rate limits: `decided_by="auto"`)."""
        query = select(func.count()).select_from(action_requests).where(_R.started_at >= since)
        if decided_by is not None:
            query = query.where(_R.decided_by == decided_by)
        if action is not None:
            query = query.where(_R.action == action)
        async with self._tx("count_started") as conn:
            return int((await conn.execute(query)).scalar_one())

    async def recent(self, n: int) -> list[ActionRequest]:
        """The `n` newest requests in any state, newest first."""
        query = select(action_requests).order_by(_R.created_at.desc(), _R.id).limit(n)
        async with self._tx("recent") as conn:
            return [_request(row) for row in await conn.execute(query)]

    # -- the alert inbox -----------------------------------------------------------------------------------------

    async def inbox_add(self, body: Any, *, alerts: int, source: str, now: datetime) -> int:
        """Keep one accepted webhook body (committed when this returns); returns its id. Bodies added while a
        write is under way share the next transaction (group commit, `inbox.py`)."""
        if self._closed:
            raise StoreError("the store is closed", backend=self.backend, operation="inbox_add")
        return await self._inbox.add(to_jsonable_python(body), alerts=alerts, source=source, now=now)

    async def inbox_pending(self, limit: int = 100, *,
                            max_alerts: int | None = None) -> list[tuple[int, datetime, Any]]:
        """Bodies not yet processed, oldest first: `(id, received_at, body)`. With `max_alerts`: only as many
        bodies as hold that many alerts in all (always at least one), so a batch's work stays short."""
        query = (select(alert_inbox.c.id, alert_inbox.c.received_at, alert_inbox.c.body)
                 .where(alert_inbox.c.processed_at.is_(None)).order_by(alert_inbox.c.id).limit(limit))
        async with self._tx("inbox_pending") as conn:
            if max_alerts is not None:  # the ids first (no bodies read), then the bodies of those that fit
                counts = (select(alert_inbox.c.id, alert_inbox.c.alerts)
                          .where(alert_inbox.c.processed_at.is_(None)).order_by(alert_inbox.c.id).limit(limit))
                ids: list[int] = []
                total = 0
                for row in await conn.execute(counts):
                    if ids and total + row.alerts > max_alerts:
                        break
                    ids.append(row.id)
                    total += row.alerts
                if not ids:
                    return []
                query = query.where(alert_inbox.c.id <= ids[-1])
            return [(row.id, row.received_at, row.body) for row in await conn.execute(query)]

    async def inbox_done(self, ids: list[int], *, now: datetime) -> int:
        """Mark bodies processed; returns how many were still pending (a replica may have done some already)."""
        if not ids:
            return 0
        statement = (update(alert_inbox).where(alert_inbox.c.id.in_(ids), alert_inbox.c.processed_at.is_(None))
                     .values(processed_at=now))
        async with self._tx("inbox_done", write=True) as conn:
            return (await conn.execute(statement)).rowcount or 0

    # -- flags ---------------------------------------------------------------------------------------------------

    async def get_flag(self, name: str) -> Flag:
        """`(value, set_by, set_at)`; a flag never set is `(False, None, None)`."""
        query = select(flags.c.value, flags.c.set_by, flags.c.set_at).where(flags.c.name == name)
        async with self._tx("get_flag") as conn:
            row = (await conn.execute(query)).first()
        return Flag(False, None, None) if row is None else Flag(bool(row.value), row.set_by, row.set_at)

    async def set_flag(self, name: str, value: bool, *, by: str | None, now: datetime) -> Flag:
        """Set a flag (insert or overwrite) and return it."""
        statement = upsert(self.backend, flags).values(name=name, value=value, set_by=by, set_at=now)
        statement = statement.on_conflict_do_update(
            index_elements=[flags.c.name],
            set_={"value": statement.excluded.value, "set_by": statement.excluded.set_by,
                  "set_at": statement.excluded.set_at})
        async with self._tx("set_flag", write=True) as conn:
            await conn.execute(statement)
        return Flag(value, by, now)

    # -- seen events (Slack retries and replicas) ----------------------------------------------------------------

    async def first_time(self, key: str, *, now: datetime, ttl: timedelta) -> bool:
        """True for exactly one caller per `key` within `ttl`, across processes; a key older than `ttl` is new again.

        Rows are deleted at most every few minutes once older than the longest ttl asked for (and at least an hour),
        so keys of different ttls can share the store. Callers that ask while a write is under way share the next
        transaction (`seen.py`). On SQLite the commit does not wait for the disk (it is on the path of every Slack
        ack): a power cut may forget the last keys, so a retry of those could be let through once more; a process
        crash forgets nothing.
        """
        return await self._seen.first_time(key, now=now, ttl=ttl)
