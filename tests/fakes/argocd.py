"""A fake Argo CD API server: applications as full `v1alpha1Application` JSON, bearer-token check, Argo CD's errors.

    with FakeArgoCD(token="t0k") as argo:              # or `async with`, or the `argocd_server` fixture
        argo.add_app(application("checkout", history=[history_entry(1, "abc123", deployed_at)]))
        ArgoCDBackend(client, argo.url, token="t0k") ...

Serves `GET /api/v1/applications` (`name`, `projects` filters), `/api/v1/applications/{name}` (404
`{"error", "code": 5, "message"}` when absent), `/api/v1/applications/{applicationName}/resource-tree` (set in
`.trees[name]`, else derived from `status.resources`) and `/api/version`. With a `token`, API calls without
`Authorization: Bearer <token>` get Argo CD's 401 `{"error", "code": 16, "message"}`.

Writes: `POST .../{name}/rollback`, `.../{name}/sync`, `.../{name}/resource/actions/v2` and the deprecated
`.../{name}/resource/actions` (action name as a JSON string body, resource in the query). Each accepted write is
appended to `.operations` (`{"op": "rollback"|"sync"|"resource_action", "app", "body", "query"}`) and applied at
once, as if the operation finished: a rollback or sync appends a history entry (deployed now, by `.username`) and
moves `status.sync.revision`. Refusals are Argo CD's own: an unknown app is 403 "permission denied"; with
`.auto_sync[name] = True` (the switch, not `spec.syncPolicy`, which `application()` always fills) a rollback, or a
sync to another revision, is FailedPrecondition (400); an unknown history id or resource is InvalidArgument (400).

Scripting: `.fail_writes(status, message, times=1)` answers the next writes with an error (nothing recorded);
`.hold_writes = threading.Event()` holds each write, after recording and applying it, until the event is set (or
30 s pass: a bot that crashes or times out mid-call); `.actions_v2 = False` plays an Argo CD without the v2 action
route (404).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from datetime import datetime, timezone
from typing import Any

from aiohttp import web

from . import FakeServer

__all__ = ["FakeArgoCD", "application", "history_entry", "VERSION"]

VERSION = {
    "Version": "v3.6.0+37ee009", "BuildDate": "2025-11-04T12:00:00Z", "GitCommit": "37ee0097",
    "GitTag": "v3.6.0", "GitTreeState": "clean", "GoVersion": "go1.24.6", "Compiler": "gc",
    "Platform": "linux/amd64", "KustomizeVersion": "v5.7.1", "HelmVersion": "v3.18.4+gd80839c",
    "KubectlVersion": "v0.34.0", "JsonnetVersion": "v0.21.0", "ExtraBuildInfo": "",
}


def _ts(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def history_entry(id: int, revision: str, deployed_at: datetime, *, started_at: datetime | None = None,
                  username: str | None = None, automated: bool = False,
                  repo_url: str = "https://git.example.com/deploy.git", path: str | None = None) -> dict[str, Any]:
    """One `v1alpha1RevisionHistory` entry."""
    entry: dict[str, Any] = {
        "id": id, "revision": revision, "deployedAt": _ts(deployed_at),
        "source": {"repoURL": repo_url, "targetRevision": "HEAD", **({"path": path} if path else {})},
    }
    if started_at:
        entry["deployStartedAt"] = _ts(started_at)
    if username or automated:
        entry["initiatedBy"] = {"username": username} if username else {"automated": True}
    return entry


def application(name: str, *, namespace: str = "default", project: str = "default", sync: str = "Synced",
                health: str = "Healthy", revision: str | None = None, history: list[dict[str, Any]] | None = None,
                repo_url: str = "https://git.example.com/deploy.git", path: str | None = None,
                operation: dict[str, Any] | None = None, resources: list[dict[str, Any]] | None = None,
                ) -> dict[str, Any]:
    """A full `v1alpha1Application` object as Argo CD returns it (`operation`: an `operationState`)."""
    history = history or []
    revision = revision or (history[-1]["revision"] if history else "0" * 40)
    source = {"repoURL": repo_url, "targetRevision": "HEAD", **({"path": path} if path else {})}
    if resources is None:
        resources = [{"group": "apps", "version": "v1", "kind": "Deployment", "namespace": namespace, "name": name,
                      "status": sync, "health": {"status": health}},
                     {"version": "v1", "kind": "Service", "namespace": namespace, "name": name, "status": sync,
                      "health": {"status": "Healthy"}}]
    status: dict[str, Any] = {
        "controllerNamespace": "argocd",
        "health": {"status": health},
        "history": history,
        "reconciledAt": history[-1]["deployedAt"] if history else "2025-01-01T00:00:00Z",
        "resources": resources,
        "sourceType": "Kustomize" if path else "Directory",
        "summary": {"images": [f"registry.example.com/{name}:{revision[:7]}"]},
        "sync": {"comparedTo": {"destination": {"namespace": namespace, "server": "https://kubernetes.default.svc"},
                                "source": source}, "revision": revision, "status": sync},
    }
    if operation:
        status["operationState"] = operation
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": name, "namespace": "argocd", "uid": f"uid-{name}", "resourceVersion": "1",
                     "creationTimestamp": "2025-01-01T00:00:00Z", "generation": 1},
        "spec": {"destination": {"namespace": namespace, "server": "https://kubernetes.default.svc"},
                 "project": project, "source": source, "syncPolicy": {"automated": {"prune": True}}},
        "status": status,
    }


_GRPC_CODE = {400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 429: 8, 500: 13, 501: 12, 503: 14, 504: 4}
_AUTO_SYNC_ROLLBACK = "rollback cannot be initiated when auto-sync is enabled"


def _argo_error(status: int, code: int, message: str) -> web.Response:
    """Argo CD's (grpc-gateway's) error body."""
    return web.json_response({"error": message, "code": code, "message": message}, status=status)


class FakeArgoCD(FakeServer):
    """In-memory Argo CD. `token=None` accepts any request (no auth configured)."""

    name = "argocd"

    def __init__(self, *, token: str | None = "test-token") -> None:
        super().__init__()
        self.token = token
        self.apps: dict[str, dict[str, Any]] = {}
        self.trees: dict[str, dict[str, Any]] = {}
        self._failures: list[tuple[int, int, str]] = []
        self.operations: list[dict[str, Any]] = []
        self.auto_sync: dict[str, bool] = {}
        self.hold_writes: threading.Event | None = None
        self.actions_v2 = True
        self.username = "sre-bot"
        self._write_failures: list[tuple[int, int, str]] = []
        self._stopping = False

    def add_app(self, app: dict[str, Any]) -> None:
        """Store (or replace) a full Application JSON object, keyed by `metadata.name`."""
        self.apps[app["metadata"]["name"]] = app

    def fail_next(self, status: int, message: str, *, code: int = 14, times: int = 1) -> None:
        """Answer the next `times` API calls with an Argo CD error (default: gRPC code 14, Unavailable)."""
        self._failures.extend([(status, code, message)] * times)

    def fail_writes(self, status: int, message: str, times: int = 1) -> None:
        """Answer the next `times` writes with Argo CD's error for `status` (nothing is recorded or applied)."""
        self._write_failures.extend([(status, _GRPC_CODE.get(status, 2), message)] * times)

    def start(self) -> str:
        self._stopping = False
        return super().start()

    def stop(self) -> None:
        self._stopping = True  # releases held writes, so the server can shut down
        super().stop()

    def _routes(self, app: web.Application) -> None:
        app.router.add_get("/api/version", self._version)
        app.router.add_get("/api/v1/applications", self._list)
        app.router.add_get("/api/v1/applications/{name}", self._get)
        app.router.add_get("/api/v1/applications/{name}/resource-tree", self._tree)
        app.router.add_post("/api/v1/applications/{name}/rollback", self._rollback)
        app.router.add_post("/api/v1/applications/{name}/sync", self._sync)
        app.router.add_post("/api/v1/applications/{name}/resource/actions/v2", self._action_v2)
        app.router.add_post("/api/v1/applications/{name}/resource/actions", self._action_v1)

    def _refusal(self, request: web.Request) -> web.Response | None:
        if self.token is not None:
            auth = request.headers.get("Authorization")
            if not auth:
                return _argo_error(401, 16, "no session information")
            if auth != f"Bearer {self.token}":
                return _argo_error(401, 16, "invalid session: token signature is invalid")
        if self._failures:
            return _argo_error(*self._failures.pop(0))
        return None

    async def _version(self, request: web.Request) -> web.Response:
        return web.json_response(VERSION)

    async def _list(self, request: web.Request) -> web.Response:
        if refused := self._refusal(request):
            return refused
        name = request.query.get("name")
        projects = request.query.getall("projects", []) + request.query.getall("project", [])
        items = [a for n, a in sorted(self.apps.items())
                 if (not name or n == name) and (not projects or a["spec"].get("project") in projects)]
        return web.json_response({"items": items, "metadata": {"resourceVersion": str(len(self.requests))}})

    def _find(self, name: str) -> dict[str, Any] | web.Response:
        app = self.apps.get(name)
        if app is None:
            return _argo_error(404, 5, f'applications.argoproj.io "{name}" not found')
        return app

    async def _get(self, request: web.Request) -> web.Response:
        if refused := self._refusal(request):
            return refused
        found = self._find(request.match_info["name"])
        return found if isinstance(found, web.Response) else web.json_response(found)

    async def _tree(self, request: web.Request) -> web.Response:
        if refused := self._refusal(request):
            return refused
        name = request.match_info["name"]
        found = self._find(name)
        if isinstance(found, web.Response):
            return found
        if name in self.trees:
            return web.json_response(self.trees[name])
        nodes = []
        for r in found.get("status", {}).get("resources") or []:
            node = {k: r[k] for k in ("group", "version", "kind", "namespace", "name") if r.get(k)}
            node.update(uid=f"uid-{r['kind']}-{r['name']}".lower(), resourceVersion="1",
                        createdAt="2025-01-01T00:00:00Z")
            if r.get("health"):
                node["health"] = r["health"]
            nodes.append(node)
        return web.json_response({"nodes": nodes})

    # -- writes ---------------------------------------------------------------------------------------------
    async def _write(self, request: web.Request, *, v1: bool = False) -> tuple[dict[str, Any], Any] | web.Response:
        """The app and the parsed body of a write (an object, or any JSON for v1's action name), or Argo CD's
        refusal (token, scripted failure, bad body, unknown app)."""
        if refused := self._refusal(request):
            return refused
        if self._write_failures:
            return _argo_error(*self._write_failures.pop(0))
        try:
            body = json.loads(await request.text())
        except ValueError as e:
            return _argo_error(400, 3, f"invalid JSON body: {e}")
        if not v1 and not isinstance(body, dict):
            return _argo_error(400, 3, "the request body must be a JSON object")
        app = self.apps.get(request.match_info["name"])
        if app is None:
            return _argo_error(403, 7, "permission denied")
        return app, body

    async def _accept(self, op: str, request: web.Request, body: Any, answer: Any) -> web.Response:
        """Record the write, hold it while `.hold_writes` says so, then answer."""
        with self._lock:
            self.operations.append({"op": op, "app": request.match_info["name"], "body": body,
                                    "query": dict(request.query)})
        held = self.hold_writes
        if held is not None and not held.is_set():
            await asyncio.to_thread(self._wait, held)
        return web.json_response(answer)

    def _wait(self, event: threading.Event) -> None:
        deadline = time.monotonic() + 30
        while not event.wait(0.05) and not self._stopping and time.monotonic() < deadline:
            pass

    def _deploy(self, app: dict[str, Any], revision: str, source: dict[str, Any]) -> None:
        """What a finished sync leaves behind: a new history entry and the synced revision."""
        status = app.setdefault("status", {})
        history = status.setdefault("history", [])
        now = datetime.now(timezone.utc)
        entry = history_entry(max((h["id"] for h in history), default=0) + 1, revision, now, started_at=now,
                              username=self.username)
        entry["source"] = source
        history.append(entry)
        status.setdefault("sync", {}).update(revision=revision)
        status["operationState"] = {
            "phase": "Succeeded", "message": "successfully synced (all tasks run)", "startedAt": _ts(now),
            "finishedAt": _ts(now), "operation": {"sync": {"revision": revision},
                                                  "initiatedBy": {"username": self.username}}}

    async def _rollback(self, request: web.Request) -> web.Response:
        got = await self._write(request)
        if isinstance(got, web.Response):
            return got
        app, body = got
        name = app["metadata"]["name"]
        if self.auto_sync.get(name):
            return _argo_error(400, 9, _AUTO_SYNC_ROLLBACK)
        entry = next((h for h in app["status"].get("history") or [] if h["id"] == body.get("id")), None)
        if entry is None:
            return _argo_error(400, 3, f"application {name} does not have deployment with id {body.get('id')}")
        if not body.get("dryRun"):
            self._deploy(app, entry["revision"], entry.get("source") or app["spec"].get("source") or {})
            app["status"]["sync"]["status"] = "OutOfSync"  # the cluster now runs an older revision than Git
        return await self._accept("rollback", request, body, app)

    async def _sync(self, request: web.Request) -> web.Response:
        got = await self._write(request)
        if isinstance(got, web.Response):
            return got
        app, body = got
        source = app["spec"].get("source") or {}
        target = source.get("targetRevision") or "HEAD"
        revision = body.get("revision") or target
        if self.auto_sync.get(app["metadata"]["name"]) and revision != target and not body.get("dryRun"):
            return _argo_error(400, 9, f"Cannot sync to {revision}: auto-sync currently set to {target}")
        if not body.get("dryRun"):
            self._deploy(app, revision, source)
            app["status"]["sync"]["status"] = "Synced"
        return await self._accept("sync", request, body, app)

    async def _action(self, request: web.Request, *, v2: bool = False) -> web.Response:
        got = await self._write(request, v1=not v2)
        if isinstance(got, web.Response):
            return got
        app, body = got
        ref = body if v2 else dict(request.query)  # v1: the body is the action name
        wanted = {k: ref.get(k) or "" for k in ("group", "kind", "namespace")} | {"name": ref.get("resourceName")}
        if not any({k: r.get(k) or "" for k in wanted} == wanted for r in app["status"].get("resources") or []):
            return _argo_error(400, 3, f"{wanted['kind']} {wanted['group']} {wanted['name']} not found as part of "
                                       f"application {app['metadata']['name']}")
        return await self._accept("resource_action", request, body, {})

    async def _action_v2(self, request: web.Request) -> web.Response:
        if not self.actions_v2:  # an Argo CD without the route: grpc-gateway's 404
            return _argo_error(404, 5, "Not Found")
        return await self._action(request, v2=True)

    async def _action_v1(self, request: web.Request) -> web.Response:
        return await self._action(request)
