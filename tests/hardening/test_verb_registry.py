"""Issue 14, item 14: one registry of `/sre` verbs makes the help text, the manifest's usage hint and the dispatch.

The verb list used to be repeated in four places and the manifest showed 7 of 14 verbs. Every registered verb is
run here through the real Bolt app over signed HTTP, as a slash command and as a mention, and must appear in the
help Slack shows and in manifest.yml's usage hint.
"""

from __future__ import annotations

import asyncio
import html
from pathlib import Path
from typing import Any

import httpx
import yaml

from sre_bot.services.commands import REGISTRY, parse_command
from tests.actions._support import config
from tests.fakes.slack_api import BOT_USER_ID, FakeSlack
from tests.harness import BotUnderTest, running_bot
from tests.slack_signing import app_mention, slash_command

ROOT = Path(__file__).resolve().parents[2]

# verb -> (what follows `/sre`, the title of the reply only that verb's handler gives). A verb added to the registry
# without a line here fails `test_every_verb_has_an_example`.
EXAMPLES: dict[str, tuple[str, str]] = {
    "status": ("status checkout 30m", "Status of checkout"),
    "query": ("query up 30m", "PromQL"),
    "logs": ("logs checkout 30m", "Logs of checkout"),
    "traces": ("traces checkout 30m", "Traces of checkout"),
    "deploys": ("deploys", "Argo CD applications"),
    "incidents": ("incidents", "Incidents"),
    "incident": ("incident 7", "Sorry, I can't do that"),  # answered by show_incident: "there is no incident #7"
    "runbook": ("runbook list", "Runbooks"),
    "run": ("run argocd.rollback", "Sorry, I can't do that"),  # run_action: argocd.rollback needs a service
    "actions": ("actions", "Pending approvals (0)"),
    "audit": ("audit 5", "Audit: the newest 0 record(s)"),
    "killswitch": ("killswitch status", "Kill switch"),
    "accuracy": ("accuracy 7", "Answer accuracy, last 7 days"),
    "autonomy": ("autonomy", "Autonomy of each action"),
    "help": ("help", "sre-bot help"),
    "history": ("history", "Past cases"),
    "deploy-check": ("deploy-check checkout", "Sorry, I can't do that"),
}
_ERROR_TEXT = {"incident": "no incident #7", "run": "argocd.rollback", "deploy-check": "Argo CD is not configured"}


def _title(answer: dict[str, Any]) -> str:
    header = next(b for b in answer["blocks"] if b["type"] == "header")
    return str(header["text"]["text"])


def _shown(answer: dict[str, Any]) -> str:
    return html.unescape(str(answer.get("blocks")))


async def _slash(bot: BotUnderTest, fake: FakeSlack, text: str) -> dict[str, Any]:
    """`/sre <text>`: the answer given in the ack itself, or else the one posted to the response_url."""
    before = len(fake.calls("response_url"))
    resp: httpx.Response = await bot.post(slash_command(text=text, response_url=fake.response_url()))
    assert resp.status_code == 200, resp.text
    if resp.content and "blocks" in resp.json():
        return dict(resp.json())
    return (await fake.wait_for("response_url", before + 1, timeout=30))[-1].args


async def _mention(bot: BotUnderTest, fake: FakeSlack, text: str) -> dict[str, Any]:
    """`@sre-bot <text>`: the answer that replaced the "looking…" message."""
    before = len(fake.calls("chat.update"))
    await bot.post(app_mention(f"<@{BOT_USER_ID}> {text}", channel="C111"))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while loop.time() < deadline:
        done = [c for c in fake.calls("chat.update")[before:] if not c.args.get("text", "").startswith("🔎")]
        if done:
            return done[-1].args
        await asyncio.sleep(0.05)
    raise AssertionError(f"no answer to the mention {text!r}")


def test_every_verb_has_an_example() -> None:
    """The examples below cover exactly the registered verbs, so a new verb cannot skip the dispatch test."""
    assert set(EXAMPLES) == set(REGISTRY.names)
    assert {parse_command(text).verb for text, _ in EXAMPLES.values()} == set(REGISTRY.names)


def test_manifest_usage_hint_lists_every_verb() -> None:
    """manifest.yml's usage hint for /sre is the registry's, with every verb's synopsis in it."""
    [sre] = yaml.safe_load((ROOT / "manifest.yml").read_text())["features"]["slash_commands"]
    assert sre["usage_hint"] == REGISTRY.usage_hint()
    assert [part.split()[0] for part in sre["usage_hint"].split(" | ")] == list(REGISTRY.names)


async def test_help_in_slack_lists_every_verb(fake_slack: FakeSlack) -> None:
    """`/sre help` (answered in the ack) shows every registered verb's synopsis, none of it cut off."""
    async with running_bot(fake_slack, config=config(), incidents=False) as bot:
        answer = await _slash(bot, fake_slack, "help")
    shown = _shown(answer)
    for verb in REGISTRY:
        assert f"/sre {verb.synopsis}`" in shown, verb.name
    assert "not shown" not in shown


async def test_every_verb_dispatches_as_a_slash_command_and_a_mention(fake_slack: FakeSlack) -> None:
    """Each registered verb reaches its own handler from `/sre` and from `@sre-bot`, never "unknown command"."""
    async with running_bot(fake_slack, config=config(), incidents=False) as bot:
        for verb, (text, title) in EXAMPLES.items():
            for surface, answer in (("slash", await _slash(bot, fake_slack, text)),
                                    ("mention", await _mention(bot, fake_slack, text))):
                assert _title(answer) == title, (verb, surface, _shown(answer)[:300])
                assert "unknown command" not in _shown(answer)
                if verb in _ERROR_TEXT:
                    assert _ERROR_TEXT[verb] in _shown(answer), (verb, surface)
