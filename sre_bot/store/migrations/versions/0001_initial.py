"""Initial tables: action requests, the append-only audit log, flags (kill switch), seen Slack events.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_TS = sa.DateTime(timezone=True)

_PG_APPEND_ONLY = [
    """
    CREATE FUNCTION sre_bot_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit is append-only: % refused', TG_OP;
    END
    $$
    """,
    "CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit "
    "FOR EACH ROW EXECUTE FUNCTION sre_bot_audit_append_only()",
    "CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit "
    "FOR EACH STATEMENT EXECUTE FUNCTION sre_bot_audit_append_only()",
]
_SQLITE_APPEND_ONLY = [
    "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit "
    "BEGIN SELECT RAISE(ABORT, 'audit is append-only: UPDATE refused'); END",
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit "
    "BEGIN SELECT RAISE(ABORT, 'audit is append-only: DELETE refused'); END",
]


def upgrade() -> None:
    op.create_table(
        "action_requests",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("args", _JSON, nullable=False),
        sa.Column("preview", sa.Text, nullable=False),
        sa.Column("risk", sa.String(8), nullable=False),
        sa.Column("reversible", sa.Boolean, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("evidence_ids", _JSON, nullable=False),
        sa.Column("source", _JSON, nullable=False),
        sa.Column("requested_by", sa.Text),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("thread_ts", sa.Text),
        sa.Column("message_ts", sa.Text),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decided_by", sa.Text),
        sa.Column("decided_by_name", sa.Text),
        sa.Column("decided_at", _TS),
        sa.Column("reason_rejected", sa.Text),
        sa.Column("started_at", _TS),
        sa.Column("finished_at", _TS),
        sa.Column("outcome_detail", sa.Text),
        sa.Column("target_response", _JSON),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_index("ix_action_requests_status_expires_at", "action_requests", ["status", "expires_at"])

    op.create_table(
        "audit",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("at", _TS, nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("actor", sa.Text),
        sa.Column("request_id", sa.Text),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("data", _JSON, nullable=False),
    )
    op.create_index("ix_audit_at_id", "audit", ["at", "id"])
    op.create_index("ix_audit_request_id", "audit", ["request_id"])
    for statement in _PG_APPEND_ONLY if op.get_bind().dialect.name == "postgresql" else _SQLITE_APPEND_ONLY:
        op.execute(statement)

    op.create_table(
        "flags",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("value", sa.Boolean, nullable=False),
        sa.Column("set_by", sa.Text),
        sa.Column("set_at", _TS),
    )

    op.create_table(
        "seen_events",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("seen_at", _TS, nullable=False),
    )
    op.create_index("ix_seen_events_seen_at", "seen_events", ["seen_at"])


def downgrade() -> None:
    op.drop_table("seen_events")
    op.drop_table("flags")
    op.drop_table("audit")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION sre_bot_audit_append_only()")
    op.drop_table("action_requests")
