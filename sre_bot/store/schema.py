"""The tables, as SQLAlchemy Core: what the code reads and writes. The migrations create exactly this.

`tests/store/test_migrations.py` compares this metadata with a database the migrations built, so a column added
here without a migration (or the reverse) fails a test. Bounded strings are only those `records.py` validates (ids,
statuses, kinds); everything else is `Text`, so a long value never fails on PostgreSQL after passing on SQLite.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect

__all__ = ["metadata", "action_requests", "audit", "flags", "seen_events", "alert_inbox", "incidents",
           "incident_alerts", "incident_events", "leases", "UTCDateTime", "JSONDoc",
           "answers", "answer_actions", "feedback", "autonomy_overrides", "conversations", "cases",
           "deploy_verdicts", "pages", "escalations"]

metadata = MetaData()

# JSON on SQLite (text), JSONB on PostgreSQL (queryable later without a rewrite).
JSONDoc = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on both backends.

    SQLite stores `DateTime` as text without a zone, compared as strings: normalising every value to UTC first is
    what makes `expires_at > :now` correct there. PostgreSQL stores `timestamptz`.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


action_requests = Table(
    "action_requests", metadata,
    Column("id", String(64), primary_key=True),
    Column("action", String(100), nullable=False),
    Column("args", JSONDoc, nullable=False),
    Column("preview", Text, nullable=False),
    Column("risk", String(8), nullable=False),
    Column("reversible", Boolean, nullable=False),
    Column("reason", Text, nullable=False),
    Column("evidence_ids", JSONDoc, nullable=False),
    Column("source", JSONDoc, nullable=False),
    Column("requested_by", Text),
    Column("channel", Text, nullable=False),
    Column("thread_ts", Text),
    Column("message_ts", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("status", String(16), nullable=False),
    Column("decided_by", Text),
    Column("decided_by_name", Text),
    Column("decided_at", UTCDateTime),
    Column("reason_rejected", Text),
    Column("started_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    Column("outcome_detail", Text),
    Column("target_response", JSONDoc),
    Column("version", Integer, nullable=False),
    Index("ix_action_requests_status_expires_at", "status", "expires_at"),
)

# Append-only: the migration adds a trigger on each backend that refuses UPDATE and DELETE.
audit = Table(
    "audit", metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("kind", String(40), nullable=False),
    Column("actor", Text),
    Column("request_id", Text),
    Column("summary", Text, nullable=False),
    Column("data", JSONDoc, nullable=False),
    Index("ix_audit_at_id", "at", "id"),
    Index("ix_audit_request_id", "request_id"),
)

flags = Table(
    "flags", metadata,
    Column("name", Text, primary_key=True),
    Column("value", Boolean, nullable=False),
    Column("set_by", Text),
    Column("set_at", UTCDateTime),
)

seen_events = Table(
    "seen_events", metadata,
    Column("key", Text, primary_key=True),
    Column("seen_at", UTCDateTime, nullable=False),
    Index("ix_seen_events_seen_at", "seen_at"),
)

# Alertmanager webhook bodies as accepted (before the 200), then marked when correlated into incidents.
alert_inbox = Table(
    "alert_inbox", metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("received_at", UTCDateTime, nullable=False),
    Column("source", Text, nullable=False),
    Column("body", JSONDoc, nullable=False),
    Column("alerts", Integer, nullable=False),
    Column("processed_at", UTCDateTime),
    Index("ix_alert_inbox_processed_at_id", "processed_at", "id"),
)

# Incidents made from the inbox. `snapshot` is the correlator's whole view (merges, related notes, counts), enough
# with the alerts to restore it after a restart; `version` counts changes, `posted_version` the last one Slack shows.
incidents = Table(
    "incidents", metadata,
    Column("key", String(64), primary_key=True),
    Column("number", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("title", Text, nullable=False),
    Column("root_service", Text),
    Column("started_at", UTCDateTime, nullable=False),
    Column("last_alert_at", UTCDateTime, nullable=False),
    Column("resolved_at", UTCDateTime),
    Column("follows", String(64)),
    Column("snapshot", JSONDoc, nullable=False),
    Column("channel", Text),
    Column("message_ts", Text),
    Column("post_started_at", UTCDateTime),
    Column("investigated_root", Text),
    Column("investigation", JSONDoc),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("version", Integer, nullable=False),
    Column("posted_version", Integer, nullable=False),
    Index("ux_incidents_number", "number", unique=True),
    Index("ix_incidents_status_started_at", "status", "started_at"),
)

# The latest event of each alert of an incident; `announced` is the status last summarised in the Slack thread.
incident_alerts = Table(
    "incident_alerts", metadata,
    Column("incident_key", String(64), primary_key=True),
    Column("fingerprint", String(64), primary_key=True),
    Column("name", Text, nullable=False),
    Column("service", Text),
    Column("status", String(16), nullable=False),
    Column("starts_at", UTCDateTime, nullable=False),
    Column("ends_at", UTCDateTime),
    Column("event", JSONDoc, nullable=False),
    Column("joined_at", UTCDateTime, nullable=False),
    Column("rule", String(16)),
    Column("reason", Text),
    Column("announced", String(16)),
)

# The timeline `/sre incident <n>` shows: opened, joined (rule and reason), resolved, related, posted, investigated.
incident_events = Table(
    "incident_events", metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("incident_key", String(64), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("kind", String(24), nullable=False),
    Column("text", Text, nullable=False),
    Index("ix_incident_events_incident_key_id", "incident_key", "id"),
)

# One named lease per singleton job (the incident processor): whoever holds an unexpired lease does the work; each
# new holder gets a higher `epoch`, and every write it makes checks that the lease is still its own (fencing).
leases = Table(
    "leases", metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", Text, nullable=False),
    Column("epoch", Integer, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)

# Investigation answers posted in Slack, as they were shown (hypotheses with stated and calibrated confidences), and
# the action requests each proposed: the "triggering hypotheses" of an action are the answers that proposed it.
answers = Table(
    "answers", metadata,
    Column("id", String(64), primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Column("channel", Text, nullable=False),
    Column("message_ts", Text),
    Column("thread_ts", Text),
    Column("question", Text, nullable=False),
    Column("answered_by", String(16), nullable=False),
    Column("engine", Text, nullable=False),
    Column("model", Text),
    Column("insufficient", Boolean, nullable=False),
    Column("top_confidence", Float),
    Column("top_calibrated", Float),
    Column("calibration", Text),
    Column("hypotheses", JSONDoc, nullable=False),
    Index("ix_answers_at", "at"),
)

answer_actions = Table(
    "answer_actions", metadata,
    Column("answer_id", String(64), primary_key=True),
    Column("request_id", String(64), primary_key=True),
    Column("action", String(100), nullable=False),
    Index("ix_answer_actions_action", "action"),
)

# "Right cause?": one row per answer and person, overwritten by that person's later vote (the audit keeps each one).
feedback = Table(
    "feedback", metadata,
    Column("answer_id", String(64), primary_key=True),
    Column("voter", String(64), primary_key=True),
    Column("verdict", String(8), nullable=False),
    Column("real_cause", Text),
    Column("at", UTCDateTime, nullable=False),
    Column("votes", Integer, nullable=False),
)

# An action's autonomy as lowered by feedback (or set by a person); `level` NULL: as configured. `set_at` starts the
# window the next step-down is measured on; `version` makes each change a compare-and-set across replicas.
autonomy_overrides = Table(
    "autonomy_overrides", metadata,
    Column("action", String(100), primary_key=True),
    Column("level", String(8)),
    Column("set_by", Text),
    Column("set_at", UTCDateTime, nullable=False),
    Column("reason", Text, nullable=False),
    Column("data", JSONDoc, nullable=False),
    Column("version", Integer, nullable=False),
)

# A Slack thread's conversation with the model (`llm/conversation.py`), as JSON text: `version` makes each save a
# compare-and-set across replicas; rows past `expires_at`, and the least recently updated beyond a cap, are pruned.
conversations = Table(
    "conversations", metadata,
    Column("key", Text, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("payload", Text, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_conversations_expires_at", "expires_at"),
    Index("ix_conversations_updated_at", "updated_at"),
)

# Incident memory: one row per confirmed cause (a "Right cause?" yes, "the real cause was…", or an approved action that
# succeeded and was followed by recovery). `fingerprint` is what a new investigation is compared with (services and
# their anomalous signals with directions, alert names, new log templates, deploys, the cause kind); `fix` the action
# that ran, its approver and outcome, and the time to recovery. `status`: active, or forgotten by a person (the row
# stays, for the audit); `version` makes a correction a compare-and-set.
cases = Table(
    "cases", metadata,
    Column("id", String(64), primary_key=True),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("status", String(16), nullable=False),
    Column("service", Text, nullable=False),
    Column("cause_kind", String(32), nullable=False),
    Column("summary", Text, nullable=False),
    Column("source", JSONDoc, nullable=False),
    Column("fingerprint", JSONDoc, nullable=False),
    Column("fix", JSONDoc),
    Column("version", Integer, nullable=False),
    Index("ix_cases_service", "service"),
    Index("ix_cases_occurred_at", "occurred_at"),
)

# Bad-change detection: one verdict per completed Argo CD sync (app, the sync's time), healthy / suspicious / bad,
# with the statistics and quoted evidence in `doc`; the rollback request it proposed and the message it posted.
deploy_verdicts = Table(
    "deploy_verdicts", metadata,
    Column("id", String(64), primary_key=True),
    Column("app", Text, nullable=False),
    Column("service", Text),
    Column("revision", Text, nullable=False),
    Column("synced_at", UTCDateTime, nullable=False),
    Column("checked_at", UTCDateTime, nullable=False),
    Column("verdict", String(16), nullable=False),
    Column("doc", JSONDoc, nullable=False),
    Column("request_id", String(64)),
    Column("channel", Text),
    Column("message_ts", Text),
    Index("ix_deploy_verdicts_app_synced", "app", "synced_at", unique=True),
    Index("ix_deploy_verdicts_checked_at", "checked_at"),
)

# Escalation (`store/pages.py`): one row per page an incident triggered or was offered (the rule's offer has the id
# `rule:<incident key>`, so an incident is offered once across replicas; a person's page has its request id), with
# its state (offering, requested, triggered, acknowledged, resolved, declined, failed, cancelled, not_offered).
pages = Table(
    "pages", metadata,
    Column("id", String(200), primary_key=True),
    Column("incident_key", Text, nullable=False),
    Column("team", Text, nullable=False),
    Column("provider", String(16), nullable=False),
    Column("dedup_key", Text, nullable=False),
    Column("request_id", String(64)),
    Column("requested_by", Text),
    Column("state", String(16), nullable=False),
    Column("detail", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("triggered_at", UTCDateTime),
    Column("acknowledged_at", UTCDateTime),
    Column("resolved_at", UTCDateTime),
    Index("ix_pages_incident_key", "incident_key"),
    Index("ix_pages_state", "state"),
    Index("ix_pages_request_id", "request_id", unique=True),
)

# An incident's escalation state: who acknowledged it in Slack (the rule stops for it) and the rule's latest decision
# (its timeline gets a line only when that changes).
escalations = Table(
    "escalations", metadata,
    Column("incident_key", Text, primary_key=True),
    Column("acked_by", Text),
    Column("acked_by_name", Text),
    Column("acked_at", UTCDateTime),
    Column("decision", Text),
    Column("decided_at", UTCDateTime),
)
