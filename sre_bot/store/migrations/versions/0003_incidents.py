"""Incidents: the correlated incidents, their alerts and timeline, and the lease that makes one replica process.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_TS = sa.DateTime(timezone=True)
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("root_service", sa.Text),
        sa.Column("started_at", _TS, nullable=False),
        sa.Column("last_alert_at", _TS, nullable=False),
        sa.Column("resolved_at", _TS),
        sa.Column("follows", sa.String(64)),
        sa.Column("snapshot", _JSON, nullable=False),
        sa.Column("channel", sa.Text),
        sa.Column("message_ts", sa.Text),
        sa.Column("post_started_at", _TS),
        sa.Column("investigated_root", sa.Text),
        sa.Column("investigation", _JSON),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("posted_version", sa.Integer, nullable=False),
    )
    op.create_index("ux_incidents_number", "incidents", ["number"], unique=True)
    op.create_index("ix_incidents_status_started_at", "incidents", ["status", "started_at"])
    op.create_table(
        "incident_alerts",
        sa.Column("incident_key", sa.String(64), primary_key=True),
        sa.Column("fingerprint", sa.String(64), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("service", sa.Text),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("starts_at", _TS, nullable=False),
        sa.Column("ends_at", _TS),
        sa.Column("event", _JSON, nullable=False),
        sa.Column("joined_at", _TS, nullable=False),
        sa.Column("rule", sa.String(16)),
        sa.Column("reason", sa.Text),
        sa.Column("announced", sa.String(16)),
    )
    op.create_table(
        "incident_events",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("incident_key", sa.String(64), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
    )
    op.create_index("ix_incident_events_incident_key_id", "incident_events", ["incident_key", "id"])
    op.create_table(
        "leases",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.Text, nullable=False),
        sa.Column("epoch", sa.Integer, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("leases")
    op.drop_table("incident_events")
    op.drop_table("incident_alerts")
    op.drop_table("incidents")
