"""The action catalog: names, typed arguments, risk metadata, and what evidence a suggestion needs."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from sre_bot.actions.catalog import CATALOG, catalog_summary, validate_action
from sre_bot.errors import UsageError
from sre_bot.models import Evidence

T = datetime(2026, 11, 20, 4, 0, tzinfo=timezone.utc)
DEPLOY = Evidence(id="d1", source="argocd", kind="deploy", label="l", query="q", quote="#7 revision abc", service="api",
                  data={"deployed_at": T.isoformat()})
ANOMALY = Evidence(id="a1", source="prometheus", kind="anomaly", label="l", query="q", quote="p95 rose", service="api")
EV = {e.id: e for e in (DEPLOY, ANOMALY)}
NAMES = {"api": "api"}


def _v(name: str, args: dict, ids=("d1", "a1"), **kw):
    return validate_action(name, args, reason="r", evidence_ids=list(ids), evidence=EV, services=NAMES, **kw)


def test_every_action_declares_risk_reversibility_and_blast_radius():
    """Each catalog entry says how risky it is, whether it can be undone and what it touches."""
    for spec in CATALOG.values():
        assert spec.risk in ("low", "medium", "high") and isinstance(spec.reversible, bool) and spec.blast_radius
    assert "argocd.rollback(service, to_history_id?, away_from?)" in catalog_summary()


def test_sync_revision_must_look_like_a_revision():
    """A revision with spaces or shell characters does not validate."""
    assert _v("argocd.sync", {"service": "api", "revision": "3f2a9c1"}).args["revision"] == "3f2a9c1"
    with pytest.raises(UsageError, match="revision"):
        _v("argocd.sync", {"service": "api", "revision": "main; rm -rf /"})


def test_webhook_must_be_configured():
    """A webhook is named from the configured ones only."""
    with pytest.raises(UsageError, match="none are configured"):
        _v("webhook", {"name": "restart-all"})
    assert _v("webhook", {"name": "eda-restart", "service": "api"}, webhooks={"eda-restart"}).service == "api"


def test_restart_kind_is_limited():
    """Only Deployments and StatefulSets can be restarted."""
    with pytest.raises(UsageError, match="kind"):
        _v("argocd.restart", {"service": "api", "kind": "Namespace"})
