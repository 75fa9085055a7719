"""The watcher with Prometheus down: the sync is not recorded as judged while it can still be retried, and its
verdict on what could be read (the logs) is recorded, with its gaps, once the retry time has passed."""

from __future__ import annotations

import tempfile
from datetime import timedelta

from sre_bot.clock import frozen_clock
from sre_bot.compose import open_deps
from sre_bot.deploys.watcher import RETRY_FOR, DeployWatcher
from sre_bot.sandbox import Sandbox, load_scenario
from sre_bot.settings import load_settings
from tests.fakes import free_port


async def test_a_failed_backend_is_retried_then_recorded_unknown():
    """checkout's sync with Prometheus unreachable: nothing recorded at +6 min; after wait + RETRY_FOR the verdict
    from the logs alone (at most `suspicious`) is recorded with the gap."""
    async with Sandbox(load_scenario("checkout-bad-deploy")) as sb:
        sync = sb.world.anchor_dt - timedelta(minutes=25)
        with tempfile.TemporaryDirectory() as tmp:
            env = {**sb.urls.as_env(), "PROMETHEUS_URL": f"http://127.0.0.1:{free_port()}",
                   "SRE_BOT_DB_URL": f"sqlite+aiosqlite:///{tmp}/db"}
            settings = load_settings(None, **env)
            async with open_deps(settings, config=sb.config, clock=frozen_clock(sync + timedelta(minutes=6)),
                                 use_store=True) as deps:
                assert await DeployWatcher(deps, holder="a").step() == []
                assert await deps.store.verdicts.latest() == []
            later = sync + timedelta(minutes=5) + RETRY_FOR + timedelta(minutes=1)
            async with open_deps(settings, config=sb.config, clock=frozen_clock(later), use_store=True) as deps:
                [check] = await DeployWatcher(deps, holder="a").step()
                [stored] = await deps.store.verdicts.latest()
    assert check.app == "checkout" and stored.verdict in ("unknown", "suspicious") and stored.doc["gaps"]
    assert not any(f["status"] == "worse" for f in stored.doc["signals"])
