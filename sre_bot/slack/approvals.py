"""Approve, Reject (with an optional reason, in a modal) and Undo buttons; posting and redrawing request messages.

Each listener acks at once, turns the click into a `policy.Click` (Bolt has already verified Slack's signature),
and leaves every decision to `actions.approvals`. A refusal is told to the clicker alone (ephemeral) and changes
nothing; a decision redraws the request's message for everyone. The buttons enter the action path here: its deps
(`ActionDeps`, with the store) are built once, when the listeners are registered.
"""

from __future__ import annotations

import json
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import InputBlock, PlainTextInputElement, PlainTextObject
from slack_sdk.models.views import View
from slack_sdk.web.async_client import AsyncWebClient

from ..actions import approvals
from ..actions.catalog import CATALOG
from ..actions.deps import NO_STORE, ActionDeps
from ..actions.policy import Click, mention_list, parse_button_value
from ..deps import Deps
from ..errors import UsageError
from ..logging import bind_request, get_logger
from ..store.records import ActionRequest
from .action_blocks import APPROVE, REJECT, REJECT_MODAL, UNDO, request_blocks
from .render import escape
from .usergroups import GroupMembership

__all__ = ["register", "post_request", "redraw"]

log = get_logger(__name__)
_REASON_BLOCK, _REASON_INPUT = "reason", "reason_text"


async def _draw(deps: ActionDeps, req: ActionRequest, note: str | None, undone: bool = False) -> tuple[str, list[dict]]:
    killed = await approvals.kill_switch_state(deps) if req.status == "pending" else None
    who = mention_list(deps.config.actions.approvers_for(req.action, req.risk)) if req.action in CATALOG else ""
    undo = req.decided_by == approvals.AUTO and req.action == "alertmanager.silence" and not undone
    return request_blocks(req, kill_switch=killed, approvers=who, note=note, undo=undo)


async def post_request(client: AsyncWebClient, deps: Deps, req: ActionRequest, *, note: str | None = None) -> None:
    """Post the request's message (in its thread, if any) and remember where it is; `note` is plain text.
    `deps` needs a store (UsageError otherwise)."""
    actions = ActionDeps.of(deps)
    text, blocks = await _draw(actions, req, escape(note) if note else None)
    try:
        posted = await client.chat_postMessage(channel=req.channel, thread_ts=req.thread_ts, text=text,
                                               blocks=blocks)
    except SlackApiError as e:  # not in the channel, archived, …: nobody could approve it, so it must not wait
        error = e.response.get("error")
        reason = f"could not post the approval message ({error})"
        if req.status == "pending":
            await actions.store.mark_refused(req.id, reason=reason, now=actions.clock())
        await approvals.audit(actions, "refused", reason, request_id=req.id, code="not_posted", slack_error=error)
        hint = " Invite me to the channel (`/invite @sre-bot`) and ask again." if error == "not_in_channel" else ""
        raise UsageError(f"I could not post the request in this channel ({error}); nothing will run.{hint}") from e
    await actions.store.set_message(req.id, req.channel, posted["ts"])


async def redraw(client: AsyncWebClient, deps: Deps, req: ActionRequest, *, note: str | None = None,
                 undone: bool = False) -> None:
    """Update the request's message in place; a failed update is logged (the store already holds the truth).
    `deps` needs a store (UsageError otherwise)."""
    if not req.message_ts:
        return
    text, blocks = await _draw(ActionDeps.of(deps), req, note, undone)
    try:
        await client.chat_update(channel=req.channel, ts=req.message_ts, text=text, blocks=blocks)
    except SlackApiError as e:
        log.warning("could not update the request's message", request_id=req.id, error=e.response.get("error"))


def _click(body: dict[str, Any], value: str, groups: frozenset[str]) -> Click:
    user = body.get("user") or {}
    container = body.get("container") or {}
    rid, digest = parse_button_value(value)
    return Click(user=user.get("id", ""), user_name=user.get("username") or user.get("name"),
                 channel=(body.get("channel") or {}).get("id") or container.get("channel_id", ""),
                 message_ts=container.get("message_ts"), request_id=rid, fingerprint=digest, groups=groups)


async def _tell(client: AsyncWebClient, click: Click, text: str) -> None:
    try:
        await client.chat_postEphemeral(channel=click.channel, user=click.user, text=text)
    except SlackApiError as e:
        log.warning("could not tell the clicker", error=e.response.get("error"))


