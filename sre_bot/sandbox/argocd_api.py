"""An Argo CD API server (v1) over the scenario's applications: list, get, resource-tree, revision metadata.

Objects are shaped like a real `Application` as the API serves it (metadata, spec.source/destination/project,
status.sync, health, history with initiatedBy, operationState, resources, summary; no apiVersion/kind, as in the
API's schema). Errors are grpc-gateway JSON like Argo CD's: an
unknown app is `permission denied` (403, code 7) when no project is given, as Argo CD answers so as not to reveal
which apps exist, and `applications.argoproj.io "x" not found` (404, code 5) when `project` is given. Any bearer
token (or none) is accepted.

Writes, as the bot's approved actions send them, are appended to `world.operations` and finish at once:
`rollback` (to a deployed history id) and `sync` add a history entry initiated by `sre-bot`; resource actions
(`.../resource/actions/v2`, or v1 with the resource in the query) are only recorded. A rollback is accepted although
the apps have auto-sync on (real Argo CD refuses until auto-sync is off); afterwards the app shows what it would
once someone had turned auto-sync off to roll back: no `automated` sync policy and `OutOfSync`. Health stays as the
scenario says.
"""

from __future__ import annotations

import json
import math
from typing import Any

from aiohttp import web

from .generate import DeployState, World
from .scenario import ServiceSpec
from .signals import stable_uuid
from .wire import SIMULATOR, json_response, rfc3339

__all__ = ["create_app", "application", "resource_tree", "VERSION", "BOT_USER"]

VERSION = "v2.14.0+sandbox"
BOT_USER = "sre-bot"  # who the writes are initiated by (any token is accepted)
_SERVER = "https://kubernetes.default.svc"


def _error(status: int, code: int, message: str) -> web.Response:
    return json_response({"error": message, "code": code, "message": message}, status=status)


def _initiator(author: str) -> dict[str, Any]:
    return {"automated": True} if author == "automated" else {"username": author}


def _image(world: World, svc: ServiceSpec, revision: str) -> str:
    tag = revision.split(":")[-1][:7]
    return f"registry.example.com/{world.scenario.namespace_of(svc)}/{svc.name}:{tag}"


