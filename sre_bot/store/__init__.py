"""Persistence for human-approved actions: requests and their exactly-once claim, the append-only audit log,
flags (the kill switch) and seen Slack events, behind one `Store`.

SQLite by default (`sqlite+aiosqlite:///path/sre-bot.db`, one process), PostgreSQL for several replicas
(`postgresql+asyncpg://user@host/db`). `open_store(url)` applies the Alembic migrations in `migrations/` before
returning. See `store.py` for the API and `records.py` for the request life cycle.
"""

from typing import TYPE_CHECKING, Any

from .errors import StoreError
from .records import TERMINAL_STATUSES, ActionRequest, AuditRecord, Flag, RequestStatus, Risk, new_request_id

if TYPE_CHECKING:
    from .store import Store, open_store

__all__ = ["open_store", "Store", "StoreError", "ActionRequest", "AuditRecord", "Flag", "RequestStatus", "Risk",
           "TERMINAL_STATUSES", "new_request_id"]


def __getattr__(name: str) -> Any:
    """`Store` and `open_store` are imported on first use: SQLAlchemy and Alembic cost a few hundred milliseconds
    at start, which commands that only need the record types (`sre-bot ask`) should not pay."""
    if name in ("Store", "open_store"):
        from . import store

        return getattr(store, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
