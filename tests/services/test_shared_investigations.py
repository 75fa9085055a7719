"""Repeated questions share one investigation, and a burst waits in a bounded line: through the sandbox shop's
real wire formats (backend calls counted by the bot's own metrics) and the real Bolt app over signed HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone

from sre_bot.clock import frozen_clock
from sre_bot.compose import open_deps
from sre_bot.deps import Deps
from sre_bot.investigation import Investigation
from sre_bot.sandbox import load_scenario
from sre_bot.sandbox.server import Sandbox
from sre_bot.services.investigate import investigate
from sre_bot.services.names import known_services
from sre_bot.settings import load_settings
from tests.fakes.slack_api import BOT_USER_ID, FakeSlack
from tests.harness import running_bot
from tests.slack_signing import app_mention

# mid-minute, so every question of a test falls in the same minute (the sharing key) whatever the test's speed
NOW = datetime.now(timezone.utc).replace(second=20, microsecond=0) - timedelta(minutes=1)


@asynccontextmanager
async def _shop() -> AsyncIterator[Sandbox]:
    async with Sandbox(load_scenario(), clock=frozen_clock(NOW), now=NOW) as sb:
        yield sb


@asynccontextmanager
async def _deps(sb: Sandbox) -> AsyncIterator[Deps]:
    settings = load_settings(None, SRE_BOT_ANALYSIS_PROCESSES="0", **sb.urls.as_env())
    async with open_deps(settings, config=sb.config, clock=frozen_clock(NOW), use_llm=False) as deps:
        yield deps


def _backend_calls(deps: Deps) -> int:
    """Every backend call the bot made (its `sre_bot_backend_request_duration_seconds` observations)."""
    return int(sum(s.value for metric in deps.metrics.registry.collect() for s in metric.samples
                   if s.name == "sre_bot_backend_request_duration_seconds_count"))


async def _ask(deps: Deps, names: dict[str, str], question: str) -> tuple[Investigation, int]:
    before = _backend_calls(deps)
    answer = await investigate(deps, question, names=names)
    return answer, _backend_calls(deps) - before


async def test_two_questions_about_one_service_share_one_investigation() -> None:
    """Asked together, "why is checkout slow?" and "is checkout failing?" cost the backend calls of one
    investigation, and each answer keeps its own question and symptom."""
    async with _shop() as sb:
        async with _deps(sb) as deps:
            names = await known_services(deps)
            _, alone = await _ask(deps, names, "why is checkout slow?")
        async with _deps(sb) as deps:
            names = await known_services(deps)
            before = _backend_calls(deps)
            slow, failing = await asyncio.gather(investigate(deps, "why is checkout slow?", names=names),
                                                 investigate(deps, "is checkout failing?", names=names))
            together = _backend_calls(deps) - before
            assert deps.offload is not None and deps.offload.admission.joined >= 1
    assert alone > 5 and together == alone
    assert slow.question == "why is checkout slow?" and failing.question == "is checkout failing?"
    assert (slow.symptom, failing.symptom) == ("latency", "errors")
    assert slow.focus == failing.focus == "checkout" and slow.window == failing.window
    assert [r.service for r in slow.ranking] == [r.service for r in failing.ranking]


async def test_another_service_reuses_the_scopes_evidence_but_another_window_does_not() -> None:
    """In the same minute, a question about payments-api after one about checkout (same scope) makes no backend
    call and is ranked for its own focus; the same question over the last 30 minutes queries afresh."""
    async with _shop() as sb, _deps(sb) as deps:
        names = await known_services(deps)
        checkout, first = await _ask(deps, names, "why is checkout slow?")
        payments, second = await _ask(deps, names, "why is payments-api slow?")
        shorter, third = await _ask(deps, names, "why is checkout slow in the last 30m?")
    assert first > 5 and second == 0 and third > 5
    assert (checkout.focus, payments.focus) == ("checkout", "payments-api")
    assert set(checkout.services) == set(payments.services) and checkout.window == payments.window
    assert shorter.window != checkout.window
    assert checkout.summary != payments.summary or checkout.focus != payments.focus


async def _final_text(fake: FakeSlack, channel: str, timeout: float = 60) -> str:
    """The text of the bot's message in `channel` once it no longer says "Looking…"."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        msgs = fake.messages(channel)
        if msgs and "Looking…" not in str(msgs[0].get("text")):
            return str(msgs[0].get("text")) + json.dumps(msgs[0].get("blocks") or [], ensure_ascii=False)
        assert asyncio.get_running_loop().time() < deadline, f"no answer in {channel}: {msgs}"
        await asyncio.sleep(0.05)


