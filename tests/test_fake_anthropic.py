"""Contract tests: the real `anthropic` SDK against `FakeAnthropic` (replies, errors, retries, validation, caching)."""

from __future__ import annotations

import json
import math
import time
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import httpx
import pytest
from anthropic.types import Message, TextBlock, ToolUseBlock

from sre_bot.settings import DEFAULT_MODEL
from tests.fakes.anthropic_api import FakeAnthropic, call, delay, error, raw, text, tool_use

MODEL = DEFAULT_MODEL  # not deprecated, so the SDK emits no DeprecationWarning
TOOLS = [{"name": "query_loki", "description": "Run a LogQL query.",
          "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}]
ASK = [{"role": "user", "content": "Why is checkout failing?"}]


@pytest.fixture
async def fake() -> AsyncIterator[FakeAnthropic]:
    async with FakeAnthropic() as server:
        yield server


def client(fake: FakeAnthropic, max_retries: int = 0, **kw: Any) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(api_key="test", base_url=fake.url, max_retries=max_retries, **kw)


async def test_text_reply_parses_into_message_with_usage(fake: FakeAnthropic) -> None:
    """A scripted text reply arrives as an SDK `Message` with the request's model and deterministic usage."""
    fake.enqueue(text("The checkout pods are OOM-killed."))
    msg = await client(fake).messages.create(model=MODEL, max_tokens=256, messages=ASK)
    assert isinstance(msg, Message)
    assert msg.model == MODEL and msg.stop_reason == "end_turn" and msg.stop_sequence is None
    assert isinstance(msg.content[0], TextBlock) and msg.content[0].text == "The checkout pods are OOM-killed."
    body = fake.last_body()
    assert msg.usage.input_tokens == math.ceil(len(json.dumps(body)) / 4)
    assert msg.usage.output_tokens == math.ceil(len(json.dumps([{"type": "text", "text": msg.content[0].text}])) / 4)
    assert (msg.usage.cache_creation_input_tokens, msg.usage.cache_read_input_tokens) == (0, 0)
    assert body["messages"] == ASK and body["max_tokens"] == 256
    headers = fake.requests_to("/v1/messages")[0]
    assert headers.header("anthropic-version") and headers.header("authorization") == "Bearer test"
    fake.assert_clean()


async def test_tool_use_reply_parses_into_tool_use_blocks(fake: FakeAnthropic) -> None:
    """A tool_use reply has the optional text block first, then `ToolUseBlock`s with unique generated ids."""
    fake.enqueue(tool_use(call("query_loki", {"q": '{app="checkout"}'}),
                          call("query_loki", {"q": "x"}, id="toolu_mine"), text="Let me look."))
    msg = await client(fake).messages.create(model=MODEL, max_tokens=256, messages=ASK, tools=TOOLS)
    assert msg.stop_reason == "tool_use"
    assert isinstance(msg.content[0], TextBlock) and msg.content[0].text == "Let me look."
    uses = msg.content[1:]
    assert all(isinstance(b, ToolUseBlock) for b in uses)
    assert [(b.name, b.input) for b in uses] == [("query_loki", {"q": '{app="checkout"}'}), ("query_loki", {"q": "x"})]
    assert uses[0].id.startswith("toolu_") and uses[1].id == "toolu_mine"
    fake.assert_clean()


async def test_tool_round_trip_with_callable_script(fake: FakeAnthropic) -> None:
    """A callable script sees the body (here the tool_result for the id the fake generated) and builds the reply."""
    seen: list[dict[str, Any]] = []

    def echo(body: dict[str, Any]) -> Any:
        seen.append(body)
        return text(f"result for {fake.tool_results(body)[0]['tool_use_id']}")

    fake.enqueue(tool_use(call("query_loki", {"q": "x"})), echo)
    c = client(fake)
    first = await c.messages.create(model=MODEL, max_tokens=256, messages=ASK, tools=TOOLS)
    use = first.content[0]
    assert isinstance(use, ToolUseBlock)
    messages = [*ASK, {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "3 lines"}]}]
    second = await c.messages.create(model=MODEL, max_tokens=256, messages=messages, tools=TOOLS)
    assert isinstance(second.content[0], TextBlock) and second.content[0].text == f"result for {use.id}"
    assert seen == [fake.last_body()] and fake.tool_results() == messages[-1]["content"]
    assert "3 lines" in fake.all_text_sent() and "Why is checkout failing?" in fake.all_text_sent()
    fake.assert_clean()


