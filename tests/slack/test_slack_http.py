"""The real Bolt app over signed HTTP: verification, every /sre verb's mechanics, mentions, retries, fast acks."""

from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager

import pytest
from aiohttp import web

from sre_bot.config import BUILTIN_EDGE_METRICS
from tests.fakes import free_port
from tests.fakes.slack_api import BOT_USER_ID, FakeSlack
from tests.harness import running_bot
from tests.slack_signing import app_mention, slash_command, url_verification


@asynccontextmanager
async def stub_prometheus(handler):
    """A local HTTP server answering every /api/v1/* request with `handler`; yields its URL."""
    app = web.Application()
    app.router.add_route("*", "/api/v1/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def fake() -> FakeSlack:
    async with FakeSlack.start() as f:
        yield f


async def test_url_verification_echoes_the_challenge(fake):
    """Slack's handshake gets its challenge back."""
    async with running_bot(fake) as bot:
        resp = await bot.post(url_verification("abc123"))
    assert resp.status_code == 200 and resp.json()["challenge"] == "abc123"


@pytest.mark.parametrize("option", [{"bad_signature": True}, {"stale": True}])
async def test_bad_signature_and_stale_timestamp_are_rejected(fake, option):
    """A forged signature or a replayed (stale) request gets 401 and does nothing."""
    async with running_bot(fake) as bot:
        resp = await bot.post(slash_command(text="help", response_url=fake.response_url()), **option)
        await asyncio.sleep(0.2)
    assert resp.status_code == 401
    assert [c.method for c in fake.calls() if c.method != "auth.test"] == []


async def test_help_is_answered_in_the_ack(fake):
    """`/sre help` comes back in the HTTP response itself, ephemeral, listing every verb."""
    async with running_bot(fake) as bot:
        resp = await bot.post(slash_command(text="help", response_url=fake.response_url()))
    body = resp.json()
    assert resp.status_code == 200 and body["response_type"] == "ephemeral"
    text = str(body["blocks"])
    for verb in ("status", "query", "logs", "deploys"):
        assert f"/sre {verb}" in text


async def test_unknown_verb_gets_a_clear_error(fake):
    """A typo is answered with what to type instead, and nothing else happens."""
    async with running_bot(fake) as bot:
        resp = await bot.post(slash_command(text="stauts checkout", response_url=fake.response_url()))
    assert "unknown command `stauts`" in str(resp.json()) and "/sre help" in str(resp.json())


@pytest.mark.parametrize("text, expected", [
    ("status", "needs a service"),
    ("status checkout 5 parsecs", "takes one service"),
    ("status checkout since the dawn of time", "not a time"),
    ("query", "needs PromQL"),
    ("logs", "needs a service"),
    ("logs checkout \"unclosed", "quote it"),
])
async def test_bad_arguments_are_explained(fake, text, expected):
    """Each malformed command gets an explanation through response_url; nothing is queried."""
    async with running_bot(fake) as bot:
        resp = await bot.post(slash_command(text=text, response_url=fake.response_url()))
        assert resp.status_code == 200
        body = resp.json() if resp.content else {}
        if expected not in str(body):
            [call] = await fake.wait_for("response_url")
            body = call.args
    assert expected in str(body)


@pytest.mark.parametrize("text", ["status checkout", "query up 30m", "logs checkout timeout 2h", "deploys",
                                  "deploys checkout"])
async def test_each_verb_responds_and_says_what_is_not_configured(fake, text):
    """With no backends configured every verb still answers, saying plainly which system is not configured."""
    async with running_bot(fake) as bot:
        resp = await bot.post(slash_command(text=text, response_url=fake.response_url()))
        assert resp.status_code == 200 and "Looking" in resp.text
        [call] = await fake.wait_for("response_url")
    assert call.args["response_type"] == "in_channel"
    assert "not configured" in str(call.args["blocks"])


async def test_slash_command_html_entities_are_unescaped(fake):
    """Slack's `&gt;` in a command arrives at Prometheus as `>`."""
    seen: list[str] = []

    async def query_range(request: web.Request) -> web.Response:
        seen.append((await request.post()).get("query") or request.query.get("query"))
        return web.json_response({"status": "success", "data": {"resultType": "matrix", "result": []}})

    async with stub_prometheus(query_range) as url, running_bot(fake, PROMETHEUS_URL=url) as bot:
        await bot.post(slash_command(text="query up &gt; 0 30m", response_url=fake.response_url()))
        await fake.wait_for("response_url")
    # the incident loop's topology discovery probes the call-graph metrics meanwhile: not the command's queries
    probes = {src.requests for src in BUILTIN_EDGE_METRICS}
    assert [q for q in seen if q not in probes] == ["up > 0"]


async def test_mention_gets_looking_then_an_update_in_the_thread(fake):
    """A mention is answered in its thread: a 'looking…' message first, then chat.update of that message."""
    async with running_bot(fake) as bot:
        body = app_mention(f"<@{BOT_USER_ID}> what can you do?", channel="C9", ts="1700000001.000200")
        resp = await bot.post(body)
        assert resp.status_code == 200
        [post] = await fake.wait_for("chat.postMessage")
        [update] = await fake.wait_for("chat.update")
    assert post.args["thread_ts"] == "1700000001.000200" and "Looking" in post.args["text"]
    assert update.args["ts"] == fake.messages("C9")[0]["ts"]
    assert "/sre status" in str(update.args["blocks"])


async def test_mention_in_a_thread_replies_in_that_thread(fake):
    """A mention inside a thread replies to the thread's parent, not a new thread."""
    async with running_bot(fake) as bot:
        await bot.post(app_mention(f"<@{BOT_USER_ID}> help", ts="1700000002.000300", thread_ts="1700000000.000100"))
        [post] = await fake.wait_for("chat.postMessage")
    assert post.args["thread_ts"] == "1700000000.000100"


async def test_slack_retry_of_the_same_event_is_answered_once(fake):
    """The same event delivered again as a retry produces no second answer."""
    async with running_bot(fake) as bot:
        body = app_mention(f"<@{BOT_USER_ID}> help", event_id="EvRETRY1")
        assert (await bot.post(body)).status_code == 200
        assert (await bot.post(body, retry_num=1)).status_code == 200
        await fake.wait_for("chat.update")
        await asyncio.sleep(0.3)
    assert len(fake.calls("chat.postMessage")) == 1 and len(fake.calls("chat.update")) == 1


async def test_ack_is_fast_even_when_a_backend_is_slow(fake):
    """With a Prometheus that takes 4 s, the slash command is acked well inside Slack's 3 s, the answer comes later."""
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(4)
        return web.json_response({"status": "success", "data": {"resultType": "matrix", "result": []}})

    async with stub_prometheus(slow) as url, running_bot(fake, PROMETHEUS_URL=url) as bot:
        started = time.monotonic()
        resp = await bot.post(slash_command(text="status checkout", response_url=fake.response_url()))
        acked = time.monotonic() - started
        mention_started = time.monotonic()
        resp2 = await bot.post(app_mention(f"<@{BOT_USER_ID}> status checkout"))
        mention_acked = time.monotonic() - mention_started
        [call] = await fake.wait_for("response_url", timeout=15)
        answered = time.monotonic() - started
    assert resp.status_code == 200 and resp2.status_code == 200
    assert acked < 1.0 and mention_acked < 1.0
    assert answered >= 3.5
    assert call.args["response_type"] == "in_channel"


async def test_health_ready_and_metrics(fake):
    """/healthz is up, /readyz reports each backend (and stays ready while one is down), /metrics exposes the bot's
    own counters."""
    async with running_bot(fake, LOKI_URL=f"http://127.0.0.1:{free_port()}") as bot:
        await bot.post(slash_command(text="help", response_url=fake.response_url()))
        health = await bot.http.get("/healthz")
        ready = await bot.http.get("/readyz")
        for _ in range(50):  # counted after the ack, once the store said the request is not a replay (acks.py)
            metrics = await bot.http.get("/metrics")
            if 'kind="help"' in metrics.text:
                break
            await asyncio.sleep(0.05)
    assert health.status_code == 200
    # a backend down degrades the answers, not the replica: still ready (its store answers), the outage reported
    assert ready.status_code == 200 and ready.json()["degraded"] == ["loki"] and ready.json()["store"]["ok"] is True
    assert ready.json()["backends"]["loki"]["ok"] is False
    assert ready.json()["backends"]["prometheus"]["configured"] is False
    assert 'sre_bot_requests_total{kind="help",outcome="ok",surface="slack"} 1.0' in metrics.text