class _Apps:
    def __init__(self, world: World) -> None:
        self.world = world
        self.by_name = {world.scenario.app_name(s): s for s in world.services if s.argocd}

    def rolled_back(self, name: str) -> bool:
        """Whether the app's last applied write was a rollback (so it runs an older revision than Git)."""
        ops = [o for o in self.world.operations if o.get("app") == name and o["op"] in ("rollback", "sync")
               and not (isinstance(o["body"], dict) and o["body"].get("dryRun"))]
        return bool(ops) and ops[-1]["op"] == "rollback"

    def workload_kind(self, svc: ServiceSpec) -> str:
        return "StatefulSet" if svc.kind == "database" else "Deployment"

    def source(self, svc: ServiceSpec) -> dict[str, Any]:
        app = svc.argocd
        assert app is not None
        return {"path": app.path or f"apps/{svc.name}", "repoURL": app.repo, "targetRevision": app.target_revision}

    def resources(self, svc: ServiceSpec, health: str) -> list[dict[str, Any]]:
        ns = self.world.scenario.namespace_of(svc)
        app = svc.argocd
        workload_health: dict[str, Any] = {"status": health}
        if app and app.health_message:
            workload_health["message"] = app.health_message
        return [
            {"health": {"status": "Healthy"}, "kind": "Service", "name": svc.name, "namespace": ns,
             "status": "Synced", "version": "v1"},
            {"group": "apps", "health": workload_health, "kind": self.workload_kind(svc), "name": svc.name,
             "namespace": ns, "status": app.sync if app else "Synced", "version": "v1"},
        ]

    def history_entry(self, svc: ServiceSpec, d: DeployState) -> dict[str, Any]:
        return {"deployStartedAt": rfc3339(d.started_at, ms=False), "deployedAt": rfc3339(d.deployed_at, ms=False),
                "id": d.id, "initiatedBy": _initiator(d.author), "revision": d.revision, "source": self.source(svc)}

    def application(self, svc: ServiceSpec) -> dict[str, Any]:
        w, app = self.world, svc.argocd
        assert app is not None
        now = w.now()
        name = w.scenario.app_name(svc)
        assert name is not None  # svc.argocd is set
        ns = w.scenario.namespace_of(svc)
        done = w.deployed(svc.name, now)
        last = done[-1] if done else None
        source = self.source(svc)
        destination = {"namespace": ns, "server": _SERVER}
        resources = self.resources(svc, app.health)
        status: dict[str, Any] = {
            "controllerNamespace": "argocd",
            "health": {"status": app.health},
            "history": [self.history_entry(svc, d) for d in done],
            "reconciledAt": rfc3339(math.floor(now / 180) * 180, ms=False),
            "resources": resources,
            "sourceType": "Kustomize",
            "summary": {"images": [_image(w, svc, last.revision if last else "initial")]},
            "sync": {"comparedTo": {"destination": destination, "source": source},
                     "revision": last.revision if last else "",
                     "status": "OutOfSync" if self.rolled_back(name) else app.sync},
        }
        if last is not None:
            initiated = _initiator(last.author)
            status["operationState"] = {
                "finishedAt": rfc3339(last.deployed_at, ms=False),
                "message": "successfully synced (all tasks run)",
                "operation": {"initiatedBy": initiated, "retry": {},
                              "sync": {"revision": last.revision, "syncStrategy": {"hook": {}}}},
                "phase": "Succeeded",
                "startedAt": rfc3339(last.started_at, ms=False),
                "syncResult": {
                    "resources": [{"group": r.get("group", ""), "hookPhase": "Running", "kind": r["kind"],
                                   "message": f"{r['kind'].lower()}{'.apps' if r.get('group') else ''}/{r['name']} "
                                              "configured", "name": r["name"], "namespace": r["namespace"],
                                   "status": "Synced", "syncPhase": "Sync", "version": r["version"]}
                                  for r in resources],
                    "revision": last.revision, "source": source},
            }
        created = w.start - 90 * 86400
        return {  # no apiVersion/kind: the API serves objects from the informer cache, without TypeMeta
            "metadata": {
                "annotations": {"notifications.argoproj.io/subscribe.on-deployed.slack": f"{ns}-deploys"},
                "creationTimestamp": rfc3339(created, ms=False),
                "finalizers": ["resources-finalizer.argocd.argoproj.io"],
                "generation": 100 + 3 * len(done),
                "labels": {"app.kubernetes.io/part-of": ns, **({"tier": svc.tier} if svc.tier else {})},
                "name": name,
                "namespace": "argocd",
                "resourceVersion": str(700_000_000 + int(now) % 10_000_000),
                "uid": stable_uuid(w.scenario.seed, "app", name),
            },
            "spec": {
                "destination": destination,
                "project": app.project,
                "source": source,
                "syncPolicy": {**({} if self.rolled_back(name) else {"automated": {"prune": True, "selfHeal": True}}),
                               "syncOptions": ["CreateNamespace=true"]},
            },
            "status": status,
        }

    def tree(self, svc: ServiceSpec) -> dict[str, Any]:
        w, app = self.world, svc.argocd
        assert app is not None
        now, ns, seed = w.now(), w.scenario.namespace_of(svc), w.scenario.seed
        done = w.deployed(svc.name, now)
        revision = w.revision_at(svc.name, now)
        born = done[-1].deployed_at if done else w.start
        kind = self.workload_kind(svc)

        def ref(kind_: str, name: str, group: str = "") -> dict[str, Any]:
            r = {"kind": kind_, "name": name, "namespace": ns, "uid": stable_uuid(seed, kind_, name), "version": "v1"}
            return {**r, "group": group} if group else r

        def node(r: dict[str, Any], health: str | None, **extra: Any) -> dict[str, Any]:
            out = {**r, "resourceVersion": str(int(stable_uuid(seed, "rv", r["kind"], r["name"])[:8], 16) % 10**9),
                   "createdAt": rfc3339(extra.pop("created", born), ms=False), **extra}
            if health:
                out["health"] = {"status": health}
            return out

        workload = ref(kind, svc.name, "apps")
        wl_health: dict[str, Any] = {"status": app.health}
        nodes = [node(ref("Service", svc.name), None, networkingInfo={"targetLabels": {"app": svc.name}},
                      created=w.start - 90 * 86400),
                 {**node(workload, None, created=w.start - 90 * 86400), "health": {
                     **wl_health, **({"message": app.health_message} if app.health_message else {})}}]
        parent = workload
        if kind == "Deployment":
            rs = ref("ReplicaSet", f"{svc.name}-{w.pod_hash(svc.name, revision)}", "apps")
            nodes.append(node(rs, app.health if app.health != "Degraded" else "Progressing",
                              parentRefs=[workload], info=[{"name": "Revision", "value": f"Rev:{len(done) or 1}"}]))
            parent = rs
        pod_health = "Healthy" if app.health in ("Healthy", "Suspended") else "Progressing"
        ready = "1/1" if pod_health == "Healthy" else "0/1"
        for pod in w.pods(svc.name, now):
            nodes.append(node(ref("Pod", pod), pod_health, parentRefs=[parent],
                              images=[_image(w, svc, revision)],
                              info=[{"name": "Status Reason", "value": "Running"},
                                    {"name": "Node", "value": f"pool-a-{stable_uuid(seed, 'node', pod)[:5]}"},
                                    {"name": "Containers", "value": ready}],
                              networkingInfo={"labels": {"app": svc.name}}))
        return {"nodes": nodes}