async def test_rate_limit_is_retried_by_the_sdk_honouring_retry_after(fake: FakeAnthropic) -> None:
    """A 429 with a small `retry-after` then a reply succeeds with max_retries=2, after two requests."""
    fake.enqueue(error(429, "rate_limit_error", "Number of request tokens has exceeded your rate limit.",
                       retry_after=0.01), text("ok"))
    started = time.monotonic()
    msg = await client(fake, max_retries=2).messages.create(model=MODEL, max_tokens=64, messages=ASK)
    assert time.monotonic() - started < 0.4  # the SDK's own backoff would be >= 0.375 s
    assert isinstance(msg.content[0], TextBlock) and msg.content[0].text == "ok"
    sent = fake.requests_to("/v1/messages")
    assert len(sent) == 2 and [r.header("x-stainless-retry-count") for r in sent] == ["0", "1"]
    assert fake.bodies[0] == fake.bodies[1]
    fake.assert_clean()


@pytest.mark.parametrize(("status", "kind", "exc"), [
    (529, "overloaded_error", anthropic.OverloadedError),
    (500, "api_error", anthropic.InternalServerError),
    (429, "rate_limit_error", anthropic.RateLimitError),
    (400, "invalid_request_error", anthropic.BadRequestError),
])
async def test_scripted_errors_raise_the_sdk_exception(fake: FakeAnthropic, status: int, kind: str,
                                                       exc: type[anthropic.APIStatusError]) -> None:
    """With max_retries=0 a scripted error raises the SDK's class for that status, carrying the wire body."""
    fake.enqueue(error(status, kind, "scripted failure"))
    with pytest.raises(exc) as info:
        await client(fake).messages.create(model=MODEL, max_tokens=64, messages=ASK)
    assert info.value.status_code == status and isinstance(info.value, anthropic.APIStatusError)
    assert info.value.body["error"] == {"type": kind, "message": "scripted failure"}  # type: ignore[index]
    assert info.value.request_id and info.value.request_id.startswith("req_")
    if status == 529:
        assert isinstance(info.value, anthropic.InternalServerError)
    fake.assert_clean()


async def test_tool_result_for_a_wrong_id_is_a_violation(fake: FakeAnthropic) -> None:
    """A tool_result answering an id the previous assistant message did not use is a 400 and a recorded violation."""
    fake.enqueue(text("never served"))
    messages = [*ASK, {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_a", "name": "query_loki",
                                                         "input": {"q": "x"}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_b", "content": "?"}]}]
    with pytest.raises(anthropic.BadRequestError, match="toolu_b"):
        await client(fake, max_retries=2).messages.create(model=MODEL, max_tokens=64, messages=messages, tools=TOOLS)
    assert len(fake.violations) == 1 and "unexpected `tool_use_id`" in fake.violations[0]
    assert fake.remaining == 1 and len(fake.bodies) == 1  # not retried, script untouched


@pytest.mark.parametrize(("change", "fragment"), [
    ({"messages": [*ASK, {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_a", "name": "query_loki",
                                                            "input": {}}]},
                   {"role": "user", "content": "and?"}], "tools": TOOLS}, "without `tool_result`"),
    ({"messages": [*ASK, *ASK]}, "roles must alternate"),
    ({"messages": [{"role": "assistant", "content": "hi"}]}, "first message must use the \"user\" role"),
    ({"tools": TOOLS, "tool_choice": {"type": "tool", "name": "nope"}}, "not found in the provided tools"),
    ({"tool_choice": {"type": "any"}}, "may only be specified while providing tools"),
])
async def test_invalid_requests_are_rejected_like_the_api(fake: FakeAnthropic, change: dict[str, Any],
                                                          fragment: str) -> None:
    """Requests the real API refuses get a 400 `BadRequestError` and a precise entry in `violations`."""
    with pytest.raises(anthropic.BadRequestError):
        await client(fake).messages.create(**{"model": MODEL, "max_tokens": 64, "messages": ASK, **change})
    assert len(fake.violations) == 1 and fragment in fake.violations[0]


