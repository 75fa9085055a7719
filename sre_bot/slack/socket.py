"""Socket Mode: Slack pushes events over a websocket the bot opens; no public URL needed."""

from __future__ import annotations

from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp

from ..settings import Settings

__all__ = ["start_socket_mode"]


async def start_socket_mode(bolt: AsyncApp, settings: Settings) -> AsyncSocketModeHandler:
    assert settings.slack_app_token is not None
    handler = AsyncSocketModeHandler(bolt, settings.slack_app_token.get_secret_value())
    await handler.connect_async()
    return handler
