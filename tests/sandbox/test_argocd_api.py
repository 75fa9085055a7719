"""The simulated Argo CD: Application objects, history, resource tree, errors and writes shaped like Argo CD's."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from sre_bot.backends import ArgoCDBackend
from sre_bot.sandbox import Sandbox
from tests.backends._shapes import conforms, missing_paths, shape
from tests.sandbox._support import ANCHOR, fixture

# Parts of the real sample (a CRD manifest) that the API does not serve (apiVersion/kind: its schema has no
# TypeMeta) or that belong to features the sandbox's apps do not use (an ApplicationSet owner, a config-management
# plugin, a named destination cluster, sync retries).
_UNUSED = ("$.apiVersion", "$.kind", "ownerReferences", ".plugin", "destination.name", "syncPolicy.retry", ".retry.",
           "syncOptions")


@pytest.fixture(scope="module")
def swagger() -> dict[str, Any]:
    return fixture("argocd", "swagger.json")["definitions"]


async def _get(http: httpx.AsyncClient, sb: Sandbox, path: str, **params: str) -> httpx.Response:
    return await http.get(sb.urls.argocd + path, params=params, headers={"Authorization": "Bearer anything"})


async def test_application_has_the_real_objects_structure(sandbox: Sandbox, http: httpx.AsyncClient,
                                                          swagger: dict[str, Any]) -> None:
    """GET /api/v1/applications/{name} has every part of a real Application and fits Argo CD's API schema."""
    resp = await _get(http, sandbox, "/api/v1/applications/checkout")
    assert resp.status_code == 200
    app = resp.json()
    missing = [p for p in missing_paths(shape(fixture("argocd", "application-with-history.json")), shape(app))
               if not any(u in p for u in _UNUSED)]
    assert missing == []
    assert conforms(app, {"$ref": "#/definitions/v1alpha1Application"}, swagger) == []


