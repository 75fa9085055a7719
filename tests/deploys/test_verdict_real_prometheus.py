"""The deploy check's queries against a real Prometheus holding the scenario's history (backfilled with promtool):
the verdicts come from what real PromQL returns (rates over counters, histogram quantiles), not the simulator."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from sre_bot.clock import frozen_clock
from sre_bot.compose import open_deps
from sre_bot.sandbox import Sandbox, load_scenario, to_openmetrics
from sre_bot.services.deploy_check import check_deploy
from sre_bot.settings import load_settings


async def _check(real_prometheus, scenario: str, app: str):
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0) - timedelta(minutes=1)
    sc = load_scenario(scenario)
    prom = real_prometheus(to_openmetrics(sc, start=now - timedelta(minutes=100), end=now))
    async with Sandbox(sc, now=now, clock=frozen_clock(now)) as sb:
        env = {**sb.urls.as_env(), "PROMETHEUS_URL": prom}
        async with open_deps(load_settings(None, **env), config=sb.config, clock=frozen_clock(now)) as deps:
            return prom, await check_deploy(deps, app)


@pytest.mark.prometheus
async def test_a_bad_deploy_is_bad_on_real_promql(real_prometheus):
    """checkout's bad deploy, judged 25 min later from a real Prometheus: `bad`, error ratio and latency worse,
    each signal's evidence linking to that Prometheus."""
    prom, check = await _check(real_prometheus, "checkout-bad-deploy", "checkout")
    assert check.verdict.verdict == "bad", check.verdict.reasons
    worse = {f.signal for f in check.verdict.worse if f.service == "checkout"}
    assert {"error_ratio", "latency_p95"} <= worse
    error = next(f for f in check.verdict.signals if f.service == "checkout" and f.signal == "error_ratio")
    assert error.before_median is not None and error.before_median < 0.01
    # rate(...[5m]) still averages in minutes from before the sync: lower than the simulator's 8%, above the floor
    assert error.after_median is not None and error.after_median > 0.012 and error.after_n >= 5
    assert all(e.url and e.url.startswith(prom) for e in check.evidence if e.kind == "signal" and e.status == "ok")


@pytest.mark.prometheus
async def test_a_red_herring_deploy_is_not_bad_on_real_promql(real_prometheus):
    """The frontend deploy after search-index's slowdown began is not `bad` on real PromQL either."""
    _, check = await _check(real_prometheus, "red-herring-deploy-after-onset", "frontend")
    assert check.verdict.verdict in ("suspicious", "healthy"), check.verdict.reasons
