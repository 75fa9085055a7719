"""The incident loop: process the alert inbox, then keep one Slack message per incident current.

    wake = asyncio.Event()                       # the Alertmanager webhook sets it after storing a notification
    await run_incidents(client, deps, stop, wake)

Each cycle: `IncidentProcessor.step()` until the inbox is empty (only the replica holding the lease does work),
then every incident whose message is missing or behind goes through the incident workflow
(`incidents/workflow.py`), which decides what to post, redraw or note in the thread — the first message, its
redraws, batched alert changes, the root-service investigation's answer and approval requests, runbook and
merge/split suggestions — and writes the store. This module only renders and sends those items (`SlackOutbox`):
`chat.postMessage` once per incident (its ts is stored), `chat.update` for redraws. Slack failures are logged and
retried with a backoff; the store keeps what is still to publish, so a restart carries on with the same messages.
After publishing, the escalation rule runs over the open incidents (`IncidentWorkflow.escalate`). `register` takes
the incident message's "Acknowledge" button (`escalation.service.acknowledge`; the loop redraws the message).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from ..analysis.topology import Topology
from ..deps import Deps
from ..escalation.service import acknowledge
from ..incidents.processor import IncidentProcessor
from ..incidents.workflow import (
    Announce,
    Answer,
    ApprovalRequest,
    ChangeNote,
    EscalationNote,
    IncidentWorkflow,
    Item,
    NotDelivered,
    Redraw,
    RunbookSuggestions,
    Suggestion,
)
from ..logging import bind_request, get_logger
from ..store.errors import StoreError
from .approvals import post_request
from .feedback import post_answer
from .incident_blocks import ACKNOWLEDGE, METADATA_EVENT, batch_blocks, incident_blocks
from .render import escape
from .runbooks import post_runbook_suggestions
from .usergroups import GroupMembership

__all__ = ["IncidentPublisher", "SlackOutbox", "run_incidents", "cycle", "register"]

log = get_logger(__name__)

DEBOUNCE_S = 0.5  # after a wake-up, process once no notification arrived for this long …
SETTLE_MAX_S = 3.0  # … or this long after the first, whichever comes first
MAX_BACKOFF_S = 600.0


@dataclass
class SlackOutbox:
    """Renders the workflow's items as Slack messages and sends them; a Slack error becomes NotDelivered."""
    client: AsyncWebClient
    deps: Deps

    async def send(self, item: Item) -> str | None:
        try:
            return await self._send(item)
        except SlackApiError as e:
            raise NotDelivered(e.response.get("error")) from e

    async def _send(self, item: Item) -> str | None:
        if isinstance(item, ApprovalRequest):  # UsageError when it cannot be posted (then refused and audited)
            await post_request(self.client, self.deps, item.request)
            return None
        s = item.incident
        assert s.channel is not None
        if isinstance(item, Announce):
            text, blocks = incident_blocks(s, numbers=item.numbers, investigating=item.investigating,
                                           acknowledged=item.acknowledged)
            resp = await self.client.chat_postMessage(
                channel=s.channel, text=text, blocks=blocks, unfurl_links=False,
                metadata={"event_type": METADATA_EVENT, "event_payload": {"key": s.key, "number": s.number}})
            return str(resp["ts"])
        assert s.message_ts is not None
        if isinstance(item, Redraw):
            text, blocks = incident_blocks(s, numbers=item.numbers, investigating=item.investigating,
                                           acknowledged=item.acknowledged)
            await self.client.chat_update(channel=s.channel, ts=s.message_ts, text=text, blocks=blocks)
        elif isinstance(item, ChangeNote):
            text, blocks = batch_blocks(s, item.joined, item.resolved, item.refired)
            await self.client.chat_postMessage(channel=s.channel, thread_ts=s.message_ts, text=text, blocks=blocks)
        elif isinstance(item, Suggestion):
            text = (f"💡 *Suggestion from {escape(item.model)}, not applied:* {item.what} — {escape(item.reason)}\n"
                    f"> {escape(item.quote)}\nThe rules keep the grouping as it is; a person decides "
                    f"(`/sre incident {s.number}` shows why alerts were grouped).")
            await self.client.chat_postMessage(channel=s.channel, thread_ts=s.message_ts, text=text[:3000])
        elif isinstance(item, Answer):
            await post_answer(self.client, self.deps, item.reply, channel=s.channel, thread_ts=s.message_ts,
                              requests=item.requests)
        elif isinstance(item, EscalationNote):
            await self.client.chat_postMessage(channel=s.channel, thread_ts=s.message_ts, text=item.text[:3000])
        elif isinstance(item, RunbookSuggestions):
            await post_runbook_suggestions(self.client, self.deps, channel=s.channel, thread_ts=s.message_ts,
                                           matches=item.matches)
        return None


