"""Helpers for driving approvals through the real Bolt app: ask with `/sre run`, find the posted request, click."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone
from typing import Any

from sre_bot.config import Config, parse_config
from sre_bot.slack.action_blocks import APPROVE, REJECT, UNDO
from tests.fakes.argocd import FakeArgoCD, application, history_entry
from tests.fakes.slack_api import FakeSlack
from tests.harness import BotUnderTest
from tests.slack_signing import block_actions, slash_command

__all__ = ["ACTIONS", "config", "add_checkout", "ask", "request_message", "button", "click", "MutableClock",
           "APPROVE", "REJECT", "UNDO", "audit_kinds", "message_with"]

T0 = datetime(2026, 11, 21, 14, 0, tzinfo=timezone.utc)

ACTIONS: dict[str, Any] = {
    "approvers": {"users": ["W222"], "groups": ["S0SRE"]},
    "risk_approvers": {"high": {"users": ["W333"]}},
    "admins": {"users": ["W333"]},
}


def config(**actions: Any) -> Config:
    return parse_config({"services": {"checkout": {"namespace": "shop"}}, "actions": {**ACTIONS, **actions}})


def add_checkout(argo: FakeArgoCD) -> None:
    """checkout with two deploys: history 1 (`aaa111…`, good) and history 2 (`bbb222…`, current)."""
    argo.add_app(application("checkout", namespace="shop", history=[
        history_entry(1, "aaa1111111111111111111111111111111111111", T0 - timedelta(days=1), username="alice"),
        history_entry(2, "bbb2222222222222222222222222222222222222", T0 - timedelta(minutes=20), username="bob"),
    ]))


class MutableClock:
    def __init__(self, at: datetime | None = None) -> None:
        self.at = at or datetime.now(timezone.utc)

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **kw: float) -> None:
        self.at += timedelta(**kw)


async def ask(bot: BotUnderTest, fake: FakeSlack, text: str, *, user: str = "W111", channel: str = "C111",
              name: str = "cmd") -> dict[str, Any]:
    """Run `/sre <text>` and return what came back on the response_url."""
    before = len(fake.calls("response_url"))
    resp = await bot.post(slash_command(text=text, user_id=user, channel_id=channel,
                                        response_url=fake.response_url(name)))
    assert resp.status_code == 200, resp.text
    calls = await fake.wait_for("response_url", before + 1)
    return calls[-1].args


def request_message(fake: FakeSlack, channel: str = "C111", index: int = -1) -> dict[str, Any]:
    """A posted request message (one with an Approve button or a request header)."""
    found = [m for m in fake.messages(channel) if any(
        b.get("type") == "header" and "🔧" in b["text"]["text"] for b in m.get("blocks") or [])]
    assert found, f"no request message in {channel}: {fake.describe()}"
    return found[index]


async def message_with(fake: FakeSlack, needle: str, channel: str = "C111", timeout: float = 5) -> dict[str, Any]:
    """The newest request message once its blocks contain `needle` (chat.update is recorded before it applies)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        msg = request_message(fake, channel)
        if needle in json.dumps(msg.get("blocks"), ensure_ascii=False):
            return msg
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no request message containing {needle!r}; last: {msg.get('text')}")
        await asyncio.sleep(0.02)


def button(message: dict[str, Any], action_id: str) -> str:
    for b in message.get("blocks") or []:
        for e in b.get("elements") or []:
            if e.get("action_id") == action_id:
                return e["value"]
    raise AssertionError(f"no {action_id} button in {message.get('text')}")


def click(action_id: str, message: dict[str, Any], *, user: str, channel: str = "C111",
          value: str | None = None, message_ts: str | None = None):
    return block_actions(action_id, value if value is not None else button(message, action_id), user=user,
                         channel=channel, message_ts=message_ts or message["ts"])


async def audit_kinds(bot: BotUnderTest, request_id: str | None = None) -> list[str]:
    records = await bot.deps.store.latest(500)
    return [r.kind for r in reversed(records) if request_id is None or r.request_id == request_id]
