"""The few places SQLite and PostgreSQL differ: URL, engine set-up, upsert, and the migration lock.

SQLite (the default, one file): WAL so readers never wait for the writer, `synchronous=FULL` so a committed claim
survives a power cut (a claim lost after the action ran would let it run twice), `busy_timeout` so concurrent
writers wait instead of failing, and every write transaction opened with `BEGIN IMMEDIATE` so it takes the write
lock up front (a deferred transaction that read first can fail with "database is locked" without waiting).

PostgreSQL (several replicas): READ COMMITTED is enough, because every state change is one conditional statement;
concurrent starts serialise their migrations on a transaction-scoped advisory lock.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Table, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from ..errors import ConfigError

__all__ = ["Backend", "parse_url", "backend_of", "make_engine", "upsert", "WRITE", "lock_for_migration",
           "describe"]

Backend = Literal["sqlite", "postgresql"]

# Execution option read by the SQLite "begin" hook: {"sre_bot_begin": "IMMEDIATE"} on write transactions.
_BEGIN_OPTION = "sre_bot_begin"
WRITE: dict[str, Any] = {_BEGIN_OPTION: "IMMEDIATE"}

# Key of the PostgreSQL advisory lock held while migrating (per database; any constant that fits a bigint).
_MIGRATION_LOCK_KEY = 0x5EB0_7A1E_5707_0001

_BUSY_TIMEOUT_MS = 10_000
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


def make_engine(url: URL) -> AsyncEngine:
    """An engine for `url`; for SQLite, creates the file's directory (OSError if it cannot) and installs the pragmas
    and BEGIN hook."""
    if backend_of(url) == "postgresql":
        return create_async_engine(url, pool_pre_ping=True)
    Path(url.database or "").parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url)
    event.listen(engine.sync_engine, "connect", _sqlite_connect)
    event.listen(engine.sync_engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # The driver must not open transactions on its own; `_sqlite_begin` opens each one (and DDL stays transactional).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    mode = conn.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


def upsert(backend: Backend, table: Table) -> Any:
    """`INSERT … ON CONFLICT` for the backend (both dialects spell it the same; SQLAlchemy needs the right class)."""
    return (postgresql.insert if backend == "postgresql" else sqlite.insert)(table)


async def lock_for_migration(conn: AsyncConnection, backend: Backend) -> None:
    """Serialise concurrent migrations: on PostgreSQL an advisory lock released at commit; on SQLite the
    transaction is already `BEGIN IMMEDIATE`, which holds the file's write lock until commit."""
    if backend == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
