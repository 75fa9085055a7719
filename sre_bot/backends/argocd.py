"""Argo CD: applications, their deploy history and resource trees over the REST API, through an injected httpx client.

Fields read (Argo CD v3 `v1alpha1Application`): `metadata.name`, `spec.project`, `spec.destination.namespace`,
`spec.source(s).repoURL`, `status.sync.status/revision(s)`, `status.health.status`,
`status.operationState.phase/message/finishedAt`, and `status.history[]` (`v1alpha1RevisionHistory`: id,
revision(s), deployedAt, deployStartedAt, initiatedBy.username/automated, source(s).repoURL/path).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from ..errors import NotFound, Unauthorized
from ..metrics import Metrics
from ..models import Application, DeployRecord, ResourceNode
from ._http import Target, auth_headers, json_body, malformed, send, timed

__all__ = ["ArgoCDBackend"]

_FRACTION = re.compile(r"(\.\d{6})\d+")


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
                        group=obj.get("group") or None, health=_dict(obj, "health").get("status"))


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

    async def _get(self, operation: str, path: str) -> Any:
        resp = await send(self._client, self._target, operation, path, headers=self._headers)
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