async def _finish(client: AsyncWebClient, deps: ActionDeps, click: Click, decided: approvals.Decided) -> None:
    if decided.refusal is not None:
        log.info("click refused", code=decided.refusal.code, request_id=click.request_id)
        await _tell(client, click, decided.refusal.message)
    if decided.changed and decided.request is not None:
        await redraw(client, deps, decided.request)


def register(app: AsyncApp, deps: Deps, groups: GroupMembership) -> None:
    if deps.store is None:
        _register_without_store(app)
        return
    actions = ActionDeps.of(deps)

    async def click_of(body: dict[str, Any], client: AsyncWebClient, value: str) -> Click:
        click = _click(body, value, (await groups.caller_of_action(client, body).resolved()).groups)
        bind_request(surface="slack", kind="action", user=click.user, channel=click.channel,
                     request_id=click.request_id)
        return click

    @app.action(APPROVE)
    async def on_approve(ack: AsyncAck, body: dict, action: dict, client: AsyncWebClient) -> None:
        await ack()
        click = await click_of(body, client, action.get("value", ""))

        async def running(req: ActionRequest) -> None:
            await redraw(client, actions, req)

        decided = await approvals.decide(actions, click, "approve", on_claimed=running)
        await _finish(client, actions, click, decided)

    @app.action(REJECT)
    async def on_reject(ack: AsyncAck, body: dict, action: dict, client: AsyncWebClient) -> None:
        await ack()
        click = await click_of(body, client, action.get("value", ""))
        refusal = await approvals.precheck(actions, click, "reject")
        if refusal is not None:
            await _tell(client, click, refusal.message)
            return
        meta = json.dumps({"value": action.get("value", ""), "channel": click.channel, "ts": click.message_ts})
        view = View(type="modal", callback_id=REJECT_MODAL, private_metadata=meta,
                    title=PlainTextObject(text="Reject the action"), submit=PlainTextObject(text="Reject"),
                    close=PlainTextObject(text="Cancel"),
                    blocks=[InputBlock(block_id=_REASON_BLOCK, optional=True, label="Why (optional)",
                                       element=PlainTextInputElement(action_id=_REASON_INPUT, multiline=True,
                                                                     max_length=500))])
        try:
            await client.views_open(trigger_id=body.get("trigger_id", ""), view=view)
        except SlackApiError as e:  # the trigger expired (3 s): reject without a reason rather than lose the click
            log.warning("could not open the reason modal; rejecting without one", error=e.response.get("error"))
            await _finish(client, actions, click, await approvals.decide(actions, click, "reject"))

    @app.view(REJECT_MODAL)
    async def on_reject_reason(ack: AsyncAck, body: dict, view: dict, client: AsyncWebClient) -> None:
        await ack()
        try:
            meta = json.loads(view.get("private_metadata") or "{}")
        except ValueError:
            meta = {}
        values = (view.get("state") or {}).get("values") or {}
        reason = ((values.get(_REASON_BLOCK) or {}).get(_REASON_INPUT) or {}).get("value") or ""
        fake_body = {"user": body.get("user"), "channel": {"id": meta.get("channel", "")},
                     "container": {"message_ts": meta.get("ts")}}
        click = await click_of(fake_body, client, str(meta.get("value", "")))
        await _finish(client, actions, click, await approvals.decide(actions, click, "reject", reason=reason.strip()))

    @app.action(UNDO)
    async def on_undo(ack: AsyncAck, body: dict, action: dict, client: AsyncWebClient) -> None:
        await ack()
        click = await click_of(body, client, action.get("value", ""))
        original, decided = await approvals.undo(actions, click)
        if decided.refusal is not None:
            await _tell(client, click, decided.refusal.message)
            return
        if decided.request is not None and original is not None:
            detail = escape(decided.request.outcome_detail or "")
            await redraw(client, actions, original, note=f"↩️ Undone by <@{click.user}>: {detail}", undone=True)


def _register_without_store(app: AsyncApp) -> None:
    """No store, so no request can exist: a click (on a message from another deployment) is told so and ignored."""

    async def no_store(ack: AsyncAck, body: dict, client: AsyncWebClient) -> None:
        await ack()
        click = _click(body, "", frozenset())
        log.warning("action click without a store", user=click.user, channel=click.channel)
        await _tell(client, click, f"Nothing was run: {NO_STORE}.")

    for action_id in (APPROVE, REJECT, UNDO):
        app.action(action_id)(no_store)