async def test_application_status_tells_the_story(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    """checkout is Degraded after the bad deploy, whose history entry names the revision and the author."""
    app = (await _get(http, sandbox, "/api/v1/applications/checkout")).json()
    status = app["status"]
    assert status["health"]["status"] == "Degraded" and status["sync"]["status"] == "Synced"
    last = status["history"][-1]
    assert last["revision"] == "4f1c2e9a7b3d5e6f8a9b0c1d2e3f4a5b6c7d8e9f" == status["sync"]["revision"]
    assert last["initiatedBy"] == {"username": "dana.kim@shop.example"}
    assert last["deployedAt"] == "2026-11-21T14:10:00Z" and last["deployStartedAt"] == "2026-11-21T14:09:10Z"
    assert [h["id"] for h in status["history"]] == [1, 2, 3]
    assert status["history"][1]["initiatedBy"] == {"automated": True}
    op = status["operationState"]
    assert op["phase"] == "Succeeded" and op["operation"]["sync"]["revision"] == last["revision"]
    assert app["spec"]["destination"]["namespace"] == "shop" and app["spec"]["project"] == "shop"


async def test_list_filters_and_version(sandbox: Sandbox, http: httpx.AsyncClient, swagger: dict[str, Any]) -> None:
    """The list has `items` (filterable by name and project) and fits the schema; /api/version answers."""
    body = (await _get(http, sandbox, "/api/v1/applications")).json()
    assert conforms(body, {"$ref": "#/definitions/v1alpha1ApplicationList"}, swagger) == []
    assert [a["metadata"]["name"] for a in body["items"]] == sorted(s.name for s in sandbox.world.services)
    one = (await _get(http, sandbox, "/api/v1/applications", name="cart")).json()["items"]
    assert [a["metadata"]["name"] for a in one] == ["cart"]
    assert (await _get(http, sandbox, "/api/v1/applications", projects="other")).json()["items"] == []
    version = (await _get(http, sandbox, "/api/version")).json()
    assert conforms(version, {"$ref": "#/definitions/versionVersionMessage"}, swagger) == []


async def test_resource_tree(sandbox: Sandbox, http: httpx.AsyncClient, swagger: dict[str, Any]) -> None:
    """The resource tree lists the workload, its ReplicaSet and the serving pods, as the schema says."""
    tree = (await _get(http, sandbox, "/api/v1/applications/checkout/resource-tree")).json()
    assert conforms(tree, {"$ref": "#/definitions/v1alpha1ApplicationTree"}, swagger) == []
    kinds = [n["kind"] for n in tree["nodes"]]
    assert kinds == ["Service", "Deployment", "ReplicaSet", "Pod", "Pod"]
    assert [n["name"] for n in tree["nodes"] if n["kind"] == "Pod"] == sandbox.world.pods("checkout", ANCHOR)
    db = (await _get(http, sandbox, "/api/v1/applications/payments-db/resource-tree")).json()
    assert [n["kind"] for n in db["nodes"]] == ["Service", "StatefulSet", "Pod"]


async def test_revision_metadata(sandbox: Sandbox, http: httpx.AsyncClient, swagger: dict[str, Any]) -> None:
    """A deployed revision's metadata carries its author and commit message."""
    meta = (await _get(http, sandbox, "/api/v1/applications/checkout/revisions/4f1c2e9/metadata")).json()
    assert conforms(meta, {"$ref": "#/definitions/v1alpha1RevisionMetadata"}, swagger) == []
    assert meta["author"] == "dana.kim@shop.example" and "8 -> 64" in meta["message"]


async def test_unknown_apps_answer_like_argo_cd(sandbox: Sandbox, http: httpx.AsyncClient,
                                                swagger: dict[str, Any]) -> None:
    """An unknown app is 'permission denied' (403) without a project and 'not found' (404) with one."""
    denied = await _get(http, sandbox, "/api/v1/applications/nope")
    assert denied.status_code == 403
    assert denied.json() == {"error": "permission denied", "code": 7, "message": "permission denied"}
    missing = await _get(http, sandbox, "/api/v1/applications/nope", project="shop")
    assert missing.status_code == 404 and missing.json()["code"] == 5
    assert missing.json()["message"] == 'applications.argoproj.io "nope" not found'
    assert conforms(missing.json(), {"$ref": "#/definitions/runtimeError"}, swagger) == []
    wrong_project = await _get(http, sandbox, "/api/v1/applications/checkout/resource-tree", project="other")
    assert wrong_project.status_code == 404
    assert (await _get(http, sandbox, "/api/v1/applications/nope/resource-tree")).status_code == 403


# -- writes ---------------------------------------------------------------------------------------------------------

GOOD = "9a1d3c5"  # the revision the scenario's truth says to roll checkout back to


async def _post(http: httpx.AsyncClient, sb: Sandbox, path: str, body: object, **params: str) -> httpx.Response:
    return await http.post(sb.urls.argocd + path, json=body, params=params, headers={"Authorization": "Bearer x"})


async def test_rollback_adds_a_history_entry(sandbox: Sandbox, http: httpx.AsyncClient,
                                             swagger: dict[str, Any]) -> None:
    """A rollback to history id 2 answers the Application, and a later GET shows the new entry by sre-bot."""
    resp = await _post(http, sandbox, "/api/v1/applications/checkout/rollback",
                       {"name": "checkout", "id": 2, "prune": False, "dryRun": False})
    assert resp.status_code == 200, resp.text
    assert conforms(resp.json(), {"$ref": "#/definitions/v1alpha1Application"}, swagger) == []
    app = (await _get(http, sandbox, "/api/v1/applications/checkout")).json()
    last = app["status"]["history"][-1]
    assert (last["id"], last["revision"][:7], last["initiatedBy"]) == (4, GOOD, {"username": "sre-bot"})
    assert app["status"]["sync"] == {**app["status"]["sync"], "revision": last["revision"], "status": "OutOfSync"}
    assert "automated" not in app["spec"]["syncPolicy"]
    assert app["status"]["operationState"]["operation"]["sync"]["revision"] == last["revision"]
    assert [(o["op"], o["app"], o["body"]["id"]) for o in sandbox.world.operations] == [("rollback", "checkout", 2)]


async def test_sync_dry_run_and_refusals(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    """A sync adds an entry (a dry run does not); an unknown history id is 400 and an unknown app 403, as in Argo CD."""
    dry = await _post(http, sandbox, "/api/v1/applications/cart/sync",
                      {"name": "cart", "revision": "abc", "dryRun": True})
    assert dry.status_code == 200 and len(dry.json()["status"]["history"]) == len(sandbox.world.history("cart"))
    synced = (await _post(http, sandbox, "/api/v1/applications/cart/sync", {"name": "cart", "revision": "abc"})).json()
    assert synced["status"]["history"][-1]["revision"] == "abc" == synced["status"]["sync"]["revision"]
    bad_id = await _post(http, sandbox, "/api/v1/applications/checkout/rollback", {"name": "checkout", "id": 42})
    assert bad_id.status_code == 400
    assert bad_id.json()["message"] == "application checkout does not have deployment with id 42"
    assert (await _post(http, sandbox, "/api/v1/applications/nope/sync", {"name": "nope"})).status_code == 403
    assert [o["op"] for o in sandbox.world.operations] == ["sync", "sync"]


async def test_resource_actions_v2_and_v1(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    """A resource action on a resource of the app is recorded (v2 body or v1 query); an unknown resource is 400."""
    body = {"name": "checkout", "namespace": "shop", "resourceName": "checkout", "version": "v1", "group": "apps",
            "kind": "Deployment", "action": "restart"}
    v2 = await _post(http, sandbox, "/api/v1/applications/checkout/resource/actions/v2", body)
    assert (v2.status_code, v2.json()) == (200, {})
    v1 = await _post(http, sandbox, "/api/v1/applications/checkout/resource/actions", "restart", namespace="shop",
                     resourceName="checkout", version="v1", group="apps", kind="Deployment")
    assert v1.status_code == 200
    missing = await _post(http, sandbox, "/api/v1/applications/checkout/resource/actions/v2",
                          {**body, "resourceName": "ghost"})
    assert missing.status_code == 400
    assert missing.json()["message"] == "Deployment apps ghost not found as part of application checkout"
    assert [(o["op"], o["body"]) for o in sandbox.world.operations] == [("resource_action", body),
                                                                        ("resource_action", "restart")]


async def test_backend_rolls_back_the_sandbox(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    """ArgoCDBackend's rollback, sync and restart work against the sandbox, as `sre-bot demo` will use them."""
    argo = ArgoCDBackend(http, sandbox.urls.argocd, token="demo")
    app = await argo.rollback("checkout", 2)
    assert app.history[0].revision.startswith(GOOD) and app.history[0].initiated_by == "sre-bot"
    [workload] = [n for n in await argo.resource_tree("checkout") if n.kind == "Deployment"]
    await argo.run_resource_action("checkout", action="restart", kind=workload.kind, resource_name=workload.name,
                                   namespace=workload.namespace, group=workload.group, version=workload.version)
    assert (await argo.sync("checkout", "main")).history[0].revision.startswith("4f1c2e9")
