"""The shipped runbooks' PromQL against a real Prometheus (the scenario's history backfilled with promtool), so a
step's query and its values are what real PromQL gives, not only what the simulator matches."""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta, timezone

import pytest

from sre_bot.clock import frozen_clock
from sre_bot.compose import open_deps
from sre_bot.sandbox import Sandbox, to_openmetrics
from sre_bot.settings import load_settings
from tests.runbooks._support import bot_config, run, scenario, statuses


@pytest.mark.prometheus
async def test_the_shipped_runbooks_read_real_promql(real_prometheus):
    """With a real Prometheus behind the bot, the error-ratio and connection steps read the same plateau and the
    two runbooks reach the same findings and root cause as on the simulator."""
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0) - timedelta(minutes=1)
    sc = scenario("checkout-bad-deploy")
    prom = real_prometheus(to_openmetrics(sc, start=now - timedelta(minutes=90), end=now))
    async with Sandbox(sc, now=now, clock=frozen_clock(now)) as sb:
        with tempfile.TemporaryDirectory(prefix="sre-bot-rb-") as tmp:
            env = {**sb.urls.as_env(), "PROMETHEUS_URL": prom, "SRE_BOT_DB_URL": f"sqlite+aiosqlite:///{tmp}/db"}
            async with open_deps(load_settings(None, **env), config=bot_config(sb.config), clock=frozen_clock(now),
                                 use_store=True) as deps:
                errors = await run(deps, "high-error-rate-after-deploy", "checkout")
                pool = await run(deps, "db-connection-pool", "payments-db")
    assert statuses(errors) == {"error_ratio": "finding", "error_logs": "finding", "recent_deploy": "finding",
                                "other_deploys": "skipped"}
    ratio = errors.by_id("error_ratio").values
    assert 0.1 < ratio["value"] < 0.25 and ratio["first"] < 0.01 and ratio["series"] == 1
    assert errors.by_id("error_ratio").evidence[0].url.startswith(prom + "/graph?g0.expr=")
    assert statuses(pool) == {"pool_alert": "finding", "connections": "finding", "refused": "finding",
                              "upstream": "finding"}
    connections = pool.by_id("connections").values
    assert connections["value"] >= 190 and connections["first"] < 60
    assert errors.outcome == pool.outcome == "cause_found"
    assert [r.describe for r in pool.remedies] == ["argocd.rollback(service=checkout)"]