@dataclass
class _Retry:
    failures: int = 0
    not_before: float = 0.0


@dataclass
class IncidentPublisher:
    client: AsyncWebClient
    deps: Deps
    topology: Callable[[], Topology] | None = None  # the processor's current topology (the investigation's target)
    workflow: IncidentWorkflow = field(init=False)
    outbox: SlackOutbox = field(init=False)
    _retry: dict[str, _Retry] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.workflow = IncidentWorkflow(self.deps, topology=self.topology)
        self.outbox = SlackOutbox(self.client, self.deps)

    async def publish(self) -> int:
        """Post or redraw every incident that is behind; returns how many were brought up to date."""
        done = 0
        for s in await self.workflow.due():
            retry = self._retry.get(s.key)
            if retry is not None and time.monotonic() < retry.not_before:
                continue
            try:
                await self.workflow.publish(s, self.outbox)
                self._retry.pop(s.key, None)
                done += 1
            except NotDelivered as e:
                r = self._retry.setdefault(s.key, _Retry())
                r.failures += 1
                delay = min(MAX_BACKOFF_S, 2.0 ** r.failures)
                r.not_before = time.monotonic() + delay
                log.error("incident message not published; retrying", incident=s.number, channel=s.channel,
                          error=e.error, retry_in_s=delay)
        await self.workflow.escalate(self.outbox)
        return done

    async def drain(self) -> None:
        """Wait for running investigations and advice (on shutdown)."""
        await self.workflow.drain()


async def _settle(wake: asyncio.Event) -> None:
    """Let a burst of notifications land before processing: wait until none arrived for DEBOUNCE_S (at most
    SETTLE_MAX_S). Alertmanager flushes every group of a storm within moments of each other, in no set order; a
    batch that holds them all is correlated in event order, so a chain's middle is never seen after its ends."""
    deadline = asyncio.get_running_loop().time() + SETTLE_MAX_S
    while wake.is_set() and asyncio.get_running_loop().time() < deadline:
        wake.clear()
        try:
            await asyncio.wait_for(wake.wait(), DEBOUNCE_S)
        except TimeoutError:
            return


async def cycle(processor: IncidentProcessor, publisher: IncidentPublisher) -> int:
    """Process the whole inbox, then publish; returns the number of alerts correlated."""
    alerts = 0
    while True:
        step = await processor.step()
        alerts += step.alerts
        if not step.held or step.bodies == 0:
            break
    if processor.lease is not None:
        await publisher.publish()
    return alerts


async def run_incidents(client: AsyncWebClient, deps: Deps, stop: asyncio.Event, wake: asyncio.Event, *,
                        processor: IncidentProcessor | None = None) -> None:
    """Until `stop`; a failed cycle is logged and the next one tries again (nothing is lost: the inbox keeps it)."""
    processor = processor or IncidentProcessor(deps)
    publisher = IncidentPublisher(client, deps, topology=lambda: processor.topology)
    every = deps.config.incidents.every_delta.total_seconds()
    try:
        while not stop.is_set():
            try:
                await cycle(processor, publisher)
            except Exception:
                log.exception("incident cycle failed; retrying")
            waiter = asyncio.ensure_future(wake.wait())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({waiter, stopper}, timeout=every, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            stopper.cancel()
            if wake.is_set() and not stop.is_set():
                await _settle(wake)
    finally:
        await publisher.drain()
        try:
            await processor.release()
        except StoreError as e:
            log.warning("incident lease not released; another replica takes over when it expires", error=str(e))


def register(app: AsyncApp, deps: Deps, groups: GroupMembership) -> None:
    """The incident message's "Acknowledge" button: recorded once, told to the clicker; the loop redraws it."""

    @app.action(ACKNOWLEDGE)
    async def on_acknowledge(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any],
                             client: AsyncWebClient) -> None:
        await ack()
        user = body.get("user") or {}
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id", "")
        bind_request(surface="slack", kind="incident_ack", user=user.get("id"), channel=channel)
        done = await acknowledge(deps, str(action.get("value") or "")[:200], user=user.get("id", ""),
                                 user_name=user.get("username") or user.get("name"))
        try:
            await client.chat_postEphemeral(channel=channel, user=user.get("id", ""), text=done.message)
        except SlackApiError as e:
            log.warning("acknowledgement not told", error=e.response.get("error"))
