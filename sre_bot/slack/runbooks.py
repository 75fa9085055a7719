"""`/sre runbook …` and the "Run it" button: each run is one message, posted at once and redrawn in place as its
steps finish; the remediation it finds is posted in the run's thread as approval requests (the usual buttons).

Registered before the general `/sre` listener (`app.py`): Bolt hands a command to the first listener whose
matcher accepts it, so `runbook …` lines come here and every other verb goes on to `commands.py`.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from ..deps import Deps
from ..errors import UsageError
from ..logging import bind_request, get_logger
from ..runbooks.match import Match
from ..runbooks.run import RunState
from ..services.caller import Caller
from ..services.reply import Reply
from ..services.runbook_commands import (
    RunRequest,
    list_runbooks,
    parse_runbook_args,
    prepare_run,
    resolve_run,
    run_prepared,
)
from .approvals import post_request
from .delivery import respond_or_log
from .render import render_reply
from .runbook_blocks import RUN_RUNBOOK, parse_button_value, run_blocks, suggestion_blocks
from .text import escape, mrkdwn_safe, unescape
from .usergroups import GroupMembership

__all__ = ["register", "post_runbook_suggestions", "run_in_slack", "REDRAW_EVERY_S"]

log = get_logger(__name__)

REDRAW_EVERY_S = 1.0  # chat.update is rate limited; a step's "running" may be skipped, a finished run never is
_CLICK_TTL = timedelta(minutes=2)


def _runbook_words(text: str) -> str | None:
    """The arguments after `runbook`, or None when the command is another verb."""
    head, _, rest = text.strip().partition(" ")
    return rest if head.lower() == "runbook" else None


async def _is_runbook(body: dict[str, Any]) -> bool:
    return _runbook_words(unescape(body.get("text") or "")) is not None


async def post_runbook_suggestions(client: AsyncWebClient, deps: Deps, *, channel: str, thread_ts: str | None,
                                   matches: list[Match]) -> None:
    """Post "runbook X matches: run it?" with a button (in `thread_ts`); nothing when no runbook matches."""
    if not matches:
        return
    need = frozenset(rb.name for rb in deps.runbooks.all() if rb.needs_service)
    text, blocks = suggestion_blocks(matches, needs_service=need)
    try:
        await client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text, blocks=blocks)
    except SlackApiError as e:
        log.warning("runbook suggestion not posted", error=e.response.get("error"))


async def run_in_slack(client: AsyncWebClient, deps: Deps, req: RunRequest, state: RunState, caller: Caller, *,
                       trigger: dict[str, Any], thread_ts: str | None) -> RunState | None:
    """Post the run's message, run it while redrawing that message, then post what it offers for approval.
    None when the message could not be posted (and then nothing ran); UsageError says why."""
    text, blocks = run_blocks(state)
    try:
        posted = await client.chat_postMessage(channel=caller.channel, thread_ts=thread_ts, text=text, blocks=blocks)
    except SlackApiError as e:
        error = e.response.get("error")
        hint = " Invite me to the channel (`/invite @sre-bot`) and ask again." if error == "not_in_channel" else ""
        raise UsageError(f"I could not post the runbook's message here ({error}); nothing was run.{hint}") from e
    ts = posted["ts"]
    caller = replace(caller, thread_ts=thread_ts or ts)
    last = 0.0

    async def redraw(st: RunState) -> None:
        nonlocal last
        if st.outcome == "running" and time.monotonic() - last < REDRAW_EVERY_S:
            return
        last = time.monotonic()
        t, b = run_blocks(st)
        try:
            await client.chat_update(channel=caller.channel, ts=ts, text=t, blocks=b)
        except SlackApiError as e:
            log.warning("could not redraw the runbook's message", error=e.response.get("error"), run_id=st.id)

    try:
        state = await run_prepared(deps, req, state, caller, trigger={**trigger, "message_ts": ts}, on_update=redraw)
    except Exception:
        log.exception("runbook run failed", run_id=state.id)
        await client.chat_update(channel=caller.channel, ts=ts, text="The runbook run stopped on an error on my "
                                 f"side (run `{state.id}`); the logs have the details.", blocks=[])
        return None
    for remedy in state.remedies:
        if remedy.request is not None and remedy.kind in ("approve", "auto"):
            try:
                await post_request(client, deps, remedy.request, note=remedy.note)
            except UsageError as e:
                log.warning("remediation request not posted", request_id=remedy.request.id, error=str(e))
    log.info("runbook run finished", run_id=state.id, runbook=state.runbook.name, outcome=state.outcome,
             findings=len(state.findings), remedies=[r.kind for r in state.remedies])
    return state


def register(app: AsyncApp, deps: Deps, groups: GroupMembership) -> None:

    @app.command("/sre", matchers=[_is_runbook])
    async def on_runbook(ack: AsyncAck, command: dict, respond: AsyncRespond, client: AsyncWebClient) -> None:
        text = unescape(command.get("text", ""))
        user, channel = command.get("user_id", ""), command.get("channel_id", "")
        bind_request(surface="slack", kind="runbook", user=user, channel=channel)
        try:
            name, service = parse_runbook_args(_runbook_words(text) or "")
        except UsageError as e:
            rendered, blocks = render_reply(Reply.error(str(e)))
            await ack(text=rendered, blocks=blocks, response_type="ephemeral")
            return
        if name == "list":
            rendered, blocks = render_reply(list_runbooks(deps))
            await ack(text=rendered, blocks=blocks, response_type="ephemeral")
            return
        await ack(text=f"📒 Starting runbook `{escape(name)}`…", response_type="ephemeral")
        caller = groups.caller_of_command(client, command)
        outcome = "error"
        try:
            req = await resolve_run(deps, name, service)
            state = await run_in_slack(client, deps, req, prepare_run(deps, req, caller), caller,
                                       trigger={"kind": "command", "text": f"/sre {text}"}, thread_ts=None)
            outcome = state.outcome if state else "bug"
        except UsageError as e:
            rendered, blocks = render_reply(Reply.error(str(e)))
            await respond_or_log(respond, text=rendered, blocks=blocks, response_type="ephemeral",
                                 replace_original=False)
        deps.metrics.requests.labels("slack", "runbook", outcome).inc()

    @app.action(RUN_RUNBOOK)
    async def on_run_click(ack: AsyncAck, body: dict, action: dict, client: AsyncWebClient) -> None:
        await ack()
        user = (body.get("user") or {}).get("id", "")
        container = body.get("container") or {}
        channel = (body.get("channel") or {}).get("id") or container.get("channel_id", "")
        message_ts = container.get("message_ts")
        thread_ts = container.get("thread_ts") or message_ts
        bind_request(surface="slack", kind="runbook_click", user=user, channel=channel)
        name, service = parse_button_value(action.get("value", ""))
        caller = groups.caller_of_action(client, body)
        try:
            if deps.store is not None and not await deps.store.first_time(
                    f"runbook-click:{channel}:{message_ts}:{action.get('value', '')}", now=deps.clock(),
                    ttl=_CLICK_TTL):
                raise UsageError(f"runbook `{name}` was just started from this message; its run is in the thread")
            req = await resolve_run(deps, name, service)
            await run_in_slack(client, deps, req, prepare_run(deps, req, caller), caller, thread_ts=thread_ts,
                               trigger={"kind": "suggestion", "suggestion_ts": message_ts, "thread_ts": thread_ts})
        except UsageError as e:
            try:
                await client.chat_postEphemeral(channel=channel, user=user, text=mrkdwn_safe(str(e)))
            except SlackApiError as err:
                log.warning("could not tell the clicker", error=err.response.get("error"))
