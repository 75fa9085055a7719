"""The deploy check service against the sandbox: an early check says so and is not recorded, a sync seconds old is
refused, an older deploy than the current one is judged but never rolled back."""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta

import pytest

from sre_bot.clock import frozen_clock
from sre_bot.compose import open_deps
from sre_bot.errors import UsageError
from sre_bot.sandbox import Sandbox, load_scenario
from sre_bot.services.deploy_check import check_deploy, check_reply, propose_rollback, record_check
from sre_bot.settings import load_settings


async def _at(sb: Sandbox, when: datetime, tmp: str):
    env = {**sb.urls.as_env(), "SRE_BOT_DB_URL": f"sqlite+aiosqlite:///{tmp}/db"}
    return open_deps(load_settings(None, **env), config=sb.config, clock=frozen_clock(when), use_store=True)


async def test_early_check_refused_then_partial_then_recorded_once():
    """30 s after checkout's sync: refused; 2 min after: judged on what there is, said in the reply, not complete;
    after the wait: complete, recorded once."""
    async with Sandbox(load_scenario("checkout-bad-deploy")) as sb:
        sync = sb.world.anchor_dt - timedelta(minutes=25)
        with tempfile.TemporaryDirectory() as tmp:
            async with await _at(sb, sync + timedelta(seconds=30), tmp) as deps:
                with pytest.raises(UsageError, match="ask again after"):
                    await check_deploy(deps, "checkout", revision="4f1c2e9")
            async with await _at(sb, sync + timedelta(minutes=2), tmp) as deps:
                early = await check_deploy(deps, "checkout", revision="4f1c2e9")
                reply = check_reply(early)
            async with await _at(sb, sync + timedelta(minutes=6), tmp) as deps:
                full = await check_deploy(deps, "checkout", revision="4f1c2e9")
                first = await record_check(deps, full)
                again = await record_check(deps, await check_deploy(deps, "checkout", revision="4f1c2e9"))
    assert not early.complete and "watcher gives its verdict at" in ((reply.summary or "") + "\n" + (reply.text or ""))
    assert full.complete and full.verdict.verdict == "bad"
    assert first is not None and again is None


async def test_an_older_deploy_is_judged_but_never_rolled_back():
    """checkout's previous deploy (2 days ago, no data around it) is `unknown` and not current: no proposal."""
    async with Sandbox(load_scenario("checkout-bad-deploy")) as sb:
        with tempfile.TemporaryDirectory() as tmp:
            async with await _at(sb, sb.world.anchor_dt, tmp) as deps:
                old = await check_deploy(deps, "checkout", revision="9a1d3c5")
                proposed = await propose_rollback(deps, old, channel="C1")
    assert not old.current and old.verdict.verdict == "unknown" and proposed is None
