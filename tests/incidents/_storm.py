"""The storm scenario (`storm.yaml`) as Alertmanager notifications, the bot config that matches it, and waiting
for the incident loop to catch up."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx

from sre_bot.config import Config
from sre_bot.incidents.config import IncidentsConfig
from sre_bot.sandbox.bot_config import sandbox_config
from sre_bot.sandbox.generate import World
from sre_bot.sandbox.notifications import notifications
from sre_bot.sandbox.scenario import load_scenario

__all__ = ["STORM", "TOKEN", "CHANNEL", "storm", "storm_config", "post_all", "eventually", "top_level", "thread",
           "alertmanager_config"]

STORM = Path(__file__).with_name("storm.yaml")
TOKEN = "am-webhook-token"
CHANNEL = "C0INCIDENTS"


def storm(now: datetime | None = None) -> tuple[World, list[tuple[float, dict[str, Any]]]]:
    world = World(load_scenario(STORM), now or datetime.now(timezone.utc))
    return world, notifications(world)


def storm_config(*, investigate: bool = False, every: str = "1s", **incidents: Any) -> Config:
    cfg = sandbox_config(load_scenario(STORM))
    return cfg.model_copy(update={"incidents": IncidentsConfig(channel=CHANNEL, every=every, investigate=investigate,
                                                               **incidents)})


async def post_all(http: httpx.AsyncClient, bodies: list[tuple[float, dict[str, Any]]]) -> None:
    for _, body in bodies:
        resp = await http.post("/alertmanager", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
        assert resp.status_code == 200, resp.text


async def eventually(check: Callable[[], Awaitable[bool] | bool], *, timeout: float = 15, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.1)


def top_level(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in messages if not m.get("thread_ts")]


def thread(messages: list[dict[str, Any]], ts: str) -> list[dict[str, Any]]:
    return [m for m in messages if m.get("thread_ts") == ts]


def alertmanager_config(bot_url: str) -> str:
    """A real Alertmanager's config that sends every alert to the bot's webhook, grouped by alertname and namespace."""
    return f"""route:
  receiver: sre-bot
  group_by: [alertname, namespace]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: sre-bot
    webhook_configs:
      - url: {bot_url}/alertmanager
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: {TOKEN}
"""
