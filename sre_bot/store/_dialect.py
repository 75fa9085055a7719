"""The few places SQLite and PostgreSQL differ: URL, engine set-up, upsert, and the migration lock.

SQLite (the default, one file): WAL so readers never wait for the writer, `synchronous=FULL` so a committed claim
survives a power cut (a claim lost after the action ran would let it run twice), `busy_timeout` so a writer waits
for another process's write instead of failing, and every write transaction opened with `BEGIN IMMEDIATE` so it
takes the write lock up front (a deferred transaction that read first can fail with "database is locked" without
waiting). SQLite has one writer at a time, so within a process the writes take turns on an asyncio lock
(`write_lock`) before they take a connection: a waiting write holds neither a pooled connection nor a thread in
SQLite's busy loop, and a write transaction left open while the event loop is busy elsewhere cannot make the
others time out on the file lock. The seen-event keys checked on every Slack request are written without waiting
for the disk (`RELAXED_WRITE`); every other write is FULL.

PostgreSQL (several replicas): READ COMMITTED is enough, because every state change is one conditional statement;
concurrent starts serialise their migrations on a transaction-scoped advisory lock.

Both: a connection pool sized by `SRE_BOT_DB_POOL_SIZE` + `SRE_BOT_DB_POOL_OVERFLOW` (one answer uses one
connection at a time, so this is how many requests can touch the store at once), and `is_transient` tells the
errors worth a retry (locked/busy, serialization failure, deadlock, no free connection) from the rest.
"""

from __future__ import annotations

import asyncio
import sqlite3
import weakref
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Table, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from ..errors import ConfigError

__all__ = ["Backend", "parse_url", "backend_of", "make_engine", "upsert", "WRITE", "RELAXED_WRITE",
           "lock_for_migration", "describe", "is_transient", "write_lock", "DEFAULT_POOL_SIZE",
           "DEFAULT_POOL_OVERFLOW", "POOL_TIMEOUT_S"]

Backend = Literal["sqlite", "postgresql"]

# Execution options read by the SQLite "begin" hook: {"sre_bot_begin": "IMMEDIATE"} on write transactions, and
# {"sre_bot_sync": "NORMAL"} on those whose rows are harmless to lose in a power cut (see RELAXED_WRITE).
_BEGIN_OPTION = "sre_bot_begin"
_SYNC_OPTION = "sre_bot_sync"
WRITE: dict[str, Any] = {_BEGIN_OPTION: "IMMEDIATE"}
# A write committed without waiting for the disk (WAL + synchronous=NORMAL): still atomic, and kept when the process
# dies, but an OS crash or power cut may lose it. Only for rows whose loss is harmless (seen-event keys: at worst a
# retry is answered twice); it saves the fsync (a few ms, one writer at a time) that every FULL commit costs. A later
# FULL commit makes it durable too (the WAL is synced in order).
RELAXED_WRITE: dict[str, Any] = WRITE | {_SYNC_OPTION: "NORMAL"}

# Key of the PostgreSQL advisory lock held while migrating (per database; any constant that fits a bigint).
_MIGRATION_LOCK_KEY = 0x5EB0_7A1E_5707_0001

DEFAULT_POOL_SIZE = 10  # connections kept open (SRE_BOT_DB_POOL_SIZE)
DEFAULT_POOL_OVERFLOW = 20  # more opened under load, closed when returned (SRE_BOT_DB_POOL_OVERFLOW)
POOL_TIMEOUT_S = 10.0  # how long one checkout waits for a free connection before the store retries

# One wait for another process's write lock; the store retries after it (bounded), so a longer hold is survived.
_BUSY_TIMEOUT_MS = 5_000
# SQLite's result codes for "try again": SQLITE_BUSY (another connection holds the lock), SQLITE_LOCKED.
_SQLITE_RETRY_CODES = frozenset({5, 6})
_SQLITE_RETRY_TEXT = ("database is locked", "database is busy", "database table is locked")
# PostgreSQL SQLSTATEs after which nothing was written and a new attempt can succeed: serialization_failure,
# deadlock_detected, lock_not_available, too_many_connections, cannot_connect_now (the server is starting).
_PG_RETRY_STATES = frozenset({"40001", "40P01", "55P03", "53300", "57P03"})
_write_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary())
_DRIVERS = {"sqlite": "sqlite+aiosqlite", "sqlite+aiosqlite": "sqlite+aiosqlite",
            "postgresql": "postgresql+asyncpg", "postgres": "postgresql+asyncpg",
            "postgresql+asyncpg": "postgresql+asyncpg"}
_HELP = "use sqlite+aiosqlite:///path/to/sre-bot.db or postgresql+asyncpg://user@host:5432/dbname"


def describe(url: URL) -> str:
    """The URL with any password hidden, for messages and logs."""
    return url.render_as_string(hide_password=True)


