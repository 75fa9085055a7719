"""The deploy loop: the watcher's verdicts (`deploys/watcher.py`) posted to Slack.

    await run_deploys(client, deps, stop)        # until `stop` (serve runs it when Argo CD, Prometheus and a store are
                                                 # configured and `deploys.enabled`)

Each cycle the watcher judges the syncs that are due (one replica, one verdict per sync, recorded first); each new
verdict is posted to the app's route or the deploys channel (`DeploysConfig.channel_for({app, service, project})`):

- bad: a message with the evidence quoted, and in its thread the `argocd.rollback` approval request
  (`propose_rollback`: the ladder, approvers and kill switch apply; a deploy check never runs it unattended);
- suspicious: a short note (`deploys.suspicious: note`), or nothing (`quiet`);
- healthy / unknown: nothing (recorded only).

A posted bad or suspicious verdict is stored as an answer (`verdict_draft`, answerer `deploy_check`) linked to the
rollback request it proposed, and carries the "Right call?" buttons: votes on it measure the deploy check
(`/sre accuracy`, apart from the investigation answers) and count for the rollback's step-down. A bad verdict's
buttons are added by `chat.update` once its request exists (the request is proposed in the message's thread).

A Slack failure is logged; the verdict stays recorded (a restart does not post it again).
"""

from __future__ import annotations

import asyncio
from contextlib import suppress

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from ..deploys.watcher import DeployWatcher
from ..deps import Deps
from ..errors import UsageError
from ..logging import get_logger
from ..services.deploy_check import DeployCheck, check_reply, headline, propose_rollback, track_record, verdict_draft
from ..services.reply import md_escape
from ..store.errors import StoreError
from ..store.feedback import StoredAnswer
from ..store.records import new_request_id
from .approvals import post_request
from .feedback_blocks import FEEDBACK_BLOCKS, feedback_blocks
from .render import render_reply

__all__ = ["run_deploys", "post_verdict", "cycle"]

log = get_logger(__name__)


async def _store_answer(deps: Deps, check: DeployCheck, *, channel: str, ts: str | None,
                        requests: list[tuple[str, str]]) -> StoredAnswer | None:
    """The verdict as an answer to vote on; None when there is nothing to score or the store failed (the verdict
    is posted without buttons)."""
    draft = verdict_draft(check)
    if draft is None or deps.store is None:
        return None
    answer = StoredAnswer(id=new_request_id(), at=deps.clock(), channel=channel, message_ts=ts, thread_ts=None,
                          draft=draft, requests=requests)
    try:
        return await deps.store.feedback.add_answer(answer)
    except StoreError as e:
        log.warning("deploy verdict not stored as an answer; posted without feedback buttons", error=str(e))
        return None


async def post_verdict(client: AsyncWebClient, deps: Deps, check: DeployCheck) -> None:
    """Post one recorded verdict where it belongs (see the module docstring)."""
    cfg = deps.config.deploys
    labels = {"app": check.app, "service": check.service, **({"project": check.project} if check.project else {})}
    channel = cfg.channel_for(labels)
    v = check.verdict.verdict
    if channel is None or v in ("healthy", "unknown") or (v == "suspicious" and cfg.suspicious == "quiet"):
        return
    store = deps.store
    assert store is not None
    if v == "suspicious":
        record = track_record(v)
        text = headline(check) + "".join(f"\n• {md_escape(r)}" for r in check.verdict.reasons[:3]) + \
            f"\n_No rollback proposed; `/sre deploy-check {check.app} {check.revision[:7]}` shows the evidence._" + \
            (f"\n_{md_escape(record[0].upper() + record[1:])}._" if record else "")
        answer = await _store_answer(deps, check, channel=channel, ts=None, requests=[])
        blocks = None if answer is None else [
            {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}},
            *feedback_blocks(answer.id, verdict=True)]
        posted = await client.chat_postMessage(channel=channel, text=text[:3000], blocks=blocks, unfurl_links=False)
        await store.verdicts.attach(check.verdict_id, channel=channel, message_ts=str(posted["ts"]))
        if answer is not None:
            try:
                await store.feedback.set_message(answer.id, str(posted["ts"]))
            except StoreError as e:  # the votes still work: the channel is checked, the message is not
                log.warning("deploy verdict's message not recorded", error=str(e))
        return
    text, blocks = render_reply(check_reply(check), reserve=FEEDBACK_BLOCKS)
    posted = await client.chat_postMessage(channel=channel, text=text[:3000], blocks=blocks, unfurl_links=False)
    ts = str(posted["ts"])
    await store.verdicts.attach(check.verdict_id, channel=channel, message_ts=ts)
    proposed = await propose_rollback(deps, check, channel=channel, thread_ts=ts)
    request = proposed.request if proposed is not None else None
    answer = await _store_answer(deps, check, channel=channel, ts=ts,
                                 requests=[(request.id, request.action)] if request is not None else [])
    if answer is not None:
        try:
            await client.chat_update(channel=channel, ts=ts, text=text[:3000],
                                     blocks=blocks + feedback_blocks(answer.id, verdict=True))
        except SlackApiError as e:  # the request still goes in the thread
            log.warning("deploy verdict's feedback buttons not added", error=e.response.get("error"))
    if proposed is None:
        return
    if request is not None:
        await store.verdicts.attach(check.verdict_id, request_id=request.id)
        await post_request(client, deps, request,
                           note=f"Proposed by the deploy check of {check.app} {check.revision[:7]} (bad)")
    elif proposed.note:
        await client.chat_postMessage(channel=channel, thread_ts=ts,
                                      text=f"Rollback not requested: {proposed.note}"[:3000])


async def cycle(client: AsyncWebClient, deps: Deps, watcher: DeployWatcher) -> int:
    """One step and its posts; returns how many syncs were judged."""
    checks = await watcher.step()
    for check in checks:
        try:
            await post_verdict(client, deps, check)
        except (SlackApiError, UsageError) as e:
            log.error("deploy verdict not posted", app=check.app, verdict=check.verdict.verdict, error=str(e)[:300])
    return len(checks)


async def run_deploys(client: AsyncWebClient, deps: Deps, stop: asyncio.Event, *,
                      watcher: DeployWatcher | None = None) -> None:
    """Until `stop`; a failed cycle is logged and the next one tries again."""
    watcher = watcher or DeployWatcher(deps)
    every = deps.config.deploys.every_delta.total_seconds()
    try:
        while not stop.is_set():
            try:
                await cycle(client, deps, watcher)
            except StoreError as e:
                log.warning("deploy watcher: the store did not answer; retrying", error=str(e))
            except Exception:
                log.exception("deploy watcher cycle failed; retrying")
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
    finally:
        with suppress(StoreError):
            await watcher.release()
