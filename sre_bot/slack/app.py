"""The Bolt app: built from the deps, with every listener module registered, and one error handler.

Its Web API client borrows the bot's one Slack session (`deps.slack`, `session.py`); Bolt's per-request clients
share it too. Acks go out as soon as a listener calls `ack()` (`acks.py`)."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from ..deps import Deps
from ..errors import ConfigError
from ..logging import get_logger
from . import approvals, commands, feedback, incidents, mentions, runbooks
from .acks import install
from .dedupe import SeenEvents, StoreSeenEvents
from .usergroups import GroupMembership

__all__ = ["build_app"]

log = get_logger(__name__)


def build_app(deps: Deps) -> AsyncApp:
    s = deps.settings
    if s.slack_bot_token is None:
        raise ConfigError("SLACK_BOT_TOKEN is not set (the bot token, xoxb-…, from your Slack app's OAuth page)")
    if s.slack_signing_secret is None and not s.socket_mode:
        raise ConfigError("SLACK_SIGNING_SECRET is not set (HTTP mode verifies every request with it); "
                          "or set SLACK_APP_TOKEN for Socket Mode")
    token = s.slack_bot_token.get_secret_value()
    client = AsyncWebClient(token=token, base_url=s.slack_api_url,
                            session=deps.slack.get() if deps.slack is not None else None)
    app = AsyncApp(
        client=client,
        signing_secret=s.slack_signing_secret.get_secret_value() if s.slack_signing_secret else None,
        # HTTP mode: `http.py` verifies each signature on the raw bytes before Bolt sees the request, and hands Bolt
        # the checked body re-encoded (which Bolt could not verify). Socket Mode: the app token authenticates.
        request_verification_enabled=False,
        process_before_response=False,  # ack first, work after: Slack's 3 s limit never depends on a backend
        logger=None,
    )
    install(app, deps.slack)  # before the listeners and `@app.error`
    groups = GroupMembership(deps.config.actions.all_groups())  # one cache of approver groups for every listener
    runbooks.register(app, deps, groups)  # before `commands`: it takes the `/sre runbook …` lines
    feedback.register(app, deps, groups)  # before `commands`: it takes the `/sre autonomy …` lines
    commands.register(app, deps, groups)
    mentions.register(app, deps, StoreSeenEvents(deps.store, deps.clock) if deps.store else SeenEvents(), groups)
    approvals.register(app, deps, groups)
    incidents.register(app, deps, groups)  # the incident message's Acknowledge button

    @app.error
    async def on_error(error: Exception, body: dict) -> None:
        log.error("unhandled error in a listener", error=repr(error), type=body.get("type"), exc_info=error)

    return app
