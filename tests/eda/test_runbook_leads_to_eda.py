"""The shipped runbook `pool-exhausted-restart` against the sandbox (payments-api cannot get pool connections in
checkout-bad-deploy): it finds the pool waits and offers `eda.event` for approval, previewing the event and sending
nothing; without Event-Driven Ansible configured, the offer says which settings to set."""

from __future__ import annotations

from sre_bot.config import Config
from sre_bot.runbooks.loader import load_runbooks
from tests.eda.conftest import Rulebook, eda_env
from tests.eda.test_backend_rulebook import recorded_before_marker
from tests.runbooks._support import SHIPPED, run, sandbox_deps, statuses


def test_the_runbook_is_shipped_valid_and_offers_the_eda_fix() -> None:
    """It loads with no config at all, and its remediation is the example rulebook's cause and fix."""
    rb = load_runbooks(SHIPPED, Config())["pool-exhausted-restart"]
    [remedy] = rb.remediation
    assert (remedy.action, remedy.args) == ("eda.event", {"service": "$service", "cause": "connection_pool_exhausted",
                                                          "fix": "restart_deployment"})


async def test_the_pool_waits_are_found_and_the_event_is_offered_not_sent(rulebook: Rulebook) -> None:
    """Alerting and pool waits are findings (quoted), the caller's deploy is named; the remediation is a pending
    eda.event request whose pinned event names payments-api and the cause; the rulebook receives nothing."""
    async with sandbox_deps("checkout-bad-deploy", env=eda_env(rulebook)) as (sb, deps):
        state = await run(deps, "pool-exhausted-restart", "payments-api")
        assert statuses(state) == {"alerting": "finding", "pool_waits": "finding", "recent_deploy": "finding"}
        pool = next(s for s in state.steps if s.step.id == "pool_waits")
        assert any("could not obtain connection from pool" in repr(e) for e in pool.evidence)
        [remedy] = state.remedies
        assert remedy.kind == "approve" and remedy.request is not None
        req = remedy.request
        assert (req.action, req.status) == ("eda.event", "pending")
        event = req.args["event"]
        assert (event["service"], event["cause"], event["fix"], event["request_id"]) == (
            "payments-api", "connection_pool_exhausted", "restart_deployment", req.id)
        assert req.source["kind"] == "runbook" and req.evidence_ids
    assert all(e["payload"].get("request_id") != req.id for e in await recorded_before_marker(rulebook))


async def test_without_eda_the_offer_names_the_settings() -> None:
    """SRE_BOT_EDA_URL unset: the run still reports its findings; the remedy is refused with the settings to set."""
    async with sandbox_deps("checkout-bad-deploy") as (sb, deps):
        state = await run(deps, "pool-exhausted-restart", "payments-api")
        assert statuses(state)["pool_waits"] == "finding"
        [remedy] = state.remedies
        assert remedy.request is None and "SRE_BOT_EDA_URL" in (remedy.note or "")
