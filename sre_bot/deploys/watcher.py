"""The deploy watcher: every completed Argo CD sync gets a verdict once `deploys.wait` has passed, by one replica.

    watcher = DeployWatcher(deps)
    for check in await watcher.step():     # the syncs judged (and recorded) this step
        ...                                # a surface posts them (`slack/deploys.py`), the demo prints them

Each `step()`: takes (or renews) the `deploys` lease (a replica without it does nothing); lists the Argo CD apps
(those in `deploys.apps`, or all); for every sync in `[now - lookback, now - wait]` that has no verdict yet, judges it
(`services/deploy_check.check_deploy`) and records the verdict (`store.verdicts.record`: one per sync, the database
decides, so a sync is never judged twice, across replicas and restarts). A sync whose check hit a failing backend (an
error in its evidence) is not recorded for `RETRY_FOR` after its wait, so the next steps try again; after that the
verdict on what could be read is recorded, its gaps with it.
"""

from __future__ import annotations

from datetime import timedelta

from ..deps import Deps
from ..errors import BackendError, UsageError
from ..logging import get_logger
from ..services.deploy_check import DeployCheck, check_deploy, record_check
from ..store.incidents import Lease, lease_holder

__all__ = ["DeployWatcher", "LEASE", "LEASE_TTL"]

log = get_logger(__name__)

LEASE = "deploys"
LEASE_TTL = timedelta(seconds=90)
RETRY_FOR = timedelta(minutes=10)  # a sync whose check hit a failing backend is tried again this long


class DeployWatcher:
    """Finds syncs due for a verdict and judges them; `step()` is safe from several replicas (the lease decides)."""

    def __init__(self, deps: Deps, *, holder: str | None = None) -> None:
        if deps.store is None:
            raise ValueError("the deploy watcher needs the store")
        self._deps = deps
        self.holder = holder or lease_holder()
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
                failed = any(e.status == "error" for e in check.evidence)
                if failed and now < d.deployed_at + cfg.wait_delta + RETRY_FOR:
                    log.warning("deploy not judged yet: a backend failed; trying again", app=app.name,
                                revision=d.revision[:12])
                    continue
                if await record_check(deps, check) is None:
                    continue  # another replica judged it first
                log.info("deploy judged", app=app.name, revision=d.revision[:12], verdict=check.verdict.verdict,
                         findings=len(check.verdict.reasons))
                out.append(check)
        return out

    async def release(self) -> None:
        """Let another replica take over at once (on shutdown)."""
        if self._epoch is not None and self._deps.store is not None:
            await self._deps.store.leases.release(Lease(LEASE, self.holder, self._epoch), now=self._deps.clock())
        self._epoch = None
