"""A run's message stays within Slack's limits: every step keeps its line, findings keep their evidence first, and
the remediation is never the part cut off."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from sre_bot.models import Evidence
from sre_bot.runbooks.model import Runbook
from sre_bot.runbooks.run import RemedyRun, new_run
from sre_bot.slack.runbook_blocks import run_blocks


def _evidence(i: int, j: int) -> Evidence:
    return Evidence(id=f"ev-{i}-{j}", source="prometheus", kind="query", label=f"check {i}", query=f"up{{i='{i}'}}",
                    quote=f"value {i}.{j}")


def test_a_fifteen_step_run_fits_in_one_message_with_its_remediation():
    """Fifteen steps with three evidence items each: ≤ 50 blocks, every step listed, findings' evidence shown,
    the remediation line present, and the rest counted as left to the audit."""
    steps = [{"id": f"s{i}", "title": f"Check {i}", "tool": "promql", "params": {"query": "up"}, "when": "value > 1"}
             for i in range(15)]
    rb = Runbook.model_validate({"name": "big", "title": "Big", "steps": steps,
                                 "remediation": [{"action": "argocd.rollback", "args": {"service": "$service"},
                                                  "reason": "because"}]})
    state = new_run(rb, "checkout", requested_by="W1", now=datetime(2026, 11, 21, tzinfo=timezone.utc))
    for i, sr in enumerate(state.steps):
        sr.status = "finding" if i in (3, 9) else "ok"
        sr.evidence = [_evidence(i, j) for j in range(3)]
        sr.interpretation = "read"
    state.outcome, state.cause, state.cause_step = "cause_found", "it broke", "s9"
    state.remedies = [RemedyRun("argocd.rollback", "argocd.rollback(service=checkout)", "suggest", note="no approvers")]
    _, blocks = run_blocks(state)
    text = json.dumps(blocks, ensure_ascii=False)
    assert len(blocks) <= 50 and "more blocks not shown" not in text
    assert all(f"{i + 1}. Check {i} —" in text for i in range(15))
    assert all(f"value {i}.{j}" in text for i in (3, 9) for j in range(3))
    assert "argocd.rollback(service=checkout) — suggested only: no approvers" in text
    assert "more evidence item(s) in the audit" in text
