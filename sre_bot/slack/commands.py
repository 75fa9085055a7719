"""The `/sre` slash command: ack at once, run the verb, respond with the rendered reply."""

from __future__ import annotations

import time

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from ..deps import Deps
from ..logging import bind_request, get_logger
from ..services.commands import parse_command, run_command
from ..errors import UsageError
from .render import render_reply
from .text import unescape

__all__ = ["register"]

log = get_logger(__name__)


def register(app: AsyncApp, deps: Deps) -> None:
    @app.command("/sre")
    async def on_sre(ack: AsyncAck, command: dict, respond: AsyncRespond) -> None:
        text = unescape(command.get("text", ""))
        bind_request(surface="slack", kind="command", user=command.get("user_id"), channel=command.get("channel_id"))
        try:
            verb = parse_command(text).verb
        except UsageError:
            verb = "error"
        if verb in ("help", "error"):  # instant answers go in the ack itself
            rendered, blocks = render_reply(await run_command(deps, text))
            await ack(text=rendered, blocks=blocks, response_type="ephemeral")
            deps.metrics.requests.labels("slack", verb, "ok").inc()
            return
        await ack(text=f"🔎 Looking… `/sre {text}`", response_type="ephemeral")
        started = time.monotonic()
        reply = await run_command(deps, text)
        rendered, blocks = render_reply(reply)
        await respond(text=rendered, blocks=blocks, replace_original=False,
                      response_type="ephemeral" if reply.ephemeral else "in_channel")
        elapsed = time.monotonic() - started
        deps.metrics.requests.labels("slack", verb, reply.kind).inc()
        deps.metrics.request_seconds.labels("slack", verb).observe(elapsed)
        log.info("command answered", verb=verb, outcome=reply.kind, gaps=len(reply.gaps),
                 evidence=len(reply.evidence), seconds=round(elapsed, 3))
