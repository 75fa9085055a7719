"""The loop's limits with real servers: tool calls of one step run at once; a huge log result is summarised with
a hint to narrow it, and no request goes over the input budget."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone

import pytest
from aiohttp import web

from sre_bot.config import parse_config
from sre_bot.llm.budget import estimate_request, estimate_tokens
from sre_bot.llm.evidence_text import NARROW_HINT
from tests.fakes.anthropic_api import FakeAnthropic, call, tool_use
from tests.fakes.loki import FakeLoki
from tests.fakes.slack_api import BOT_USER_ID
from tests.harness import running_bot
from tests.llm._script import answer, blocks_text, final_update
from tests.slack_signing import app_mention

CONFIG = parse_config({"services": [{"name": "orders", "namespace": "shop"}, {"name": "billing", "namespace": "shop"}]})


class SlowLoki(FakeLoki):
    """Loki that takes 0.5 s for queries filtering on "slow-" and records when each one ran."""

    def __init__(self) -> None:
        super().__init__()
        self.spans: list[tuple[str, float, float]] = []

    async def _query_range(self, request: web.Request) -> web.Response:
        query = request.query.get("query", "")
        if "slow-" not in query:
            return await super()._query_range(request)
        t0 = time.monotonic()
        await asyncio.sleep(0.5)
        resp = await super()._query_range(request)
        self.spans.append((query, t0, time.monotonic()))
        return resp


@pytest.fixture
def model():
    with FakeAnthropic() as m:
        yield m


def _env(model: FakeAnthropic, loki: FakeLoki, **extra: str) -> dict[str, str]:
    return {"LOKI_URL": loki.url, "ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": model.url,
            "SRE_BOT_LLM_MAX_RETRIES": "0", **extra}


async def test_tool_calls_of_one_step_run_concurrently(fake_slack, model):
    """Two 0.5 s log searches asked for in one step overlap in time instead of running one after the other."""
    model.enqueue(tool_use(call("search_logs", {"service": "orders", "text": "slow-a"}),
                           call("search_logs", {"service": "billing", "text": "slow-b"})),
                  answer(summary="Insufficient evidence.", insufficient_evidence=True))
    with SlowLoki() as loki:
        async with running_bot(fake_slack, config=CONFIG, **_env(model, loki)) as bot:
            await bot.post(app_mention(f"<@{BOT_USER_ID}> why is orders slow?"))
            await final_update(fake_slack)
    model.assert_clean()
    (_, a0, a1), (_, b0, b1) = loki.spans
    assert a0 < b1 and b0 < a1  # the two intervals overlap


def _huge_logs(loki: FakeLoki) -> None:
    now = datetime.now(timezone.utc)
    loki.push({"namespace": "shop", "app": "orders"}, [
        (now - timedelta(seconds=i), f"level=error msg=\"payment declined\" order=ord-{i:06d} "
         f"reason=\"card issuer timeout after {1000 + i % 977}ms\" trace={i:032x} ctx=" + "x" * 200)
        for i in range(3000)])
    # billing logs too (nothing wrong): a service with no log stream at all would be a gap in the engine's answer
    loki.push({"namespace": "shop", "app": "billing"}, [(now - timedelta(minutes=i), "level=info msg=ok")
                                                         for i in range(60)])


async def test_huge_log_result_is_summarised_with_a_hint_to_narrow(fake_slack, model):
    """500 long error lines: the tool result is their templates with counts and one real line each, says it is a
    summary and how to narrow, and stays under the per-result cap."""
    model.enqueue(tool_use(call("search_logs", {"service": "orders", "limit": 500})),
                  answer(summary="Card issuer timeouts in orders.", insufficient_evidence=True))
    with FakeLoki() as loki:
        _huge_logs(loki)
        async with running_bot(fake_slack, config=CONFIG, **_env(model, loki)) as bot:
            await bot.post(app_mention(f"<@{BOT_USER_ID}> why is orders failing?"))
            await final_update(fake_slack)
    model.assert_clean()
    [result] = model.tool_results(model.bodies[1])
    assert NARROW_HINT in result["content"] and "500 lines in 1 templates" in result["content"]
    assert "card issuer timeout after" in result["content"]  # a real line, verbatim, as the example
    assert estimate_tokens(result["content"]) <= 2500


async def test_the_input_budget_is_kept_and_forces_the_answer(fake_slack, model):
    """With a small SRE_BOT_LLM_INPUT_BUDGET, no request goes over it: nearing it, results are replaced by a note
    saying so and the model is made to answer."""
    budget = 4600  # the prompt alone is about 3.3k tokens (the catalog and the tools grow it)
    model.enqueue(
        tool_use(call("search_logs", {"service": "orders", "limit": 500}),
                 call("search_logs", {"service": "orders", "limit": 400, "errors_only": False}),
                 call("error_log_templates", {"service": "orders"})),
        answer(summary="Card issuer timeouts in orders.", insufficient_evidence=True))
    with FakeLoki() as loki:
        _huge_logs(loki)
        async with running_bot(fake_slack, config=CONFIG,
                               **_env(model, loki, SRE_BOT_LLM_INPUT_BUDGET=str(budget))) as bot:
            await bot.post(app_mention(f"<@{BOT_USER_ID}> why is orders failing?"))
            shown = blocks_text((await final_update(fake_slack))["blocks"])
    model.assert_clean()
    assert max(estimate_request(b) for b in model.bodies) <= budget
    assert model.bodies[1]["tool_choice"] == {"type": "tool", "name": "submit_answer"}
    assert "token budget" in model.bodies[1]["messages"][-1]["content"][-1]["text"]
    assert any("removed to stay within the token budget" in r["content"] for r in model.tool_results(model.bodies[1]))
    assert "Card issuer timeouts in orders." in shown
