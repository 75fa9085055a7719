"""A step whose backend is down is marked failed, said plainly, and the run goes on where it can: steps that do
not depend on it still run, steps that `need` it are skipped, and the outcome says the answer is incomplete."""

from __future__ import annotations

from sre_bot.runbooks.report import run_reply
from tests.fakes import free_port
from tests.runbooks._support import audit_records, run, sandbox_deps, statuses


def _down() -> str:
    return f"http://127.0.0.1:{free_port()}"


async def test_loki_down_fails_one_step_and_the_cause_is_still_found():
    """With Loki unreachable the log step fails; the metric and Argo CD steps still find checkout's bad deploy."""
    async with sandbox_deps("checkout-bad-deploy", env={"LOKI_URL": _down()}) as (_, deps):
        state = await run(deps, "high-error-rate-after-deploy", "checkout")
        assert statuses(state) == {"error_ratio": "finding", "error_logs": "failed", "recent_deploy": "finding",
                                   "other_deploys": "skipped"}
        failed = state.by_id("error_logs")
        assert failed.interpretation.startswith("could not check: loki: Loki at http://127.0.0.1:")
        assert "unreachable (connection refused)" in failed.interpretation and failed.evidence[0].status == "error"
        assert state.outcome == "cause_found" and [r.kind for r in state.remedies] == ["approve"]
        reply = run_reply(state)
        assert reply.summary.endswith("(1 step(s) could not check)")
        [gap] = reply.gaps
        assert "unreachable" in gap and gap.endswith("— Error lines in the service's logs not checked")
        steps = [r for r in await audit_records(deps, state.id) if r.kind == "runbook_step"]
        assert [r.data["status"] for r in steps] == ["finding", "failed", "finding", "skipped"]


async def test_prometheus_down_skips_the_steps_that_need_it_and_runs_the_rest():
    """With Prometheus down the error-ratio step fails, the two steps that need it are skipped (saying why), and the
    log step still runs; no root cause is claimed and nothing is offered."""
    async with sandbox_deps("checkout-bad-deploy", env={"PROMETHEUS_URL": _down()}) as (_, deps):
        state = await run(deps, "high-error-rate-after-deploy", "checkout")
        assert statuses(state) == {"error_ratio": "failed", "error_logs": "finding", "recent_deploy": "skipped",
                                   "other_deploys": "skipped"}
        assert state.by_id("recent_deploy").interpretation == (
            "skipped: it needs `error_ratio` to be a finding, and that step failed")
        assert state.outcome == "findings" and state.remedies == []


async def test_argo_cd_down_means_no_root_cause_and_no_remediation():
    """db-connection-pool with Argo CD down: the pool is seen exhausted, but who changed cannot be read, so the
    run ends with findings, says the check failed, and offers no rollback."""
    async with sandbox_deps("checkout-bad-deploy", env={"ARGOCD_URL": _down()}) as (sb, deps):
        state = await run(deps, "db-connection-pool", "payments-db")
        assert statuses(state) == {"pool_alert": "finding", "connections": "finding", "refused": "finding",
                                   "upstream": "failed"}
        assert "Argo CD" in state.by_id("upstream").interpretation
        assert state.outcome == "findings" and state.remedies == [] and not sb.world.operations
        assert await deps.store.pending(deps.clock()) == []
