"""`@sre-bot` mentions: a threaded "looking…" reply at once (saying how many questions are ahead when the bot is
busy), updated in place with progress, then with the answer."""

from __future__ import annotations

import asyncio
import contextlib
import time

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from ..deadline import answer_deadline
from ..deps import Deps
from ..errors import UsageError
from ..logging import bind_request, get_logger
from ..services.admission import ahead_text
from ..services.mention import answer_mention, may_investigate
from ..store.errors import StoreError
from .approvals import post_request
from .dedupe import SeenEvents, StoreSeenEvents
from .feedback import render_answer
from .render import looking_blocks
from .runbooks import post_runbook_suggestions
from .text import unescape
from .usergroups import GroupMembership

__all__ = ["register"]

log = get_logger(__name__)


PROGRESS_EVERY_S = 1.5  # chat.update is rate limited (about 50 a minute); progress is a courtesy, not a stream


class _Progress:
    """Updates the "looking…" message in place with what is being checked, at most every PROGRESS_EVERY_S; a line
    that comes sooner is not lost but sent when the interval ends (the newest one), unless the answer came first
    (`close`, before the answer replaces the message)."""

    def __init__(self, client: AsyncWebClient, channel: str, ts: str) -> None:
        self._client, self._channel, self._ts = client, channel, ts
        self._last = 0.0
        self._pending: str | None = None
        self._later: asyncio.Task[None] | None = None
        self._closed = False

    async def __call__(self, what: str) -> None:
        if self._closed:
            return
        wait = PROGRESS_EVERY_S - (time.monotonic() - self._last)
        if wait > 0:
            self._pending = what
            if self._later is None:
                self._later = asyncio.create_task(self._send_later(wait))
            return
        await self._send(what)

    async def _send_later(self, wait: float) -> None:
        await asyncio.sleep(wait)
        self._later = None
        what, self._pending = self._pending, None
        if what is not None and not self._closed:
            await self._send(what)

    async def _send(self, what: str) -> None:
        self._last = time.monotonic()
        text, blocks = looking_blocks(what)
        try:
            await self._client.chat_update(channel=self._channel, ts=self._ts, text=text, blocks=blocks)
        except Exception as e:  # a failed progress update must never cost the answer
            log.warning("progress update failed", error=str(e))

    async def close(self) -> None:
        """No more progress: the answer replaces the message next."""
        self._closed = True
        if self._later is not None:
            self._later.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._later


def _first_line(deps: Deps, text: str) -> str:
    """The first "looking…" line: where the question stands in line when investigations are all busy."""
    ahead = deps.offload.admission.ahead_of_a_new_question() if deps.offload is not None else None
    if ahead is None or not may_investigate(deps, text):
        return "checking the telemetry"
    return ahead_text(ahead, deps.offload.admission.in_progress if deps.offload is not None else 0)


def register(app: AsyncApp, deps: Deps, seen: SeenEvents | StoreSeenEvents, groups: GroupMembership) -> None:
    @app.event("app_mention")
    async def on_mention(body: dict, event: dict, client: AsyncWebClient) -> None:
        event_id = body.get("event_id") or f"{event.get('channel')}:{event.get('ts')}"
        cid = bind_request(surface="slack", kind="mention", user=event.get("user"), channel=event.get("channel"),
                           event_id=event_id)
        try:
            first = await seen.first_time(event_id)
        except StoreError as e:  # answering a Slack retry twice is better than not answering at all
            log.warning("mention answered without the duplicate check: the store failed", error=str(e))
            first = True
        if not first:
            log.info("duplicate event ignored (Slack retry)")
            return
        channel, thread = event["channel"], event.get("thread_ts") or event["ts"]
        started = time.monotonic()
        text, looking = looking_blocks(_first_line(deps, unescape(event.get("text", ""))))
        posted = await client.chat_postMessage(channel=channel, thread_ts=thread, text=text, blocks=looking)
        progress = _Progress(client, channel, posted["ts"])
        try:
            caller = groups.caller_of_event(client, event, thread_ts=thread)
            with answer_deadline(deps.settings.answer_deadline_s):  # one deadline for the whole answer
                reply = await answer_mention(deps, unescape(event.get("text", "")), thread=f"{channel}:{thread}",
                                             progress=progress, caller=caller)
            text, blocks = await render_answer(deps, reply, channel=channel, ts=posted["ts"], thread_ts=thread)
            outcome: str = reply.kind
        except Exception:
            log.exception("mention failed")
            text, blocks = f"Something went wrong on my side (ref `{cid}`); the logs have the details.", None
            outcome = "bug"
        await progress.close()
        await client.chat_update(channel=channel, ts=posted["ts"], text=text, blocks=blocks or [])
        if outcome != "bug":
            for req in reply.requests:
                try:
                    await post_request(client, deps, req, note=reply.request_notes.get(req.id))
                except (UsageError, StoreError) as e:
                    log.warning("approval request not posted", request_id=req.id, error=str(e))
            if reply.runbooks:  # "runbook X matches: run it?" with a Run it button, in the answer's thread
                await post_runbook_suggestions(client, deps, channel=channel, thread_ts=thread,
                                               matches=reply.runbooks)
        elapsed = time.monotonic() - started
        deps.metrics.requests.labels("slack", "mention", outcome).inc()
        deps.metrics.request_seconds.labels("slack", "mention").observe(elapsed)
        log.info("mention answered", outcome=outcome, seconds=round(elapsed, 3))
