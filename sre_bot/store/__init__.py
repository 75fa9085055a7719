"""Persistence for human-approved actions: requests and their exactly-once claim, the append-only audit log,
flags (the kill switch) and seen Slack events, behind one `Store`.

SQLite by default (`sqlite+aiosqlite:///path/sre-bot.db`, one process), PostgreSQL for several replicas
(`postgresql+asyncpg://user@host/db`). `open_store(url)` applies the Alembic migrations in `migrations/` before
returning. See `store.py` for the API and `records.py` for the request life cycle.
"""

from .errors import StoreError
from .records import TERMINAL_STATUSES, ActionRequest, AuditRecord, Flag, RequestStatus, Risk, new_request_id
from .store import Store, open_store

__all__ = ["open_store", "Store", "StoreError", "ActionRequest", "AuditRecord", "Flag", "RequestStatus", "Risk",
           "TERMINAL_STATUSES", "new_request_id"]
