"""The storm with escalation configured, a PagerDuty Events API v2 receiver on a real loopback port, and helpers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web

from sre_bot.actions.config import ActionsConfig
from sre_bot.config import Config
from sre_bot.escalation.config import EscalationConfig
from sre_bot.sandbox.pagerduty_api import PagerDutyReceiver, create_app
from tests.fakes import free_port
from tests.incidents._storm import storm_config

__all__ = ["ROUTING_KEY", "escalation_config", "pagerduty_receiver", "env_for", "blocks_text"]

ROUTING_KEY = "R0UT1NGK3YPAYMENTS00000000000001"  # 32 characters, as PagerDuty's integration keys


def escalation_config(*, autonomy: str = "approve", max_per_hour: int = 2, after: str = "10m") -> Config:
    """The storm's config: payments owns the payment chain (paged through PagerDuty), W222 approves."""
    cfg = storm_config()
    esc = EscalationConfig.model_validate({
        "teams": {"payments": {"services": ["payments-db", "payments-api", "checkout", "frontend"],
                               "pagerduty": True}},
        "unknown": {"min_severity": "critical", "after": after, "max_per_hour": max_per_hour}})
    actions = ActionsConfig.model_validate({"approvers": {"users": ["W222"]},
                                            "policies": {"pagerduty.page": {"autonomy": autonomy}}})
    return cfg.model_copy(update={"escalation": esc, "actions": actions})


@asynccontextmanager
async def pagerduty_receiver() -> AsyncIterator[tuple[PagerDutyReceiver, str]]:
    """The wire-format receiver (checked against PagerDuty's published spec by its own tests) on a free port."""
    receiver = PagerDutyReceiver({"payments": ROUTING_KEY})
    runner = web.AppRunner(create_app(receiver))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield receiver, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def env_for(url: str, **extra: str) -> dict[str, str]:
    from tests.incidents._storm import TOKEN

    return {"SRE_BOT_ALERTMANAGER_TOKEN": TOKEN, "PAGERDUTY_EVENTS_URL": url,
            "SRE_BOT_PAGERDUTY_ROUTING_KEYS": json.dumps({"payments": ROUTING_KEY}), **extra}


def blocks_text(message: dict[str, Any]) -> str:
    return json.dumps(message.get("blocks", []), ensure_ascii=False) + str(message.get("text", ""))
