"""The store fixtures (`store` on SQLite and on PostgreSQL) for the incident memory tests."""

from tests.store.conftest import pg_url, postgres_available, sqlite_url, store, store_url  # noqa: F401
