"""How Bolt answers Slack: the ack goes out the moment a listener calls `ack()` (or at once for events), and nothing
on its path waits for the store, a Slack Web API call or an investigation.

Three replacements inside the Bolt app (`install`, called by `app.py`):

- `PromptListenerRunner`: Bolt's own runner (not `process_before_response`) starts the listener in a task and then
  polls `ack.response` every 10 ms; under a burst every pending ack is a timer firing a hundred times a second, and
  each ack waits for its next tick. This runner wakes on the `ack()` call itself (`GatedAck.called`) instead.
- `GatedAck`: the check that a request is not a replay sent to another replica asks the store, which on SQLite waits
  for the write lock. `http.py` decides the ack in this process (a signature seen here gets an empty 200) and hands
  the store's verdict over as a future in the request's context; the listener's `ack()` answers Slack at once and
  then holds the listener until the verdict is in. A replay gets its ack, and nothing after it runs (one warning
  line). Events are acked before their listener starts, which waits for the verdict the same way.
- `SharedAuthorization`: Bolt's single-team authorization calls `auth.test` on the path of the first request's ack
  and, under a burst at start, once per request in flight. Here one call is shared by every request that waits
  for it, and `warm_up` makes it at start-up, so no ack waits for it afterwards.

Replies to a command's `response_url` (`respond`) go through the bot's one Slack session (`session.py`), not a new
session per reply.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_bolt.context.respond.internals import _build_message
from slack_bolt.listener.async_listener import AsyncListener
from slack_bolt.listener.asyncio_runner import AsyncioListenerRunner
from slack_bolt.middleware.authorization.async_internals import _is_no_auth_required
from slack_bolt.middleware.authorization.async_single_team_authorization import AsyncSingleTeamAuthorization
from slack_bolt.middleware.authorization.internals import _is_no_auth_test_call_required
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient, WebhookResponse

from ..logging import get_logger
from .session import SlackSession

__all__ = ["install", "warm_up", "GatedAck", "PromptListenerRunner", "SharedAuthorization", "VERDICT", "REPLAYED"]

log = get_logger(__name__)

VERDICT = "sre_bot_first_time"  # the request context's key for the store's verdict (a future of bool)
REPLAYED = "Slack request refused: a replay of one already handled (same signature)"


class Replayed(Exception):
    """The store says another replica (or this one, earlier) already handled this signed request."""


class GatedAck(AsyncAck):
    """Bolt's `ack()`: sets the response Slack gets, says so (`called`), then lets the listener go on only once the
    store confirmed the request is not a replay (`Replayed` otherwise)."""

    def __init__(self, verdict: asyncio.Future[bool] | None) -> None:
        super().__init__()
        self.called = asyncio.Event()
        self._verdict = verdict

    async def __call__(self, *args: Any, **kwargs: Any) -> BoltResponse:
        response = await self.answer(*args, **kwargs)
        await self.confirmed()
        return response

    async def answer(self, *args: Any, **kwargs: Any) -> BoltResponse:
        """Set the ack's response without waiting for the verdict (the runner's automatic ack of an event)."""
        response = await super().__call__(*args, **kwargs)
        self.called.set()
        return response

    async def confirmed(self) -> None:
        if self._verdict is not None and not await asyncio.shield(self._verdict):
            raise Replayed()


class SessionRespond(AsyncRespond):
    """Bolt's `respond()` through the bot's one Slack session (Bolt's opens a session per reply)."""

    def __init__(self, *, response_url: str | None, session: SlackSession, ssl: Any = None) -> None:
        super().__init__(response_url=response_url, ssl=ssl)
        self._session = session

    async def __call__(self, text: str | dict = "", blocks: Sequence[Any] | None = None,
                       attachments: Sequence[Any] | None = None, response_type: str | None = None,
                       replace_original: bool | None = None, delete_original: bool | None = None,
                       unfurl_links: bool | None = None, unfurl_media: bool | None = None,
                       thread_ts: str | None = None, metadata: dict[str, Any] | None = None) -> WebhookResponse:
        if self.response_url is None:
            raise ValueError("respond is unsupported here as there is no response_url")
        client = AsyncWebhookClient(url=self.response_url, ssl=self.ssl, session=self._session.get())
        if isinstance(text, dict):
            return await client.send_dict(_build_message(**text))
        return await client.send_dict(_build_message(
            text=text, blocks=blocks, attachments=attachments, response_type=response_type,
            replace_original=replace_original, delete_original=delete_original, unfurl_links=unfurl_links,
            unfurl_media=unfurl_media, thread_ts=thread_ts, metadata=metadata))


class PromptListenerRunner(AsyncioListenerRunner):
    """Bolt's listener runner, answering Slack the moment the listener acks (see the module's docstring)."""

    session: SlackSession | None = None
    _tasks: set[asyncio.Task[None]]

    @classmethod
    def replacing(cls, old: AsyncioListenerRunner, session: SlackSession | None) -> PromptListenerRunner:
        runner = cls(logger=old.logger, process_before_response=old.process_before_response,
                     listener_error_handler=old.listener_error_handler,
                     listener_start_handler=old.listener_start_handler,
                     listener_completion_handler=old.listener_completion_handler,
                     lazy_listener_runner=old.lazy_listener_runner)
        runner.session = session
        runner._tasks = set()
        return runner

    async def run(self, request: AsyncBoltRequest, response: BoltResponse, listener_name: str,
                  listener: AsyncListener, starting_time: float | None = None) -> BoltResponse | None:
        if self.process_before_response or request.lazy_only or listener.lazy_functions:
            return await super().run(request, response, listener_name, listener, starting_time)
        ack = request.context.get("ack")
        if not isinstance(ack, GatedAck):
            ack = GatedAck(request.context.get(VERDICT))
            request.context["ack"] = ack
        # (Bolt has built its own `respond` already, for the matchers' arguments)
        if self.session is not None and request.context.response_url \
                and not isinstance(request.context.get("respond"), SessionRespond):
            request.context["respond"] = SessionRespond(response_url=request.context.response_url,
                                                        session=self.session, ssl=request.context.client.ssl)
        if listener.auto_acknowledgement:
            await ack.answer()  # events: acked at once; the listener waits for the verdict in its task
        task = asyncio.create_task(self._work(ack, request, response, listener))
        self._tasks.add(task)  # kept until done (the loop holds tasks only weakly)
        task.add_done_callback(self._tasks.discard)
        if ack.response is None:
            called = asyncio.create_task(ack.called.wait())
            try:
                await asyncio.wait((task, called), timeout=listener.ack_timeout,
                                   return_when=asyncio.FIRST_COMPLETED)
            finally:
                called.cancel()
        if ack.response is None:
            log.warning("a listener did not ack within its time", listener=listener_name,
                        ack_timeout_s=listener.ack_timeout)
            return None
        return ack.response

    async def _work(self, ack: GatedAck, request: AsyncBoltRequest, response: BoltResponse | None,
                    listener: AsyncListener) -> None:
        """The listener, as Bolt runs it after the ack (its error handler, its start and completion hooks)."""
        try:
            if listener.auto_acknowledgement:
                await ack.confirmed()
            await self.listener_start_handler.handle(request=request, response=response)
            await listener.run_ack_function(request=request, response=response)  # type: ignore[arg-type]
        except Replayed:
            body = request.body
            log.warning(REPLAYED, trigger_id=body.get("trigger_id"), type=body.get("type") or body.get("command"),
                        decided_by="store")
        except Exception as e:
            if response is None:
                response = BoltResponse(status=500)
            response.status = 500
            if ack.response is not None:  # already acknowledged
                response = None
            await self.listener_error_handler.handle(error=e, request=request, response=response)
            ack.response = response
        finally:
            await self.listener_completion_handler.handle(request=request, response=response)


class SharedAuthorization(AsyncSingleTeamAuthorization):
    """Bolt's single-team authorization with one `auth.test` shared by every request waiting for it."""

    _pending: asyncio.Future[Any] | None = None

    async def prime(self, client: AsyncWebClient) -> None:
        """Make (or join) the one `auth.test` call; a failure leaves the result unset for Bolt to report."""
        if self.auth_test_result is not None:
            return
        if self._pending is None:
            self._pending = asyncio.ensure_future(client.auth_test())
        pending = self._pending
        try:
            self.auth_test_result = await asyncio.shield(pending)
        except Exception as e:  # SlackApiError, aiohttp's errors: the request that needs it reports it (Bolt)
            log.warning("Slack auth.test failed; the next request tries again", error=f"{type(e).__name__}: {e}"[:200])
        finally:
            if self._pending is pending and pending.done():
                self._pending = None

    async def async_process(self, *, req: AsyncBoltRequest, resp: BoltResponse,
                            next: Callable[[], Awaitable[BoltResponse]]) -> BoltResponse:
        if self.auth_test_result is None and not _is_no_auth_required(req) and not _is_no_auth_test_call_required(req):
            await self.prime(req.context.client)
        return await super().async_process(req=req, resp=resp, next=next)


def install(app: AsyncApp, session: SlackSession | None) -> None:
    """Put the prompt runner and the shared authorization in `app` (before `@app.error`, which sets the runner's
    error handler)."""
    app._async_listener_runner = PromptListenerRunner.replacing(app._async_listener_runner, session)
    middleware = app._async_middleware_list
    for i, m in enumerate(middleware):
        if type(m) is AsyncSingleTeamAuthorization:
            shared = SharedAuthorization(base_logger=None,
                                         user_facing_authorize_error_message=m.user_facing_authorize_error_message)
            shared.logger = m.logger
            middleware[i] = shared


async def warm_up(app: AsyncApp) -> None:
    """Make the `auth.test` call now (at start-up), so that no ack waits for it."""
    started = time.monotonic()
    for m in app._async_middleware_list:
        if isinstance(m, SharedAuthorization):
            await m.prime(app.client)
            if m.auth_test_result is not None:
                log.debug("Slack auth.test done", seconds=round(time.monotonic() - started, 3))
