"""Through Slack against the sandbox shop: real evidence in the answers, and a down backend said plainly."""

from __future__ import annotations

import pytest

from tests.fakes import free_port
from tests.fakes.slack_api import BOT_USER_ID, FakeSlack
from tests.harness import running_bot
from tests.slack_signing import app_mention, slash_command


@pytest.fixture
def fake(fake_slack: FakeSlack) -> FakeSlack:
    return fake_slack


def _text(blocks: list[dict]) -> str:
    out = []
    for b in blocks:
        if "text" in b and isinstance(b["text"], dict):
            out.append(b["text"]["text"])
        for e in b.get("elements", []):
            label = e.get("text", "")  # a button's label is a text object
            out.append(label if isinstance(label, str) else label.get("text", ""))
    return "\n".join(out)


async def test_status_shows_every_signal_with_query_window_and_link(fake, shop):
    """`/sre status checkout` shows golden signals vs baseline, the firing alert, Argo CD, and error logs."""
    async with running_bot(fake, config=shop.config, **shop.urls.as_env()) as bot:
        await bot.post(slash_command(text="status checkout 30m", response_url=fake.response_url()))
        [call] = await fake.wait_for("response_url", timeout=20)
    text = _text(call.args["blocks"])
    for signal in ("request rate", "error ratio", "latency p95", "latency p99", "CPU", "memory"):
        assert f"checkout {signal}" in text
    assert 'sum(rate(http_requests_total{service="checkout"}[5m]))' in text
    assert "/graph?g0.expr=" in text and "/applications/checkout" in text
    assert "HighErrorRate" in text and "health Degraded" in text and "4f1c2e9" in text
    assert "timeout calling payments-api" in text
    assert "Could not check" not in text


async def test_mention_question_gets_ranked_hypotheses_with_evidence(fake, shop):
    """`@sre-bot why is payments-api slow?` updates its thread with the investigation: checkout's deploy first,
    the timeline, quoted evidence and what was checked."""
    async with running_bot(fake, config=shop.config, **shop.urls.as_env()) as bot:
        await bot.post(app_mention(f"<@{BOT_USER_ID}> why is payments-api slow?", channel="C7"))
        [update] = await fake.wait_for("chat.update", timeout=20)
    text = _text(update.args["blocks"])
    assert "likely bad deploy of checkout" in text and "confidence" in text
    assert "1. bad deploy of checkout" in text and "Timeline" in text and "Checked" in text
    assert "4f1c2e9" in text and "rose from" in text


async def test_a_down_backend_is_said_plainly_and_the_rest_still_shown(fake, shop):
    """With Loki down, the answer says logs could not be checked, and the metrics and deploys are still there."""
    env = {**shop.urls.as_env(), "LOKI_URL": f"http://127.0.0.1:{free_port()}"}
    async with running_bot(fake, config=shop.config, **env) as bot:
        await bot.post(slash_command(text="status checkout", response_url=fake.response_url()))
        [call] = await fake.wait_for("response_url", timeout=20)
    text = _text(call.args["blocks"])
    assert "Could not check" in text and "Loki" in text and "unreachable" in text
    assert "checkout error ratio" in text and "health Degraded" in text


async def test_deploys_and_logs_and_query_verbs(fake, shop):
    """`deploys`, `logs` with a filter, and `query` all answer from the shop with their evidence."""
    async with running_bot(fake, config=shop.config, **shop.urls.as_env()) as bot:
        for text in ("deploys", "deploys checkout", "logs payments-api pool 30m",
                     'query sum(rate(http_requests_total{service="checkout"}[5m])) 2h'):
            await bot.post(slash_command(text=text, response_url=fake.response_url(text.split()[0])))
        calls = await fake.wait_for("response_url", count=4, timeout=20)
    joined = "\n".join(_text(c.args["blocks"]) for c in calls)
    assert "Argo CD applications" in joined and "deploy #3" in joined
    assert "could not obtain connection from pool" in joined and "|= \"pool\"" in joined.replace("&quot;", '"')
    assert "last " in joined and "PromQL" in joined


async def test_unknown_promql_is_refused_with_the_backends_message(fake, shop):
    """PromQL that does not parse comes back as a plain 'rejected' gap with Prometheus's parse error, not a crash."""
    async with running_bot(fake, config=shop.config, **shop.urls.as_env()) as bot:
        await bot.post(slash_command(text="query sum(rate(foo[5m]) 30m", response_url=fake.response_url()))
        [call] = await fake.wait_for("response_url", timeout=20)
    assert "rejected" in _text(call.args["blocks"]) and "unclosed left parenthesis" in _text(call.args["blocks"])
