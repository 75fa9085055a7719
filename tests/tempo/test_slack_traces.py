"""`/sre traces` through the real Bolt app over signed HTTP: against the wire-format Tempo, without Tempo, with
bad input, and against the sandbox shop (what `sre-bot demo` and `sre-bot sandbox` serve)."""

from __future__ import annotations

import html
from typing import Any

from sre_bot.clock import frozen_clock
from sre_bot.config import Config, ServiceConfig
from sre_bot.sandbox import Sandbox
from tests.fakes.slack_api import FakeSlack
from tests.harness import BotUnderTest, running_bot
from tests.slack_signing import slash_command
from tests.tempo.fake_tempo import FakeTempo
from tests.tempo.test_trace_evidence import NOW, SLOW_ID, _failed, _slow

CONFIG = Config(services=[ServiceConfig(name="checkout"), ServiceConfig(name="payments-api")])


async def _slash(bot: BotUnderTest, fake: FakeSlack, text: str) -> dict[str, Any]:
    before = len(fake.calls("response_url"))
    resp = await bot.post(slash_command(text=text, response_url=fake.response_url()))
    assert resp.status_code == 200, resp.text
    if resp.content and "blocks" in resp.json():
        return dict(resp.json())
    return (await fake.wait_for("response_url", before + 1, timeout=30))[-1].args


def _shown(answer: dict[str, Any]) -> str:
    return html.unescape(str(answer.get("blocks")))


async def test_traces_verb_shows_the_dominant_span_and_links(fake_slack: FakeSlack):
    """`/sre traces checkout 1h`: the slowest trace's dominant span and share, the failed trace, a Tempo link."""
    with FakeTempo(tenant="shop") as tempo:
        tempo.add(_slow())
        tempo.add(_failed())
        async with running_bot(fake_slack, config=CONFIG, clock=frozen_clock(NOW), incidents=False,
                               TEMPO_URL=tempo.url, TEMPO_ORG_ID="shop") as bot:
            answer = await _slash(bot, fake_slack, "traces checkout 1h")
        [search] = tempo.requests_to("/api/search")
    text = _shown(answer)
    assert "Traces of checkout" in text
    assert "78% in `payments-db` `SELECT payments` (db), status error" in text
    assert "slowest trace 3f2a9c01… spent 78% of its critical path in payments-db" in text
    assert f"{tempo.url}/api/v2/traces/{SLOW_ID}" in text and "upstream 503" in text
    assert search.header("X-Scope-OrgID") == "shop"


async def test_traces_verb_without_tempo_down_and_bad_input(fake_slack: FakeSlack):
    """No TEMPO_URL: said plainly. Tempo refusing: its message. No service or two words: a usage error."""
    async with running_bot(fake_slack, config=CONFIG, incidents=False) as bot:
        text = _shown(await _slash(bot, fake_slack, "traces checkout"))
        assert "tempo is not configured (set TEMPO_URL)" in text and "Could not check" in text
        assert "needs a service: `/sre traces <service> [window]`" in _shown(await _slash(bot, fake_slack, "traces"))
        assert "takes one service" in _shown(await _slash(bot, fake_slack, "traces checkout cart 1h"))
    with FakeTempo(token="right") as tempo:
        async with running_bot(fake_slack, config=CONFIG, incidents=False, TEMPO_URL=tempo.url,
                               TEMPO_TOKEN="wrong") as bot:
            text = _shown(await _slash(bot, fake_slack, "traces checkout 30m"))
    assert "refused the credentials" in text and "check the token" in text


async def test_the_sandbox_answers_traces_checkout(fake_slack: FakeSlack, shop: Sandbox):
    """Against the sandbox shop, `/sre traces checkout` quotes slow, failed traces along the bad deploy's path."""
    assert shop.urls.tempo and shop.urls.as_env()["TEMPO_URL"] == shop.urls.tempo
    async with running_bot(fake_slack, config=shop.config, incidents=False, **shop.urls.as_env()) as bot:
        text = _shown(await _slash(bot, fake_slack, "traces checkout"))
    assert "Traces of checkout" in text and "critical path" in text
    assert "status error" in text and "payments-api" in text
    assert "Could not check" not in text
