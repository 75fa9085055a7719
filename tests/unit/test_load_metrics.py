"""`/metrics` shows the investigation line (running, waiting) and the pages that followed their incidents."""

from __future__ import annotations

import asyncio

from sre_bot.actions.paging import follow_page
from sre_bot.compose import open_deps
from sre_bot.config import Config
from sre_bot.settings import Settings


def _value(text: str, line_start: str) -> float:
    [line] = [ln for ln in text.splitlines() if ln.startswith(line_start)]
    return float(line.rsplit(" ", 1)[1])


async def test_the_investigation_line_is_read_when_scraped() -> None:
    settings = Settings(_env_file=None, SRE_BOT_ANALYSIS_PROCESSES=0, SRE_BOT_MAX_INVESTIGATIONS=1)  # type: ignore[call-arg]
    async with open_deps(settings, config=Config(), use_llm=False) as deps:
        assert deps.offload is not None
        admission = deps.offload.admission
        release = asyncio.Event()

        async def hold() -> str:
            await release.wait()
            return "done"

        first = asyncio.create_task(admission.shared("checkout", hold))
        await asyncio.sleep(0)
        text = deps.metrics.exposition().decode()
        assert _value(text, 'sre_bot_investigations{state="waiting"}') == admission.in_line
        assert _value(text, 'sre_bot_investigations{state="running"}') == admission.in_progress
        release.set()
        assert await first == "done"


async def test_a_follow_up_that_cannot_be_sent_is_counted_as_failed() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    async with open_deps(settings, config=Config(), use_llm=False) as deps:
        out = await follow_page(deps, provider="pagerduty", team="payments", dedup_key="sre-bot/inc-1",
                                event="resolve")
        assert not out.ok and "SRE_BOT_PAGERDUTY_ROUTING_KEYS" in out.detail
        text = deps.metrics.exposition().decode()
        assert _value(text, 'sre_bot_page_followups_total{event="resolve",outcome="failed",provider="pagerduty"}') == 1
