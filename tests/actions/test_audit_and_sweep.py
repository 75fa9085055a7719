"""The audit trail leaves the bot as JSON lines (`sre-bot audit export`), `/sre audit` and `/sre actions` show it
in Slack, and the sweeper reports a request stuck mid-run once, redrawing its message."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sre_bot.slack.sweeper import sweep_once
from tests.actions._support import (
    APPROVE,
    MutableClock,
    add_checkout,
    ask,
    click,
    config,
    message_with,
    request_message,
)
from tests.fakes.argocd import FakeArgoCD
from tests.fakes.slack_api import FakeSlack
from tests.harness import running_bot


async def _approved_rollback(bot, fake: FakeSlack) -> None:
    await ask(bot, fake, "run argocd.rollback checkout")
    await bot.post(click(APPROVE, request_message(fake), user="W222"))
    await message_with(fake, "*done*")


async def test_export_writes_the_whole_chain_as_json_lines(tmp_path: Path, fake_slack: FakeSlack,
                                                           argocd_server: FakeArgoCD) -> None:
    """After an approved rollback, `sre-bot audit export --since 1h` prints suggested → approved → started →
    succeeded, each a JSON object with who, when and the data; `/sre audit` shows the same in Slack."""
    add_checkout(argocd_server)
    url = f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}"
    async with running_bot(fake_slack, config=config(), SRE_BOT_DB_URL=url, ARGOCD_URL=argocd_server.url,
                           ARGOCD_TOKEN="test-token") as bot:
        await _approved_rollback(bot, fake_slack)
        shown = json.dumps(await ask(bot, fake_slack, "audit 5", name="audit"))
        assert "`succeeded`" in shown and "`approved`" in shown and "<@W222>" in shown
    code, out, err = _cli(tmp_path, url, "audit", "export", "--since", "1h")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["kind"] for r in rows] == ["suggested", "approved", "started", "succeeded"]
    assert rows[0]["actor"] == "W111" and rows[1]["actor"] == "W222" and rows[1]["data"]["user_name"] == "w222"
    assert rows[0]["data"]["preview"].startswith("Roll back Argo CD app `checkout`")
    assert rows[3]["data"]["response"]["app"] == "checkout" and rows[0]["at"].endswith("Z")
    assert "exported 4 audit record(s)" in err
    code, out, _ = _cli(tmp_path, url, "audit", "export", "--since", "1h", "--format", "csv")
    assert code == 0 and out.splitlines()[0] == "id,at,kind,actor,request_id,summary,data"
    code, _, err = _cli(tmp_path, url, "audit", "export", "--since", "next blue moon")
    assert code == 2 and "not a time I understand" in err


def _cli(cwd: Path, url: str, *args: str) -> tuple[int, str, str]:
    """The real `sre-bot` command in its own process (as an operator runs it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SRE_BOT_")} | {"SRE_BOT_DB_URL": url}
    done = subprocess.run([sys.executable, "-m", "sre_bot", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=60)
    return done.returncode, done.stdout, done.stderr


async def test_stuck_request_is_reported_once_and_its_message_redrawn(fake_slack: FakeSlack,
                                                                      argocd_server: FakeArgoCD) -> None:
    """A request left `executing` (its process died) past the execution timeout gets one `interrupted` audit
    record and a message saying the outcome is unknown; `/sre actions` lists it; a second sweep adds nothing."""
    add_checkout(argocd_server)
    clock = MutableClock()
    async with running_bot(fake_slack, config=config(), clock=clock, ARGOCD_URL=argocd_server.url,
                           ARGOCD_TOKEN="test-token") as bot:
        await ask(bot, fake_slack, "run argocd.rollback checkout")
        [req] = await bot.deps.store.pending(clock())
        await bot.deps.store.claim(req.id, user="W222", user_name="w222", now=clock())  # then the process "died"
        assert await sweep_once(bot.bolt.client, bot.deps) == 0  # still within the execution timeout
        clock.advance(minutes=5)
        assert await sweep_once(bot.bolt.client, bot.deps) == 1
        assert await sweep_once(bot.bolt.client, bot.deps) == 0
        shown = await message_with(fake_slack, "outcome is unknown")
        assert APPROVE not in json.dumps(shown)
        listed = json.dumps(await ask(bot, fake_slack, "actions", name="list"))
        assert "no recorded outcome" in listed
        assert [r.kind for r in await bot.deps.store.latest(10)].count("interrupted") == 1
        assert argocd_server.operations == []


async def test_sweeper_expires_overdue_requests(fake_slack: FakeSlack, argocd_server: FakeArgoCD) -> None:
    """An unanswered request past its expiry is marked expired and its buttons removed, without any click."""
    add_checkout(argocd_server)
    clock = MutableClock()
    async with running_bot(fake_slack, config=config(expire_after="15m"), clock=clock,
                           ARGOCD_URL=argocd_server.url, ARGOCD_TOKEN="test-token") as bot:
        await ask(bot, fake_slack, "run argocd.rollback checkout")
        clock.advance(minutes=16)
        assert await sweep_once(bot.bolt.client, bot.deps) == 1
        shown = await message_with(fake_slack, "Expired")
        assert APPROVE not in json.dumps(shown)
        assert (await bot.deps.store.get_request((await bot.deps.store.recent(1))[0].id)).status == "expired"
