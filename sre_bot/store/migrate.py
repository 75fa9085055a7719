"""Bring a database to the newest schema: Alembic's `upgrade head`, run by `open_store()` at every start.

The scripts live in `sre_bot/store/migrations/` (shipped as package data). The whole upgrade is one transaction
that first takes a lock (a PostgreSQL advisory lock, or SQLite's write lock via `BEGIN IMMEDIATE`), so two replicas
starting together do not both create the tables: the second waits, then finds the schema at head and does nothing.

Alembic keeps its `context` and `op` proxies in module globals, so two upgrades interleaving on one event loop (two
stores opened at once in one process, on different databases) would trample each other: within a process, one
upgrade runs at a time per event loop.
"""

from __future__ import annotations

import asyncio
import weakref

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from ._dialect import WRITE, Backend, lock_for_migration
from .errors import StoreError

__all__ = ["SCRIPT_LOCATION", "alembic_config", "head_revision", "upgrade_to_head"]

SCRIPT_LOCATION = "sre_bot.store:migrations"

_upgrading: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config without an ini file: the packaged scripts, and the connection env.py runs on."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision this code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "sre_bot/store/migrations/versions is empty"
    return head


async def upgrade_to_head(engine: AsyncEngine, backend: Backend) -> None:
    """Apply every missing revision in one locked transaction (SQLAlchemy errors propagate to the caller)."""
    async with _in_process_lock(), engine.connect() as conn:
        conn = await conn.execution_options(**WRITE)
        async with conn.begin():
            await lock_for_migration(conn, backend)
            try:
                await conn.run_sync(_upgrade)
            except CommandError as e:
                raise StoreError(f"cannot bring the database schema to {head_revision()}: {e} (was the database "
                                 f"written by a newer sre-bot?)", backend=backend, operation="migrate") from e


def _in_process_lock() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    lock = _upgrading.get(loop)
    if lock is None:
        lock = _upgrading[loop] = asyncio.Lock()
    return lock


def _upgrade(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "head")
