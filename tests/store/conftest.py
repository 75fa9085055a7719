"""Store fixtures: `store_url` / `store` run each test on SQLite (a temp file) and on PostgreSQL (a fresh database).

PostgreSQL is the one on the machine (`SRE_BOT_TEST_POSTGRES`, default postgresql://postgres@127.0.0.1:5432/test).
Each test that uses it gets a fresh, empty schema in that database: a new login role `sre_bot_test_<random>` owning
a schema of the same name, which PostgreSQL's default `search_path` ("$user", public) puts first, so the URL alone
(the role as user) selects it. Both are dropped afterwards. A schema costs milliseconds; CREATE DATABASE costs 0.3 s.
When the server is not reachable the PostgreSQL variants are skipped, or fail when `CI` is set (CI starts it).
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from sre_bot.store import ActionRequest, Store, open_store
from tests.store.helpers import T0

ADMIN_URL = os.environ.get("SRE_BOT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _admin_dsn() -> str:
    return make_url(ADMIN_URL).set(drivername="postgresql").render_as_string(hide_password=False)


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(_admin_dsn(), timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgres_available() -> None:
    """Checks once that the test PostgreSQL answers; skips (or fails under CI) the tests that need it."""
    try:
        asyncio.run(_admin("SELECT 1"))
    except (TimeoutError, OSError, asyncpg.PostgresError) as e:
        where = make_url(ADMIN_URL).render_as_string(hide_password=True)
        msg = f"PostgreSQL not reachable at {where} ({type(e).__name__}: {e}); set SRE_BOT_TEST_POSTGRES or start it"
        if _in_ci():
            pytest.fail(f"{msg}; CI is set, so the PostgreSQL store tests must run", pytrace=False)
        pytest.skip(msg)


@pytest.fixture
def pg_url(postgres_available: None) -> Iterator[str]:
    """The URL of a fresh, empty PostgreSQL schema (via its own role), dropped after the test."""
    name, password = f"sre_bot_test_{secrets.token_hex(6)}", secrets.token_hex(12)
    asyncio.run(_admin(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'; CREATE SCHEMA {name} AUTHORIZATION {name}"))
    try:
        url = make_url(ADMIN_URL).set(drivername="postgresql+asyncpg", username=name, password=password)
        yield url.render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin(f"DROP SCHEMA {name} CASCADE; DROP ROLE {name}"))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """The URL of a SQLite file in a directory that does not exist yet (open_store creates it)."""
    return f"sqlite+aiosqlite:///{tmp_path / 'state' / 'sre-bot.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest) -> str:
    """A fresh database URL, once per backend."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    """An open store on a fresh database, once per backend."""
    async with await open_store(store_url) as s:
        yield s


@pytest.fixture
def make_request() -> Callable[..., ActionRequest]:
    """`make_request(**overrides)`: a pending restart request created at T0, expiring 15 minutes later."""
    def _make(**overrides: Any) -> ActionRequest:
        fields: dict[str, Any] = dict(
            action="restart", args={"service": "checkout"}, preview="kubectl rollout restart deploy/checkout",
            risk="medium", reversible=True, reason="error rate up since deploy", evidence_ids=["ev-1", "ev-2"],
            source={"kind": "engine", "version": "stats-v1"}, requested_by="U01ASKER", channel="C0INCIDENT",
            thread_ts="1700000000.000100", created_at=T0, expires_at=T0 + timedelta(minutes=15))
        fields.update(overrides)
        return ActionRequest(**fields)

    return _make