async def test_missing_credentials_or_version_are_refused(fake: FakeAnthropic) -> None:
    """Without a credential the answer is a 401 authentication_error; without `anthropic-version`, a 400."""
    body = {"model": MODEL, "max_tokens": 8, "messages": ASK}
    async with httpx.AsyncClient(base_url=fake.url) as http:
        no_key = await http.post("/v1/messages", json=body, headers={"anthropic-version": "2023-06-01"})
        no_version = await http.post("/v1/messages", json=body, headers={"x-api-key": "k"})
    assert no_key.status_code == 401 and no_key.json()["error"]["type"] == "authentication_error"
    assert no_version.status_code == 400 and "anthropic-version" in no_version.json()["error"]["message"]
    assert fake.violations == ["x-api-key header is required", "anthropic-version: header is required"]


async def test_empty_script_is_a_500_counted_in_unscripted(fake: FakeAnthropic) -> None:
    """With no scripted reply left the fake answers 500 api_error once (x-should-retry: false) and counts it."""
    with pytest.raises(anthropic.InternalServerError, match="no scripted response left") as info:
        await client(fake, max_retries=2).messages.create(model=MODEL, max_tokens=64, messages=ASK)
    assert info.value.status_code == 500
    assert fake.unscripted == 1 and len(fake.bodies) == 1


async def test_prompt_caching_creates_then_reads_the_system_prefix(fake: FakeAnthropic) -> None:
    """The same cache_control'd system prompt is a cache write on the first request and a cache read on the second."""
    system = [{"type": "text", "text": "You are an SRE assistant. " * 40, "cache_control": {"type": "ephemeral"}}]
    fake.enqueue(text("one"), text("two"))
    c = client(fake)
    first = await c.messages.create(model=MODEL, max_tokens=64, system=system, messages=ASK)  # type: ignore[arg-type]
    second = await c.messages.create(model=MODEL, max_tokens=64, system=system,  # type: ignore[arg-type]
                                     messages=[{"role": "user", "content": "And payments?"}])
    prefix = math.ceil(len(json.dumps(system)) / 4)
    assert (first.usage.cache_creation_input_tokens, first.usage.cache_read_input_tokens) == (prefix, 0)
    assert (second.usage.cache_creation_input_tokens, second.usage.cache_read_input_tokens) == (0, prefix)
    assert second.usage.input_tokens == math.ceil(len(json.dumps(fake.bodies[1])) / 4) - prefix
    fake.assert_clean()


async def test_delay_lets_the_client_deadline_fire(fake: FakeAnthropic) -> None:
    """A delayed reply outlasts a short client timeout, which the SDK reports as `APITimeoutError`."""
    fake.enqueue(delay(5, text("too late")))
    started = time.monotonic()
    with pytest.raises(anthropic.APITimeoutError):
        await client(fake, timeout=0.2).messages.create(model=MODEL, max_tokens=64, messages=ASK)
    assert time.monotonic() - started < 1


async def test_malformed_200_body_surfaces_as_a_json_error(fake: FakeAnthropic) -> None:
    """A 200 whose body is not JSON escapes the SDK as a plain `ValueError` (json.JSONDecodeError), not an APIError."""
    fake.enqueue(raw(200, "{not json"))
    with pytest.raises(ValueError):
        await client(fake).messages.create(model=MODEL, max_tokens=64, messages=ASK)
    fake.assert_clean()