async def _first_post(fake: FakeSlack, channel: str) -> str:
    for _ in range(400):
        posts = [c for c in fake.calls("chat.postMessage") if c.args.get("channel") == channel]
        if posts:
            return str(posts[0].args.get("text"))
        await asyncio.sleep(0.025)
    raise AssertionError(f"no 'looking…' message in {channel}")


async def test_a_full_line_says_busy_and_loses_nothing(fake_slack: FakeSlack) -> None:
    """One slot (held), a line of one: the waiting question is told its place and answered once the slot frees,
    the same question again joins it without taking a place, a third investigation is told "busy, ask again in a
    minute" at once, and a verb is answered without a place in line; every mention gets a final message."""
    async with _shop() as sb, running_bot(fake_slack, config=sb.config, clock=frozen_clock(NOW),
                                          SRE_BOT_MAX_INVESTIGATIONS="1", SRE_BOT_INVESTIGATION_QUEUE="1",
                                          SRE_BOT_ANALYSIS_PROCESSES="0", **sb.urls.as_env()) as bot:
        assert bot.deps.offload is not None
        admission = bot.deps.offload.admission
        async with admission.slot(1):  # someone else's investigation holds the only slot
            await bot.post(app_mention(f"<@{BOT_USER_ID}> why is checkout slow?", channel="CWAIT"))
            assert "next in line (1 investigation(s) running)" in await _first_post(fake_slack, "CWAIT")
            for _ in range(400):
                if admission.in_line == 1:
                    break
                await asyncio.sleep(0.025)
            assert admission.in_line == 1
            await bot.post(app_mention(f"<@{BOT_USER_ID}> is checkout slow?", channel="CSAME"))
            await bot.post(app_mention(f"<@{BOT_USER_ID}> why is cart slow in the last 30m?", channel="CBUSY"))
            assert "1 question ahead of yours" in await _first_post(fake_slack, "CBUSY")
            await bot.post(app_mention(f"<@{BOT_USER_ID}> help", channel="CHELP"))  # a verb: not in line
            assert "ahead" not in await _first_post(fake_slack, "CHELP")
            assert "/sre status" in await _final_text(fake_slack, "CHELP")
            busy = await _final_text(fake_slack, "CBUSY")
            assert "busy" in busy and "ask again in a minute" in busy and "went wrong" not in busy
            assert admission.in_line == 1  # the refused one took no place, nor did the shared one
            assert "Looking…" in str(fake_slack.messages("CWAIT")[0]["text"])
        waited, same = await _final_text(fake_slack, "CWAIT"), await _final_text(fake_slack, "CSAME")
    for text in (waited, same):
        assert "checkout" in text and "went wrong" not in text and "busy" not in text
    assert admission.joined >= 1 and admission.in_progress == 0 and admission.in_line == 0


async def test_a_failure_in_a_shared_investigation_reaches_every_asker(fake_slack: FakeSlack) -> None:
    """Two mentions share an investigation whose analysis cannot run (the worker pool is gone): both messages say
    what happened with a reference, neither is left at "Looking…", and the failure is not kept to hand out later."""
    async with _shop() as sb, running_bot(fake_slack, config=sb.config, clock=frozen_clock(NOW),
                                          SRE_BOT_ANALYSIS_PROCESSES="0", **sb.urls.as_env()) as bot:
        assert bot.deps.offload is not None
        bot.deps.offload.close()  # every analysis call now fails: "the analysis pool is closed"
        await asyncio.gather(bot.post(app_mention(f"<@{BOT_USER_ID}> why is checkout slow?", channel="CA")),
                             bot.post(app_mention(f"<@{BOT_USER_ID}> why is checkout slow?", channel="CB")))
        first, second = await _final_text(fake_slack, "CA"), await _final_text(fake_slack, "CB")
        admission = bot.deps.offload.admission
        assert admission.joined >= 1
        await bot.post(app_mention(f"<@{BOT_USER_ID}> why is checkout slow?", channel="CC"))
        third = await _final_text(fake_slack, "CC")
        assert not [k for k in admission.kept() if k[0] == "investigation"]  # a failure is not kept for reuse
    for text in (first, second, third):
        assert "Something went wrong on my side (ref `" in text
