"""The store fixtures of tests/store (`store`: SQLite and PostgreSQL) for the deploy verdict tests."""

from tests.store.conftest import pg_url, postgres_available, sqlite_url, store, store_url  # noqa: F401
