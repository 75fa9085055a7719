"""The deploy watcher: every completed Argo CD sync gets a verdict once `deploys.wait` has passed, by one replica.

    await run_deploys(client, deps, stop)        # until `stop` (serve runs it when Argo CD, Prometheus and a store are
                                                 # configured and `deploys.enabled`)

Each `DeployWatcher.step()`: takes (or renews) the `deploys` lease (a replica without it does nothing); lists the Argo
CD apps (those in `deploys.apps`, or all); for every sync in `[now - lookback, now - wait]` that has no verdict yet,
judges it (`services/deploy_check.check_deploy`) and records the verdict (`store.verdicts.record`: one per sync, the
database decides, so a sync is never judged twice). Then the verdict is posted to the app's route or the deploys
channel (`DeploysConfig.channel_for({app, service, project})`):

- bad: a message with the evidence quoted, and in its thread the `argocd.rollback` approval request
  (`propose_rollback`: the ladder, approvers and kill switch apply; a deploy check never runs it unattended);
- suspicious: a short note (`deploys.suspicious: note`), or nothing (`quiet`);
- healthy / unknown: nothing (recorded only).

A Slack failure is logged; the verdict stays recorded (a restart does not post it again).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from contextlib import suppress
from datetime import timedelta

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from ..deps import Deps
from ..errors import BackendError, UsageError
from ..logging import get_logger
from ..services.deploy_check import DeployCheck, check_deploy, check_reply, headline, propose_rollback, record_check
from ..store.errors import StoreError
from ..store.incidents import Lease
from .approvals import post_request
from .render import render_reply

__all__ = ["DeployWatcher", "run_deploys", "post_verdict", "LEASE", "LEASE_TTL"]

log = get_logger(__name__)

LEASE = "deploys"
LEASE_TTL = timedelta(seconds=90)


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class DeployWatcher:
    """Finds syncs due for a verdict and judges them; `step()` is safe from several replicas (the lease decides)."""

    def __init__(self, deps: Deps, *, holder: str | None = None) -> None:
        if deps.store is None:
            raise ValueError("the deploy watcher needs the store")
        self._deps = deps
        self.holder = holder or _holder()
        self._epoch: int | None = None

    async def step(self) -> list[DeployCheck]:
        deps, store, cfg = self._deps, self._deps.store, self._deps.config.deploys
        assert store is not None
        if deps.argocd is None:
            return []
        now = deps.clock()
        self._epoch = await store.leases.acquire(LEASE, self.holder, ttl=LEASE_TTL, now=now)
        if self._epoch is None:
            return []
        try:
            apps = await deps.argocd.list_apps()
        except BackendError as e:
            log.warning("deploy watcher: Argo CD not read; trying again next time", error=str(e))
            return []
        out = []
        for app in apps:
            if not cfg.watches(app.name):
                continue
            due = [d for d in app.history if now - cfg.lookback_delta <= d.deployed_at <= now - cfg.wait_delta]
            if not due:
                continue
            judged = await store.verdicts.judged(app.name, [d.deployed_at for d in due])
            for d in sorted(due, key=lambda d: d.deployed_at):
                if d.deployed_at in judged:
                    continue
                try:
                    check = await check_deploy(deps, app.name, synced_at=d.deployed_at, app=app)
                except UsageError as e:
                    log.warning("deploy not judged", app=app.name, revision=d.revision[:12], error=str(e))
                    continue
                if await record_check(deps, check) is None:
                    continue  # another replica judged it first
                log.info("deploy judged", app=app.name, revision=d.revision[:12], verdict=check.verdict.verdict,
                         findings=len(check.verdict.reasons))
                out.append(check)
        return out

    async def release(self) -> None:
        if self._epoch is not None and self._deps.store is not None:
            await self._deps.store.leases.release(Lease(LEASE, self.holder, self._epoch), now=self._deps.clock())
        self._epoch = None


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
        text = headline(check) + "".join(f"\n• {r}" for r in check.verdict.reasons[:3]) + \
            f"\n_No rollback proposed; `/sre deploy-check {check.app} {check.revision[:7]}` shows the evidence._"
        posted = await client.chat_postMessage(channel=channel, text=text[:3000], unfurl_links=False)
        await store.verdicts.attach(check.verdict_id, channel=channel, message_ts=str(posted["ts"]))
        return
    text, blocks = render_reply(check_reply(check))
    posted = await client.chat_postMessage(channel=channel, text=text[:3000], blocks=blocks, unfurl_links=False)
    ts = str(posted["ts"])
    await store.verdicts.attach(check.verdict_id, channel=channel, message_ts=ts)
    proposed = await propose_rollback(deps, check, channel=channel, thread_ts=ts)
    if proposed is None:
        return
    if proposed.request is not None:
        await store.verdicts.attach(check.verdict_id, request_id=proposed.request.id)
        await post_request(client, deps, proposed.request,
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
