"""Escalation: the pages an incident triggered (`pages`: team, provider, dedup key, the request that sent it, its
state and times), and each incident's escalation state (`escalations`: who acknowledged it in Slack, and the
escalation rule's latest decision), so following a page and the per-team rate limit survive restarts and work
across replicas.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "pages",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("incident_key", sa.Text, nullable=False),
        sa.Column("team", sa.Text, nullable=False),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("dedup_key", sa.Text, nullable=False),
        sa.Column("request_id", sa.String(64)),
        sa.Column("requested_by", sa.Text),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("triggered_at", _TS),
        sa.Column("acknowledged_at", _TS),
        sa.Column("resolved_at", _TS),
    )
    op.create_index("ix_pages_incident_key", "pages", ["incident_key"])
    op.create_index("ix_pages_state", "pages", ["state"])
    op.create_index("ix_pages_request_id", "pages", ["request_id"], unique=True)
    op.create_table(
        "escalations",
        sa.Column("incident_key", sa.Text, primary_key=True),
        sa.Column("acked_by", sa.Text),
        sa.Column("acked_by_name", sa.Text),
        sa.Column("acked_at", _TS),
        sa.Column("decision", sa.Text),
        sa.Column("decided_at", _TS),
    )


def downgrade() -> None:
    op.drop_table("escalations")
    op.drop_table("pages")
