"""The machine's PostgreSQL for the multi-process tests (fixtures shared with the store tests)."""

from tests.store.conftest import pg_url, postgres_available  # noqa: F401
