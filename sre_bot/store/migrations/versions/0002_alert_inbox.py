"""The alert inbox: every accepted Alertmanager webhook body, stored before the 200 is returned.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "alert_inbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("received_at", _TS, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("body", _JSON, nullable=False),
        sa.Column("alerts", sa.Integer, nullable=False),
        sa.Column("processed_at", _TS),
    )
    op.create_index("ix_alert_inbox_processed_at_id", "alert_inbox", ["processed_at", "id"])


def downgrade() -> None:
    op.drop_table("alert_inbox")
