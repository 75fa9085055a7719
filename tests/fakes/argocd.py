"""A fake Argo CD API server: applications as full `v1alpha1Application` JSON, bearer-token check, Argo CD's errors.

    with FakeArgoCD(token="t0k") as argo:              # or `async with`, or the `argocd_server` fixture
        argo.add_app(application("checkout", history=[history_entry(1, "abc123", deployed_at)]))
        ArgoCDBackend(client, argo.url, token="t0k") ...

Serves `GET /api/v1/applications` (`name`, `projects` filters), `/api/v1/applications/{name}` (404
`{"error", "code": 5, "message"}` when absent), `/api/v1/applications/{applicationName}/resource-tree` (set in
`.trees[name]`, else derived from `status.resources`) and `/api/version`. With a `token`, API calls without
`Authorization: Bearer <token>` get Argo CD's 401 `{"error", "code": 16, "message"}`.
"""

from __future__ import annotations

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

    def add_app(self, app: dict[str, Any]) -> None:
        """Store (or replace) a full Application JSON object, keyed by `metadata.name`."""
        self.apps[app["metadata"]["name"]] = app

    def fail_next(self, status: int, message: str, *, code: int = 14, times: int = 1) -> None:
        """Answer the next `times` API calls with an Argo CD error (default: gRPC code 14, Unavailable)."""
        self._failures.extend([(status, code, message)] * times)

    def _routes(self, app: web.Application) -> None:
        app.router.add_get("/api/version", self._version)
        app.router.add_get("/api/v1/applications", self._list)
        app.router.add_get("/api/v1/applications/{name}", self._get)
        app.router.add_get("/api/v1/applications/{name}/resource-tree", self._tree)

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