def parse_url(raw: str) -> URL:
    """The async URL for `raw` (plain `sqlite:`/`postgresql:` get their async driver); ConfigError otherwise."""
    try:
        url = make_url(raw)
    except ArgumentError:
        raise ConfigError(f"store URL is not a database URL; {_HELP}") from None
    driver = _DRIVERS.get(url.drivername)
    if driver is None:
        raise ConfigError(f"store URL uses {url.drivername!r}, which is not supported; {_HELP}")
    url = url.set(drivername=driver)
    if driver.startswith("sqlite"):
        database = url.database or ""
        if database in ("", ":memory:") or url.query.get("mode") == "memory":
            raise ConfigError(f"store URL {describe(url)!r} is an in-memory SQLite database, which every connection "
                              f"sees empty; give a file path ({_HELP})")
    return url


def backend_of(url: URL) -> Backend:
    return "sqlite" if url.get_backend_name() == "sqlite" else "postgresql"


def make_engine(url: URL, *, pool_size: int = DEFAULT_POOL_SIZE,
                max_overflow: int = DEFAULT_POOL_OVERFLOW) -> AsyncEngine:
    """An engine for `url` with a pool of `pool_size` connections (+ `max_overflow` under load); for SQLite,
    creates the file's directory (OSError if it cannot) and installs the pragmas and BEGIN hook.

    SQLite keeps the queue pool SQLAlchemy picks for aiosqlite files (each connection is one aiosqlite thread):
    reads run side by side on it, and writes take one connection at a time (`write_lock`)."""
    if pool_size < 1 or max_overflow < 0:
        raise ConfigError(f"the store's pool needs a size of at least 1 and an overflow of at least 0, got "
                          f"{pool_size} and {max_overflow}")
    pool = {"pool_size": pool_size, "max_overflow": max_overflow, "pool_timeout": POOL_TIMEOUT_S}
    if backend_of(url) == "postgresql":
        return create_async_engine(url, pool_pre_ping=True, **pool)
    Path(url.database or "").parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, **pool)
    event.listen(engine.sync_engine, "connect", _sqlite_connect)
    event.listen(engine.sync_engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection: Any, record: Any) -> None:
    # The driver must not open transactions on its own; `_sqlite_begin` opens each one (and DDL stays transactional).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        record.info[_SYNC_OPTION] = "FULL"
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    options = conn.get_execution_options()
    # FULL unless the write is a relaxed one; `info` lives with the pooled DBAPI connection, so the pragma is sent
    # only when the setting changes (the connection starts at FULL, `_sqlite_connect`).
    sync = options.get(_SYNC_OPTION, "FULL")
    if conn.info.get(_SYNC_OPTION, "FULL") != sync:
        conn.exec_driver_sql(f"PRAGMA synchronous = {sync}")
        conn.info[_SYNC_OPTION] = sync
    conn.exec_driver_sql(f"BEGIN {options.get(_BEGIN_OPTION, 'DEFERRED')}")


def upsert(backend: Backend, table: Table) -> Any:
    """`INSERT … ON CONFLICT` for the backend (both dialects spell it the same; SQLAlchemy needs the right class)."""
    return (postgresql.insert if backend == "postgresql" else sqlite.insert)(table)


async def lock_for_migration(conn: AsyncConnection, backend: Backend) -> None:
    """Serialise concurrent migrations: on PostgreSQL an advisory lock released at commit; on SQLite the
    transaction is already `BEGIN IMMEDIATE`, which holds the file's write lock until commit."""
    if backend == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})


def write_lock(url: URL) -> asyncio.Lock | None:
    """SQLite: the one lock the writes to this file take turns on, in this process and event loop (every store
    opened on the file shares it). PostgreSQL: None (its writers do not wait on one lock)."""
    if backend_of(url) != "sqlite":
        return None
    locks = _write_locks.setdefault(asyncio.get_running_loop(), {})
    key = str(Path(url.database or "").resolve())
    lock = locks.get(key)
    if lock is None:
        lock = locks[key] = asyncio.Lock()
    return lock


def is_transient(error: BaseException) -> bool:
    """Whether the database asked to try again and nothing was written: no free connection in the pool, SQLite
    locked or busy, PostgreSQL serialization failure, deadlock, lock not available or too many connections."""
    if isinstance(error, PoolTimeout):
        return True
    cause: BaseException | None = error.orig if isinstance(error, DBAPIError) else error
    seen = 0
    while cause is not None and seen < 4:  # the driver's own error may sit under an adapter's
        if isinstance(cause, sqlite3.Error):
            code = getattr(cause, "sqlite_errorcode", None)
            if code is not None and code & 0xFF in _SQLITE_RETRY_CODES:
                return True
            return any(t in str(cause).lower() for t in _SQLITE_RETRY_TEXT)
        if getattr(cause, "sqlstate", None) in _PG_RETRY_STATES:
            return True
        cause, seen = (getattr(cause, "orig", None) or cause.__cause__), seen + 1
    return False
