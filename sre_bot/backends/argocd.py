"""Argo CD: applications, their deploy history and resource trees over the REST API, through an injected httpx client.

Fields read (Argo CD v3 `v1alpha1Application`): `metadata.name`, `spec.project`, `spec.destination.namespace`,
`spec.source(s).repoURL`, `status.sync.status/revision(s)`, `status.health.status`,
`status.operationState.phase/message/finishedAt`, and `status.history[]` (`v1alpha1RevisionHistory`: id,
revision(s), deployedAt, deployStartedAt, initiatedBy.username/automated, source(s).repoURL/path).

Writes (what an approved action runs): `rollback` (`applicationApplicationRollbackRequest`), `sync`
(`applicationApplicationSyncRequest`) and `run_resource_action` (`applicationResourceActionRunRequestV2`, falling
back to the deprecated v1 endpoint on an Argo CD too old to route v2). A failed write names what was attempted and
quotes Argo CD's own `message` ("rollback cannot be initiated when auto-sync is enabled"); a write that timed out
says it may still have been applied.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from ..errors import BackendError, BackendTimeout, NotFound, Unauthorized
from ..metrics import Metrics
from ..models import Application, DeployRecord, ResourceNode
from ._http import Target, auth_headers, json_body, malformed, send, timed

__all__ = ["ArgoCDBackend"]

_FRACTION = re.compile(r"(\.\d{6})\d+")
_NO_V2 = frozenset({404, 405, 501})  # how an Argo CD without the v2 actions route answers (grpc-gateway v1 and v2)


def _time(value: Any) -> datetime | None:
    """An RFC 3339 `v1Time` (`2024-03-04T22:00:06Z`, maybe with nanoseconds) or None."""
    if not value:
        return None
    return datetime.fromisoformat(_FRACTION.sub(r"\1", str(value)).replace("Z", "+00:00"))


def _dict(obj: Any, *keys: str) -> dict[str, Any]:
    """`obj[k1][k2]...` as a dict, `{}` wherever a level is missing or null."""
    for k in keys:
        obj = obj.get(k) if isinstance(obj, dict) else None
    return obj if isinstance(obj, dict) else {}


def _first_source(obj: dict[str, Any]) -> dict[str, Any]:
    """`source`, or the first of `sources` (multi-source applications)."""
    if obj.get("source"):
        return _dict(obj, "source")
    sources = obj.get("sources") or []
    return sources[0] if sources and isinstance(sources[0], dict) else {}


def _revision(obj: dict[str, Any]) -> str | None:
    return obj.get("revision") or ", ".join(obj.get("revisions") or []) or None


def _deploy(item: dict[str, Any]) -> DeployRecord:
    src = _first_source(item)
    source = src.get("repoURL")
    if source and src.get("path"):
        source = f"{source.rstrip('/')}/{src['path']}"
    by = _dict(item, "initiatedBy")
    initiated = by.get("username") or ("automated" if by.get("automated") else None)
    deployed_at = _time(item.get("deployedAt"))
    if deployed_at is None:
        raise ValueError(f"history entry {item.get('id')} has no deployedAt")
    return DeployRecord(id=int(item.get("id") or 0), revision=_revision(item) or "", deployed_at=deployed_at,
                        deploy_started_at=_time(item.get("deployStartedAt")), initiated_by=initiated, source=source)


def _parse_application(obj: dict[str, Any]) -> Application:
    """A `v1alpha1Application` JSON object as an `Application`, history newest first."""
    spec, status = _dict(obj, "spec"), _dict(obj, "status")
    op = _dict(status, "operationState")
    history = sorted((_deploy(h) for h in status.get("history") or []),
                     key=lambda d: (d.deployed_at, d.id), reverse=True)
    return Application(
        name=_dict(obj, "metadata")["name"],
        project=spec.get("project") or "default",
        namespace=_dict(spec, "destination").get("namespace") or None,
        sync_status=_dict(status, "sync").get("status") or "Unknown",
        health_status=_dict(status, "health").get("status") or "Unknown",
        revision=_revision(_dict(status, "sync")),
        repo_url=_first_source(spec).get("repoURL"),
        history=history,
        operation_phase=op.get("phase"),
        operation_message=op.get("message"),
        operation_finished_at=_time(op.get("finishedAt")),
    )


def _node(obj: dict[str, Any]) -> ResourceNode:
    return ResourceNode(kind=obj["kind"], name=obj["name"], namespace=obj.get("namespace") or None,
                        group=obj.get("group") or None, health=_dict(obj, "health").get("status"),
                        version=obj.get("version") or None)


def _write_error(e: BackendError, what: str, name: str, permission: str) -> BackendError:
    """`e` retold for a write: what was attempted first, and what a 403 or a timeout means for it."""
    msg = f"{what}: {e.args[0]}"
    if e.status == 403:
        msg += (f" (Argo CD also answers 403 when application {name!r} does not exist, or when the token's account"
                f" lacks the {permission!r} permission on it)")
    if isinstance(e, BackendTimeout):
        msg += "; it may still have been applied: look at the application before trying again"
    return type(e)(msg, backend=e.backend, operation=e.operation, status=e.status)


class ArgoCDBackend:
    """Async Argo CD client. Every method raises a `BackendError` subclass on failure."""

    name = "argocd"

    def __init__(self, client: httpx.AsyncClient, base_url: str, *, token: str | None = None,
                 metrics: Metrics | None = None) -> None:
        self._client = client
        self._target = Target(self.name, "Argo CD", base_url.rstrip("/"))
        self._headers = auth_headers(token)
        self._metrics = metrics

    @property
    def base_url(self) -> str:
        return self._target.base_url

    def app_url(self, name: str) -> str:
        return f"{self.base_url}/applications/{quote(name, safe='')}"

    def _path(self, name: str, suffix: str = "") -> str:
        return f"/api/v1/applications/{quote(name, safe='')}{suffix}"

    async def _get(self, operation: str, path: str) -> Any:
        resp = await send(self._client, self._target, operation, path, headers=self._headers)
        return self._object(operation, resp)

    def _object(self, operation: str, resp: httpx.Response) -> dict[str, Any]:
        body = json_body(self._target, operation, resp)
        if not isinstance(body, dict):
            raise malformed(self._target, operation, "not a JSON object")
        return body

    def _parse(self, operation: str, fn: Any, items: list[Any]) -> list[Any]:
        try:
            return [fn(i) for i in items]
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise malformed(self._target, operation, f"{type(e).__name__}: {e}") from e

    async def list_apps(self) -> list[Application]:
        with timed(self._metrics, self.name, "list_apps"):
            body = await self._get("list_apps", "/api/v1/applications")
            apps = self._parse("list_apps", _parse_application, body.get("items") or [])
        return sorted(apps, key=lambda a: a.name)

    async def get_app(self, name: str) -> Application:
        """The application `name`; `NotFound` when Argo CD does not know it.

        Argo CD answers 403 "permission denied" for an app that does not exist (so as not to reveal which apps
        exist), exactly as for one the token may not read: both become `NotFound`, saying so."""
        with timed(self._metrics, self.name, "get_app"):
            try:
                body = await self._get("get_app", f"/api/v1/applications/{quote(name, safe='')}")
            except Unauthorized as e:
                if e.status != 403:
                    raise
                raise NotFound(f"Argo CD has no application {name!r} that this token may read ({e})",
                               backend=self.name, operation="get_app", status=403) from e
            return self._parse("get_app", _parse_application, [body])[0]

    async def resource_tree(self, name: str) -> list[ResourceNode]:
        with timed(self._metrics, self.name, "resource_tree"):
            body = await self._get("resource_tree", f"/api/v1/applications/{quote(name, safe='')}/resource-tree")
            return self._parse("resource_tree", _node, body.get("nodes") or [])

    async def ping(self) -> str:
        with timed(self._metrics, self.name, "ping"):
            body = await self._get("ping", "/api/version")
            return str(body.get("Version") or "unknown")

    async def _post(self, operation: str, name: str, suffix: str, body: Any, *, what: str, permission: str,
                    params: dict[str, str] | None = None) -> httpx.Response:
        try:
            return await send(self._client, self._target, operation, self._path(name, suffix), method="POST",
                              json=body, params=params, headers=self._headers)
        except BackendError as e:
            raise _write_error(e, what, name, permission) from e

    async def rollback(self, name: str, history_id: int, *, prune: bool = False, dry_run: bool = False) -> Application:
        """Sync `name` back to the revision of its history entry `history_id`; the application as Argo CD answers.

        Argo CD refuses (`QueryRejected`, 400) while auto-sync is enabled, and for an id not in the history."""
        op = "rollback"
        with timed(self._metrics, self.name, op):
            body = {"name": name, "id": history_id, "prune": prune, "dryRun": dry_run}
            resp = await self._post(op, name, "/rollback", body, permission="sync",
                                    what=f"rolling back {name!r} to history id {history_id}")
            return self._parse(op, _parse_application, [self._object(op, resp)])[0]

    async def sync(self, name: str, revision: str, *, prune: bool = False, dry_run: bool = False) -> Application:
        """Sync `name` to `revision` (a commit, tag or branch); the application as Argo CD answers."""
        op = "sync"
        with timed(self._metrics, self.name, op):
            body = {"name": name, "revision": revision, "prune": prune, "dryRun": dry_run}
            resp = await self._post(op, name, "/sync", body, permission="sync",
                                    what=f"syncing {name!r} to revision {revision!r}")
            return self._parse(op, _parse_application, [self._object(op, resp)])[0]

    async def run_resource_action(self, name: str, *, action: str, kind: str, resource_name: str,
                                  namespace: str | None, group: str | None, version: str | None) -> None:
        """Run a resource action (`restart` on a Deployment, ...) on one resource of application `name`.

        Uses `POST .../resource/actions/v2`; an Argo CD that does not route it (404, 405 or 501) gets the deprecated
        v1 call: the resource in the query string and the action name as a JSON string body."""
        op = "resource_action"
        what = f"running action {action!r} on {kind}/{resource_name} of {name!r}"
        permission = f"action/{group or ''}/{kind}/{action}"  # the RBAC action Argo CD checks
        ref = {k: v for k, v in (("namespace", namespace), ("resourceName", resource_name), ("version", version),
                                 ("group", group), ("kind", kind)) if v is not None}
        with timed(self._metrics, self.name, op):
            try:
                await self._post(op, name, "/resource/actions/v2", {"name": name, **ref, "action": action},
                                 what=what, permission=permission)
            except BackendError as e:
                if e.status not in _NO_V2:
                    raise
                await self._post(op, name, "/resource/actions", action, params=ref, what=what,
                                 permission=permission)
