"""Migrations: applied at open, idempotent, safe when replicas start together, and matching `schema.py`."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from sre_bot.errors import ConfigError
from sre_bot.store import Store, StoreError, open_store
from sre_bot.store.migrate import head_revision
from sre_bot.store.schema import metadata
from tests.store.helpers import T0, read_line, say_go, spawn_claimer


async def _revisions(store: Store) -> list[str]:
    async with store._engine.connect() as conn:
        return list((await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars())


async def test_open_twice_is_idempotent(store_url: str) -> None:
    """Opening the same database again finds it at head and changes nothing."""
    async with await open_store(store_url) as first:
        assert await _revisions(first) == [head_revision()]
    async with await open_store(store_url) as second:
        assert await _revisions(second) == [head_revision()]


async def test_concurrent_first_opens(store_url: str) -> None:
    """Four stores opening one fresh database at once all succeed; the schema is created once."""
    stores = await asyncio.gather(*(open_store(store_url) for _ in range(4)))
    try:
        assert [await _revisions(s) for s in stores] == [[head_revision()]] * 4
        await stores[0].set_flag("kill_switch", True, by="U1", now=T0)
        assert (await stores[3].get_flag("kill_switch")).value is True
    finally:
        for s in stores:
            await s.close()


async def test_schema_matches_migrations(store: Store) -> None:
    """The tables the migrations build are exactly the ones `schema.py` describes (no autogenerate diff)."""
    def _diff(sync_conn):  # type: ignore[no-untyped-def]
        return compare_metadata(MigrationContext.configure(sync_conn), metadata)

    async with store._engine.connect() as conn:
        assert await conn.run_sync(_diff) == []


async def test_unknown_revision_is_a_store_error(store_url: str) -> None:
    """A database written by a newer version (unknown revision) fails to open with a plain StoreError."""
    async with await open_store(store_url) as store, store._engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(StoreError, match="newer sre-bot") as caught:
        await open_store(store_url)
    assert caught.value.operation == "migrate"


@pytest.mark.parametrize("url", ["mysql://u@h/db", "not a url", "sqlite+aiosqlite://", "sqlite:///:memory:"])
async def test_bad_urls_are_config_errors(url: str) -> None:
    """Unsupported backends, garbage and in-memory SQLite are refused as configuration errors."""
    with pytest.raises(ConfigError, match="store URL"):
        await open_store(url)


async def test_unreachable_postgres_is_a_store_error() -> None:
    """A PostgreSQL that does not answer fails `open` with a StoreError that hides the password."""
    with pytest.raises(StoreError) as caught:
        await open_store("postgresql://bot:s3cret@127.0.0.1:9/sre")
    assert (caught.value.backend, caught.value.operation) == ("postgresql", "open")
    assert "s3cret" not in str(caught.value)


async def test_concurrent_opens_of_different_databases(tmp_path: Path) -> None:
    """Stores on four different databases opened at once in one process all migrate (Alembic's globals are shared)."""
    urls = [f"sqlite+aiosqlite:///{tmp_path / f'db{i}.sqlite'}" for i in range(4)]
    stores = await asyncio.gather(*(open_store(url) for url in urls))
    try:
        assert [await _revisions(s) for s in stores] == [[head_revision()]] * 4
    finally:
        for s in stores:
            await s.close()


async def test_processes_migrating_one_fresh_database_at_once(store_url: str) -> None:
    """Three OS processes (three replicas starting) open one fresh database at the same moment: all succeed."""
    procs = [await spawn_claimer(store_url, f"U{i}", "open") for i in range(3)]
    try:
        assert [await read_line(p) for p in procs] == ["ready"] * 3
        await say_go(*procs)
        assert [await read_line(p) for p in procs] == ["opened"] * 3
    finally:
        codes = [await asyncio.wait_for(p.wait(), timeout=30) for p in procs]
    assert codes == [0, 0, 0]
    async with await open_store(store_url) as store:
        assert await _revisions(store) == [head_revision()]


async def test_sqlite_directory_that_cannot_exist_is_a_store_error(tmp_path: Path) -> None:
    """A SQLite path whose directory cannot be created (a file is in the way) fails `open` with a StoreError."""
    (tmp_path / "occupied").write_text("not a directory")
    with pytest.raises(StoreError, match="cannot create the directory") as caught:
        await open_store(f"sqlite+aiosqlite:///{tmp_path / 'occupied' / 'sre-bot.db'}")
    assert (caught.value.backend, caught.value.operation) == ("sqlite", "open")
