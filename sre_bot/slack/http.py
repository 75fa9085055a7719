"""Bolt's request handling mounted on our aiohttp server (`POST /slack/events`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp

from ..deps import Deps

__all__ = ["slack_events_handler"]


def slack_events_handler(bolt: AsyncApp, deps: Deps) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        bolt_response = await bolt.async_dispatch(await to_bolt_request(request))
        if bolt_response.status == 401:
            deps.metrics.requests.labels("slack", "unverified", "rejected").inc()
        return await to_aiohttp_response(bolt_response)

    return handle
