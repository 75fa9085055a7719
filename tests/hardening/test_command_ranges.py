"""Issue 14, item 8: every number or duration a person can type into `/sre` is bounded, and out-of-range input is
answered with the range that is allowed, never with silence (an OverflowError, a 32-bit column overflowing on
PostgreSQL, `int("²")`). Each command goes through the real Bolt app over signed HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from sre_bot.clock import frozen_clock
from tests.actions._support import add_checkout, ask, config
from tests.fakes.argocd import FakeArgoCD
from tests.fakes.slack_api import BOT_USER_ID, FakeSlack
from tests.hardening._slack_support import assert_no_traceback, json_log, log_lines  # noqa: F401
from tests.harness import running_bot
from tests.slack_signing import app_mention
from tests.store.conftest import pg_url, postgres_available, sqlite_url, store_url  # noqa: F401

NOW = datetime(2026, 11, 21, 14, 5, tzinfo=timezone.utc)

WINDOW = "a window is from 1s to 31d"

CASES = [
    ("status checkout 999999999d", WINDOW),  # was OverflowError: no reply
    ("status checkout 99999999999999w", WINDOW),
    ("query up 1000000000d", WINDOW),
    ("logs checkout timeout 24017206839w", WINDOW),
    ("status checkout since 0001-01-01T00:00+14:00", "a time is from 1970-01-01 to 9000-01-01"),
    ("status checkout 32d", WINDOW),
    ("incident 2147483648", "incident number from 1 to 2147483647"),  # was int32 overflow on PostgreSQL
    ("incident 99999999999999999999", "incident number from 1 to 2147483647"),
    ("incident ²", "incident number from 1 to 2147483647"),
    ("incident 0", "incident number from 1 to 2147483647"),
    ("audit ²", "a number from 1 to 50"),
    ("accuracy ²", "a whole number from 1 to 365"),
    ("accuracy 99999999999999999999999d", "a whole number from 1 to 365"),
    ("run alertmanager.silence alertname=HighErrorRate service=checkout duration=99999999999w comment=abcd",
     "is from 1s to"),
    ("run argocd.rollback checkout to_history_id=99999999999999999999", "no history id 99999999999999999999"),
]


def _said(reply: dict[str, Any]) -> str:
    return str(reply.get("text", "")) + str(reply.get("blocks", ""))


async def test_out_of_range_numbers_and_durations_are_answered_with_the_range(
        fake_slack: FakeSlack, argocd_server: FakeArgoCD, store_url: str, json_log: None,  # noqa: F811
        capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    """Each out-of-range command gets a reply naming the allowed range, nothing is requested, and no traceback."""
    add_checkout(argocd_server)
    env = {"ARGOCD_URL": argocd_server.url, "ARGOCD_TOKEN": "test-token", "SRE_BOT_DB_URL": store_url}
    async with running_bot(fake_slack, config=config(), **env) as bot:
        unanswered, wrong = [], []
        for i, (text, expected) in enumerate(CASES):
            try:
                reply = await ask(bot, fake_slack, text, name=f"c{i}")
            except AssertionError:
                unanswered.append(text)
                continue
            if expected not in _said(reply):
                wrong.append((text, _said(reply)[:300]))
        pending = await bot.deps.store.pending(bot.deps.clock())
    assert unanswered == [] and wrong == []
    assert pending == [] and fake_slack.calls("chat.postMessage") == []
    assert_no_traceback(log_lines(capsys), caplog)


async def test_a_mention_asking_for_an_endless_window_gets_the_widest_one(
        fake_slack: FakeSlack, json_log: None, capsys: pytest.CaptureFixture[str],  # noqa: F811
        caplog: pytest.LogCaptureFixture) -> None:
    """"the last 99999999999 days" in a mention is answered over the widest window (31 days), shown in the answer."""
    clock = frozen_clock(NOW)
    async with running_bot(fake_slack, config=config(), clock=clock) as bot:
        await bot.post(app_mention(f"<@{BOT_USER_ID}> why is checkout slow in the last 99999999999 days?"))
        [update] = await fake_slack.wait_for("chat.update", timeout=15)
    said = str(update.args)
    assert "Something went wrong" not in said
    assert f"window {(NOW - timedelta(days=31)):%Y-%m-%d %H:%M}–{NOW:%Y-%m-%d %H:%M} UTC" in said
    assert_no_traceback(log_lines(capsys), caplog)
