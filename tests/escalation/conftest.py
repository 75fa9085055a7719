from __future__ import annotations

from tests.store.conftest import pg_url, postgres_available, sqlite_url, store, store_url  # noqa: F401
