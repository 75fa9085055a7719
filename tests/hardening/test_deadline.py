"""Issue 14 item 6: a stuck backend never holds an answer past one overall deadline (SRE_BOT_ANSWER_DEADLINE).

The bot runs for real (signed Slack requests over HTTP, the fake Slack Web API, the sandbox shop for the healthy
systems) and the stuck system is a real TCP server that accepts and never answers, or answers a byte a second.
The per-call timeout stays at its default (10 s) and the deadline is 4 s: before the fix, `/sre status` took the
per-call timeout and a mention a multiple of it (the Prometheus calls queued on asyncio's six default threads).
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from sre_bot.sandbox import Sandbox
from tests.fakes.slack_api import BOT_USER_ID, FakeSlack
from tests.hardening._stuck import StuckServer
from tests.harness import running_bot
from tests.slack_signing import app_mention, slash_command

DEADLINE = 4.0
MARGIN = 3.0  # rendering, posting to the fake Slack, a shared two-core machine


def _text(call: Any) -> str:
    out = [call.args.get("text") or ""]
    for b in call.args.get("blocks") or []:
        if isinstance(b.get("text"), dict):
            out.append(b["text"]["text"])
        for e in b.get("elements", []):
            t = e.get("text", "")
            out.append(t if isinstance(t, str) else t.get("text", ""))
    return "\n".join(out).replace("&quot;", '"')


def _env(shop: Sandbox, **stuck: str) -> dict[str, str]:
    return {**shop.urls.as_env(), **stuck, "SRE_BOT_ANSWER_DEADLINE": f"{DEADLINE:g}"}


async def _status(fake: FakeSlack, shop: Sandbox, **stuck: str) -> tuple[float, str]:
    """`/sre status checkout` through the running bot: seconds until the answer reached Slack, and its text."""
    async with running_bot(fake_slack := fake, config=shop.config, **_env(shop, **stuck)) as bot:
        started = time.time()
        resp = await bot.post(slash_command(text="status checkout 30m", response_url=fake_slack.response_url()))
        assert resp.status_code == 200
        [call] = await fake.wait_for("response_url", timeout=60)
    return call.at - started, _text(call)


async def _mention(fake: FakeSlack, shop: Sandbox, question: str, **stuck: str) -> tuple[float, str]:
    """A signed mention through the running bot: seconds until the answer replaced "looking…", and its text."""
    async with running_bot(fake, config=shop.config, **_env(shop, **stuck)) as bot:
        started = time.time()
        await bot.post(app_mention(f"<@{BOT_USER_ID}> {question}", channel="C7"))
        [update] = await fake.wait_for("chat.update", timeout=90)
    return update.at - started, _text(update)


async def test_status_with_a_silent_prometheus_answers_within_the_deadline(fake_slack: FakeSlack, shop: Sandbox):
    """`/sre status` with a Prometheus that accepts and never answers comes back within the deadline, names
    Prometheus as silent, and still shows the alert, the Argo CD state and the error logs."""
    with StuckServer("silent") as prom:
        took, text = await _status(fake_slack, shop, PROMETHEUS_URL=prom.url)
    assert took < DEADLINE + MARGIN, f"answered after {took:.1f}s"
    assert f"Prometheus at {prom.url} did not answer within" in text
    assert "HighErrorRate" in text and "health Degraded" in text and "timeout calling payments-api" in text


async def test_status_with_silent_loki_and_dripping_argocd_shows_prometheus(fake_slack: FakeSlack, shop: Sandbox):
    """With Loki silent and Argo CD sending its answer a byte a second, `/sre status` still answers within the
    deadline, names both, and shows the golden signals from Prometheus."""
    with StuckServer("silent") as loki, StuckServer("slow") as argo:
        took, text = await _status(fake_slack, shop, LOKI_URL=loki.url, ARGOCD_URL=argo.url)
    assert took < DEADLINE + MARGIN, f"answered after {took:.1f}s"
    assert f"Loki at {loki.url} did not answer within" in text
    assert f"Argo CD at {argo.url} did not answer within" in text
    assert "checkout error ratio" in text and "HighErrorRate" in text


async def test_mention_with_a_silent_prometheus_answers_within_the_deadline(fake_slack: FakeSlack, shop: Sandbox):
    """A mention asking why checkout is slow, with Prometheus silent, is answered within the deadline: the gap
    names Prometheus once, and what Loki showed (the new error template) is still in the answer."""
    with StuckServer("silent") as prom:
        took, text = await _mention(fake_slack, shop, "why is checkout slow?", PROMETHEUS_URL=prom.url)
    assert took < DEADLINE + MARGIN, f"answered after {took:.1f}s"
    assert text.count(f"Prometheus at {prom.url} did not answer within") == 1
    assert "log template change" in text


async def test_mention_with_a_dripping_prometheus_answers_within_the_deadline(fake_slack: FakeSlack, shop: Sandbox):
    """A Prometheus that answers a byte a second (so no socket read ever times out) is cut at the deadline too."""
    with StuckServer("slow") as prom:
        took, text = await _mention(fake_slack, shop, "why is checkout slow?", PROMETHEUS_URL=prom.url)
    assert took < DEADLINE + MARGIN, f"answered after {took:.1f}s"
    assert f"Prometheus at {prom.url} did not answer within" in text
    assert "log template change" in text


async def test_mention_with_silent_loki_and_argocd_still_ranks_from_prometheus(fake_slack: FakeSlack, shop: Sandbox):
    """With Loki and Argo CD silent, the mention is answered within the deadline from Prometheus's signals, and
    the answer names both silent systems."""
    with StuckServer("silent") as loki, StuckServer("silent") as argo:
        took, text = await _mention(fake_slack, shop, "why is checkout slow?", LOKI_URL=loki.url, ARGOCD_URL=argo.url)
    assert took < DEADLINE + MARGIN, f"answered after {took:.1f}s"
    assert "rose" in text and "checkout" in text
    assert f"Loki at {loki.url} did not answer within" in text
    assert f"Argo CD at {argo.url} did not answer within" in text


async def test_stuck_queries_do_not_starve_readiness_or_dns(fake_slack: FakeSlack, shop: Sandbox):
    """While investigations wait on a Prometheus whose queries hang (its health endpoint still answers), `/readyz`
    answers at once and says Prometheus is reachable, a DNS lookup on the bot's loop is not queued behind them,
    and the Prometheus worker threads stay within SRE_BOT_PROMETHEUS_THREADS."""
    with StuckServer("queries_hang") as prom:
        env = {**_env(shop, PROMETHEUS_URL=prom.url), "SRE_BOT_PROMETHEUS_THREADS": "8"}
        async with running_bot(fake_slack, config=shop.config, **env) as bot:
            for i in range(3):
                await bot.post(app_mention(f"<@{BOT_USER_ID}> why is checkout slow?", channel=f"C{i}"))
            end = time.monotonic() + DEADLINE / 2
            while prom.connections < 8 and time.monotonic() < end:  # wait until every worker is stuck on a query
                await asyncio.sleep(0.05)
            assert prom.connections >= 8
            started = time.monotonic()
            ready = await bot.http.get("/readyz")
            readyz_took = time.monotonic() - started
            started = time.monotonic()
            await asyncio.wait_for(asyncio.get_running_loop().getaddrinfo("localhost", 80), 2.0)
            dns_took = time.monotonic() - started
            workers = [t for t in threading.enumerate() if t.name.startswith("prometheus_")]
            updates = await fake_slack.wait_for("chat.update", count=3, timeout=DEADLINE + 3 * MARGIN)
    assert readyz_took < 2.0 and ready.status_code == 200, (readyz_took, ready.text)
    assert ready.json()["backends"]["prometheus"]["ok"] is True
    assert dns_took < 1.0
    assert 0 < len(workers) <= 8
    assert all("did not answer within" in _text(u) for u in updates)


@pytest.mark.parametrize("mode", ["silent", "slow"])
async def test_a_silent_system_is_asked_once_per_answer(fake_slack: FakeSlack, shop: Sandbox, mode: str):
    """Once Prometheus has not answered, the rest of the same answer does not ask it again: the mention opens a
    handful of connections (the first wave of queries), not one per query of every service in scope."""
    with StuckServer(mode) as prom:  # type: ignore[arg-type]
        took, _ = await _mention(fake_slack, shop, "what is wrong?", PROMETHEUS_URL=prom.url)
        asked = prom.connections
    assert took < DEADLINE + MARGIN
    assert asked <= 20  # discovery (3) and one wave of the 16 workers, out of ~70 queries
