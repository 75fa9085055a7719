"""Feedback: the investigation answers posted in Slack, the actions each proposed, people's "Right cause?" votes,
and the autonomy level feedback (or a person) set for an action.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "answers",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("at", _TS, nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("message_ts", sa.Text),
        sa.Column("thread_ts", sa.Text),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("answered_by", sa.String(16), nullable=False),
        sa.Column("engine", sa.Text, nullable=False),
        sa.Column("model", sa.Text),
        sa.Column("insufficient", sa.Boolean, nullable=False),
        sa.Column("top_confidence", sa.Float),
        sa.Column("top_calibrated", sa.Float),
        sa.Column("calibration", sa.Text),
        sa.Column("hypotheses", _JSON, nullable=False),
    )
    op.create_index("ix_answers_at", "answers", ["at"])
    op.create_table(
        "answer_actions",
        sa.Column("answer_id", sa.String(64), primary_key=True),
        sa.Column("request_id", sa.String(64), primary_key=True),
        sa.Column("action", sa.String(100), nullable=False),
    )
    op.create_index("ix_answer_actions_action", "answer_actions", ["action"])
    op.create_table(
        "feedback",
        sa.Column("answer_id", sa.String(64), primary_key=True),
        sa.Column("voter", sa.String(64), primary_key=True),
        sa.Column("verdict", sa.String(8), nullable=False),
        sa.Column("real_cause", sa.Text),
        sa.Column("at", _TS, nullable=False),
        sa.Column("votes", sa.Integer, nullable=False),
    )
    op.create_table(
        "autonomy_overrides",
        sa.Column("action", sa.String(100), primary_key=True),
        sa.Column("level", sa.String(8)),
        sa.Column("set_by", sa.Text),
        sa.Column("set_at", _TS, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("data", _JSON, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("autonomy_overrides")
    op.drop_table("feedback")
    op.drop_table("answer_actions")
    op.drop_table("answers")
