"""Each shipped runbook against the sandbox: a scenario where it should find the cause (and offer the fix for
approval, executing nothing) and one where it should find nothing (and offer nothing)."""

from __future__ import annotations

import pytest

from tests.runbooks._support import audit_records, run, sandbox_deps, statuses

CAUSE_FOUND = [
    ("high-error-rate-after-deploy", "checkout-bad-deploy", "checkout",
     {"error_ratio": "finding", "error_logs": "finding", "recent_deploy": "finding", "other_deploys": "skipped"},
     "checkout", "the deploy is the likely cause"),
    ("db-connection-pool", "checkout-bad-deploy", "payments-db",
     {"pool_alert": "finding", "connections": "finding", "refused": "finding", "upstream": "finding"},
     "checkout", "likely source of the extra connections"),
    ("pod-crash-loop", "inventory-oom", "inventory",
     {"crash_alert": "finding", "health": "finding", "targets_down": "finding", "recent_deploy": "finding",
      "oom": "finding", "memory_growth": "skipped", "crash_logs": "skipped"},
     "inventory", "runs out of memory"),
]

NOTHING_FOUND = [
    ("high-error-rate-after-deploy", "shop-api",
     {"error_ratio": "ok", "error_logs": "ok", "recent_deploy": "skipped", "other_deploys": "skipped"}),
    ("db-connection-pool", "shop-db",
     {"pool_alert": "ok", "connections": "ok", "refused": "ok", "upstream": "skipped"}),
    ("pod-crash-loop", "shop-api",
     {"crash_alert": "ok", "health": "ok", "targets_down": "ok", "recent_deploy": "ok", "oom": "ok",
      "memory_growth": "ok", "crash_logs": "ok"}),
]


@pytest.mark.parametrize("runbook, scenario, service, expected, rollback, cause", CAUSE_FOUND,
                         ids=[c[0] for c in CAUSE_FOUND])
async def test_the_runbook_finds_the_cause_and_offers_the_fix_for_approval(runbook, scenario, service, expected,
                                                                           rollback, cause):
    """Every step runs read-only and is judged by its condition; the stop step ends the run with the root cause;
    the remediation becomes a pending approval request (nothing executed) citing the run's evidence."""
    async with sandbox_deps(scenario) as (sb, deps):
        state = await run(deps, runbook, service)
        assert statuses(state) == expected
        assert state.outcome == "cause_found" and cause in (state.cause or "")
        [remedy] = state.remedies
        assert remedy.kind == "approve" and remedy.request is not None
        req = remedy.request
        assert (req.action, req.args["service"], req.status) == ("argocd.rollback", rollback, "pending")
        assert req.source == {"kind": "runbook", "runbook": runbook, "digest": state.runbook.digest,
                              "run_id": state.id, "found": sorted(k for k, v in expected.items() if v == "finding")}
        finding_ids = {e.id for s in state.findings for e in s.evidence}
        assert req.evidence_ids and set(req.evidence_ids) <= finding_ids
        assert any(e.kind == "deploy" and e.service == rollback and e.id in req.evidence_ids
                   for s in state.findings for e in s.evidence)
        assert not sb.world.operations  # offered, never executed
        for sr in state.steps:
            if sr.status == "finding":
                assert sr.interpretation.startswith(f"`{sr.step.when}` holds (") and sr.evidence
        records = await audit_records(deps, state.id)
        assert [r.kind for r in records] == ["runbook_started", *["runbook_step"] * len(expected), "runbook_finished"]
        assert records[1].data["evidence_ids"] == [e.id for e in state.steps[0].evidence]
        assert records[-1].data["remedies"] == [{"action": remedy.describe, "kind": "approve", "note": None,
                                                 "request_id": req.id}]
        [suggested] = [r for r in await deps.store.latest(50) if r.kind == "suggested"]
        assert suggested.request_id == req.id and suggested.data["trigger"]["run_id"] == state.id


@pytest.mark.parametrize("runbook, service, expected", NOTHING_FOUND, ids=[c[0] for c in NOTHING_FOUND])
async def test_the_runbook_finds_nothing_in_a_quiet_shop(runbook, service, expected):
    """On a healthy service every check reads normal: no finding, no root cause, nothing offered."""
    async with sandbox_deps("quiet-shop") as (_, deps):
        state = await run(deps, runbook, service)
        assert statuses(state) == expected
        assert state.outcome == "nothing_found" and state.cause is None and state.remedies == []
        assert await deps.store.pending(deps.clock()) == []
        skipped = [s for s in state.steps if s.status == "skipped"]
        assert all("needs `" in s.interpretation for s in skipped)
        assert all(s.evidence and "does not hold" in s.interpretation for s in state.steps if s.status == "ok")