def application(world: World, name: str) -> dict[str, Any] | None:
    apps = _Apps(world)
    svc = apps.by_name.get(name)
    return apps.application(svc) if svc else None


def resource_tree(world: World, name: str) -> dict[str, Any] | None:
    apps = _Apps(world)
    svc = apps.by_name.get(name)
    return apps.tree(svc) if svc else None


def create_app(world: World) -> web.Application:
    apps = _Apps(world)

    def find(request: web.Request, name: str) -> ServiceSpec | web.Response:
        projects = request.query.getall("project", []) + request.query.getall("projects", [])
        if len(projects) > 1:
            return _error(400, 3, "multiple projects specified - the get endpoint accepts either zero or one project")
        svc = apps.by_name.get(name)
        if svc is not None and svc.argocd and (not projects or projects[0] == svc.argocd.project):
            return svc
        if projects:
            return _error(404, 5, f'applications.argoproj.io "{name}" not found')
        return _error(403, 7, "permission denied")

    async def list_apps(request: web.Request) -> web.Response:
        projects = set(request.query.getall("project", []) + request.query.getall("projects", []))
        name = request.query.get("name")
        items = [apps.application(s) for n, s in sorted(apps.by_name.items())
                 if (not name or n == name) and (not projects or (s.argocd and s.argocd.project in projects))]
        rv = str(700_000_000 + int(world.now()) % 10_000_000)
        return json_response({"items": items, "metadata": {"resourceVersion": rv}})

    async def get_app(request: web.Request) -> web.Response:
        svc = find(request, request.match_info["name"])
        return svc if isinstance(svc, web.Response) else json_response(apps.application(svc))

    async def tree(request: web.Request) -> web.Response:
        svc = find(request, request.match_info["name"])
        return svc if isinstance(svc, web.Response) else json_response(apps.tree(svc))

    async def write(request: web.Request) -> tuple[ServiceSpec, Any] | web.Response:
        svc = find(request, request.match_info["name"])
        if isinstance(svc, web.Response):
            return svc
        try:
            return svc, json.loads(await request.text())
        except ValueError as e:
            return _error(400, 3, f"invalid JSON body: {e}")

    def accept(op: str, request: web.Request, body: Any) -> None:
        world.operations.append({"op": op, "app": request.match_info["name"], "body": body,
                                 "query": dict(request.query), "at": world.now()})

    async def rollback(request: web.Request) -> web.Response:
        got = await write(request)
        if isinstance(got, web.Response):
            return got
        svc, body = got
        hid = body.get("id") if isinstance(body, dict) else None
        entry = next((d for d in world.deployed(svc.name) if d.id == hid), None)
        if entry is None:
            return _error(400, 3, f"application {request.match_info['name']} does not have deployment with id {hid}")
        accept("rollback", request, body)
        if not body.get("dryRun"):
            world.record_deploy(svc.name, entry.revision, BOT_USER)
        return json_response(apps.application(svc))

    async def sync(request: web.Request) -> web.Response:
        got = await write(request)
        if isinstance(got, web.Response):
            return got
        svc, body = got
        body = body if isinstance(body, dict) else {}
        revision = body.get("revision") or ""
        if svc.argocd and revision in ("", "HEAD", svc.argocd.target_revision):  # the branch: its newest commit
            pushed = sorted((d for d in svc.argocd.history if world.anchor + d.at.total_seconds() <= world.now()),
                            key=lambda d: d.at)
            revision = pushed[-1].revision if pushed else revision
        accept("sync", request, body)
        if not body.get("dryRun") and revision:
            world.record_deploy(svc.name, revision, BOT_USER)
        return json_response(apps.application(svc))

    async def resource_action(request: web.Request) -> web.Response:
        got = await write(request)
        if isinstance(got, web.Response):
            return got
        svc, body = got
        ref = body if request.path.endswith("/v2") and isinstance(body, dict) else dict(request.query)
        wanted = {k: ref.get(k) or "" for k in ("group", "kind", "namespace")} | {"name": ref.get("resourceName")}
        if not any({k: n.get(k) or "" for k in wanted} == wanted for n in apps.tree(svc)["nodes"]):
            return _error(400, 3, f"{wanted['kind']} {wanted['group']} {wanted['name']} not found as part of "
                                  f"application {request.match_info['name']}")
        accept("resource_action", request, body)
        return json_response({})

    async def revision_metadata(request: web.Request) -> web.Response:
        svc = find(request, request.match_info["name"])
        if isinstance(svc, web.Response):
            return svc
        rev = request.match_info["revision"]
        for d in world.history(svc.name):
            if d.revision == rev or (len(rev) >= 7 and d.revision.startswith(rev)):
                author = d.author if d.author != "automated" else "argocd-image-updater <noreply@argoproj.io>"
                return json_response({"author": author, "date": rfc3339(d.started_at - 600, ms=False),
                                      "message": d.message or f"deploy {d.revision[:7]}"})
        return _error(404, 5, f"revision {rev} not found in repository {svc.argocd.repo if svc.argocd else ''}")

    async def version(request: web.Request) -> web.Response:
        return json_response({"Version": VERSION, "BuildDate": "2026-01-01T00:00:00Z", "GitCommit": "sandbox",
                              "GitTreeState": "clean", "GoVersion": "go1.23.6", "Compiler": "gc",
                              "Platform": "linux/amd64", "KustomizeVersion": "v5.4.3", "HelmVersion": "v3.16.3",
                              "KubectlVersion": "v0.31.0", "JsonnetVersion": "v0.20.0"})

    async def ui(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        return web.Response(text=f"{SIMULATOR} (Argo CD API only, no UI)\n\napplication: {name}\n"
                                 f"Ask /api/v1/applications/{name} for the object.\n")

    app = web.Application()
    app.router.add_get("/applications/{name}", ui)
    app.router.add_get("/api/v1/applications", list_apps)
    app.router.add_get("/api/v1/applications/{name}", get_app)
    app.router.add_get("/api/v1/applications/{name}/resource-tree", tree)
    app.router.add_get("/api/v1/applications/{name}/revisions/{revision}/metadata", revision_metadata)
    app.router.add_get("/api/version", version)
    app.router.add_post("/api/v1/applications/{name}/rollback", rollback)
    app.router.add_post("/api/v1/applications/{name}/sync", sync)
    app.router.add_post("/api/v1/applications/{name}/resource/actions/v2", resource_action)
    app.router.add_post("/api/v1/applications/{name}/resource/actions", resource_action)
    return app
