"""The `/sre` slash command: ack at once, run the verb, respond with the rendered reply; requests for approval
(`/sre run`) are posted in the channel for everyone, the confirmation only to the asker."""

from __future__ import annotations

import time

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from ..deps import Deps
from ..errors import UsageError
from ..logging import bind_request, get_logger
from ..services.commands import REGISTRY, parse_command, run_command
from ..services.reply import Reply
from .approvals import post_request
from .delivery import respond_or_log
from .render import render_reply
from .text import escape, unescape
from .usergroups import GroupMembership

__all__ = ["register"]

log = get_logger(__name__)

_INSTANT = ("error", *(v.name for v in REGISTRY if v.instant))  # answered in the ack itself


def register(app: AsyncApp, deps: Deps, groups: GroupMembership) -> None:

    @app.command("/sre")
    async def on_sre(ack: AsyncAck, command: dict, respond: AsyncRespond, client: AsyncWebClient) -> None:
        text = unescape(command.get("text", ""))
        user = command.get("user_id", "")
        bind_request(surface="slack", kind="command", user=user, channel=command.get("channel_id"))
        try:
            verb = parse_command(text).verb
        except UsageError:
            verb = "error"
        if verb in _INSTANT:
            rendered, blocks = render_reply(await run_command(deps, text))
            await ack(text=rendered, blocks=blocks, response_type="ephemeral")
            deps.metrics.requests.labels("slack", verb, "ok").inc()
            return
        await ack(text=f"🔎 Looking… `/sre {escape(text)}`", response_type="ephemeral")
        started = time.monotonic()
        reply = await run_command(deps, text, groups.caller_of_command(client, command))
        try:
            for req in reply.requests:
                await post_request(client, deps, req, note=reply.request_notes.get(req.id))
        except UsageError as e:
            reply = Reply.error(str(e))
        rendered, blocks = render_reply(reply)
        await respond_or_log(respond, text=rendered, blocks=blocks, replace_original=False,
                             response_type="ephemeral" if reply.ephemeral or reply.requests else "in_channel")
        elapsed = time.monotonic() - started
        deps.metrics.requests.labels("slack", verb, reply.kind).inc()
        deps.metrics.request_seconds.labels("slack", verb).observe(elapsed)
        log.info("command answered", verb=verb, outcome=reply.kind, gaps=len(reply.gaps),
                 evidence=len(reply.evidence), requests=len(reply.requests), seconds=round(elapsed, 3))
