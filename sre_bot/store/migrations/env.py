"""Alembic environment: runs on the connection `open_store()` hands over in `config.attributes["connection"]`.

Migrations run only through `sre_bot.store.open_store()` (inside its transaction and, on PostgreSQL, its advisory
lock), never from an `alembic.ini`. A new revision goes in `versions/`, named `NNNN_what.py`, written by hand with
`op.*` calls (no imports from the package, so old revisions keep working when `schema.py` changes).
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("sre_bot migrations run through sre_bot.store.open_store(), which passes the connection")

context.configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():  # a no-op: open_store() already opened the transaction and commits it
    context.run_migrations()
