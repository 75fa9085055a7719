"""Incident memory (`cases`: confirmed causes, their fingerprints and fixes) and bad-change detection
(`deploy_verdicts`: one verdict per completed Argo CD sync).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("occurred_at", _TS, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("service", sa.Text, nullable=False),
        sa.Column("cause_kind", sa.String(32), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("source", _JSON, nullable=False),
        sa.Column("fingerprint", _JSON, nullable=False),
        sa.Column("fix", _JSON),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_index("ix_cases_service", "cases", ["service"])
    op.create_index("ix_cases_occurred_at", "cases", ["occurred_at"])
    op.create_table(
        "deploy_verdicts",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("app", sa.Text, nullable=False),
        sa.Column("service", sa.Text),
        sa.Column("revision", sa.Text, nullable=False),
        sa.Column("synced_at", _TS, nullable=False),
        sa.Column("checked_at", _TS, nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("doc", _JSON, nullable=False),
        sa.Column("request_id", sa.String(64)),
        sa.Column("channel", sa.Text),
        sa.Column("message_ts", sa.Text),
    )
    op.create_index("ix_deploy_verdicts_app_synced", "deploy_verdicts", ["app", "synced_at"], unique=True)
    op.create_index("ix_deploy_verdicts_checked_at", "deploy_verdicts", ["checked_at"])


def downgrade() -> None:
    op.drop_table("deploy_verdicts")
    op.drop_table("cases")
