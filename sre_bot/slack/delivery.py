"""Replies through a command's `response_url` (Bolt's `respond`): a reply that cannot be delivered (Slack's hook
unreachable or refusing it) is one warning line, never an exception raised into Bolt after the ack."""

from __future__ import annotations

from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncRespond

from ..logging import get_logger

__all__ = ["respond_or_log"]

log = get_logger(__name__)


async def respond_or_log(respond: AsyncRespond, **message: Any) -> bool:
    """Send `message` with `respond`; False (and a warning) when it did not reach Slack."""
    try:
        sent = await respond(**message)
    except (TimeoutError, aiohttp.ClientError, OSError) as e:
        log.warning("reply not delivered to the command's response_url", error=f"{type(e).__name__}: {e}"[:300])
        return False
    if sent.status_code != 200:
        log.warning("reply refused by the command's response_url", status=sent.status_code, body=str(sent.body)[:200])
        return False
    return True
