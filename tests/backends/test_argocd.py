"""ArgoCDBackend against the fake Argo CD server: history parsing, errors, auth, path escaping and the writes."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from sre_bot.backends.argocd import ArgoCDBackend
from sre_bot.errors import BackendError, BackendTimeout, BackendUnavailable, NotFound, QueryRejected, Unauthorized
from sre_bot.metrics import Metrics
from tests.fakes import free_port
from tests.fakes.argocd import FakeArgoCD, application, history_entry

T = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
TOKEN = "test-token"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as c:
        yield c


def _checkout() -> dict:
    history = [
        history_entry(7, "aaa111", T - timedelta(hours=3), started_at=T - timedelta(hours=3, seconds=20),
                      username="alice@example.com", path="apps/checkout"),
        history_entry(9, "ccc333", T - timedelta(minutes=10), automated=True, path="apps/checkout"),
        history_entry(8, "bbb222", T - timedelta(hours=1)),
    ]
    operation = {"phase": "Failed", "message": "one or more objects failed to apply", "startedAt": "2025-03-01T11:50:00Z",
                 "finishedAt": "2025-03-01T11:50:30Z", "operation": {"sync": {"revision": "ccc333"}}}
    return application("checkout", namespace="shop", project="web", sync="OutOfSync", health="Degraded",
                       history=history, path="apps/checkout", operation=operation)


async def test_history_is_parsed_newest_first(argocd_server: FakeArgoCD, client: httpx.AsyncClient) -> None:
    """status.history becomes DeployRecords newest first with who deployed what from where."""
    argocd_server.add_app(_checkout())
    app = await ArgoCDBackend(client, argocd_server.url, token=TOKEN).get_app("checkout")
    assert [d.id for d in app.history] == [9, 8, 7]
    newest, middle, oldest = app.history
    assert (newest.revision, newest.initiated_by, newest.deployed_at) == ("ccc333", "automated", T - timedelta(minutes=10))
    assert newest.source == "https://git.example.com/deploy.git/apps/checkout"
    assert middle.initiated_by is None and middle.source == "https://git.example.com/deploy.git"
    assert oldest.initiated_by == "alice@example.com"
    assert oldest.deploy_started_at == T - timedelta(hours=3, seconds=20)
    assert (app.name, app.project, app.namespace) == ("checkout", "web", "shop")
    assert (app.sync_status, app.health_status, app.revision) == ("OutOfSync", "Degraded", "bbb222")
    assert app.repo_url == "https://git.example.com/deploy.git"
    assert (app.operation_phase, app.operation_message) == ("Failed", "one or more objects failed to apply")
    assert app.operation_finished_at == datetime(2025, 3, 1, 11, 50, 30, tzinfo=timezone.utc)


async def test_list_and_tree(argocd_server: FakeArgoCD, client: httpx.AsyncClient) -> None:
    """list_apps returns every application by name; resource_tree returns the nodes with health."""
    argocd_server.add_app(application("payment"))
    argocd_server.add_app(_checkout())
    argo = ArgoCDBackend(client, argocd_server.url + "/", token=TOKEN)
    assert [a.name for a in await argo.list_apps()] == ["checkout", "payment"]
    nodes = await argo.resource_tree("checkout")
    assert {(n.kind, n.name, n.namespace, n.group, n.health) for n in nodes} == {
        ("Deployment", "checkout", "shop", "apps", "Degraded"), ("Service", "checkout", "shop", None, "Healthy")}
    assert await argo.ping() == "v3.6.0+37ee009"


async def test_missing_app_is_not_found(argocd_server: FakeArgoCD, client: httpx.AsyncClient) -> None:
    """A 404 from Argo CD is NotFound quoting its message."""
    with pytest.raises(NotFound, match='applications.argoproj.io "ghost" not found') as info:
        await ArgoCDBackend(client, argocd_server.url, token=TOKEN).get_app("ghost")
    assert info.value.operation == "get_app"


@pytest.mark.parametrize("token", [None, "wrong"])
async def test_bad_token_is_unauthorized(argocd_server: FakeArgoCD, client: httpx.AsyncClient, token: str | None) -> None:
    """A missing or wrong token gives Unauthorized with Argo CD's reason, counted in metrics."""
    metrics = Metrics()
    with pytest.raises(Unauthorized, match="session") as info:
        await ArgoCDBackend(client, argocd_server.url, token=token, metrics=metrics).list_apps()
    assert "check the token" in str(info.value)
    assert metrics.registry.get_sample_value(
        "sre_bot_backend_errors_total", {"backend": "argocd", "kind": "unauthorized"}) == 1


async def test_names_are_path_escaped(argocd_server: FakeArgoCD, client: httpx.AsyncClient) -> None:
    """An application name is one escaped path segment: it cannot reach another endpoint."""
    argo = ArgoCDBackend(client, argocd_server.url, token=TOKEN)
    argocd_server.add_app(application("checkout"))
    for name in ("checkout/resource-tree", "../version", "a b?x=1#y"):
        with pytest.raises(NotFound):
            await argo.get_app(name)
    raw = [r.raw_path for r in argocd_server.requests]
    assert raw == ["/api/v1/applications/checkout%2Fresource-tree", "/api/v1/applications/..%2Fversion",
                   "/api/v1/applications/a%20b%3Fx%3D1%23y"]
    assert argo.app_url("a b/c") == f"{argocd_server.url}/applications/a%20b%2Fc"


async def test_server_error_is_unavailable(argocd_server: FakeArgoCD, client: httpx.AsyncClient) -> None:
    """A 503 from Argo CD is BackendUnavailable with its message."""
    argocd_server.fail_next(503, "repository server is unavailable")
    with pytest.raises(BackendUnavailable, match="repository server is unavailable"):
        await ArgoCDBackend(client, argocd_server.url, token=TOKEN).list_apps()


async def test_null_items_and_bad_history() -> None:
    """A null item list is empty; a history entry without deployedAt is a BackendError, not a crash."""
    bad = application("x", history=[history_entry(1, "r", T)])
    del bad["status"]["history"][0]["deployedAt"]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/applications":
            return httpx.Response(200, json={"items": None, "metadata": {}})
        return httpx.Response(200, json=bad)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as mock:
        argo = ArgoCDBackend(mock, "https://argo.example.com")
        assert await argo.list_apps() == []
        with pytest.raises(BackendError, match="unexpected get_app response"):
            await argo.get_app("x")


async def test_permission_denied_on_get_means_no_such_app(argocd_server):
    """Argo CD's 403 for an unknown app (it hides which apps exist) becomes NotFound that says so."""
    import httpx
    import pytest

    from sre_bot.backends.argocd import ArgoCDBackend
    from sre_bot.errors import NotFound

    argocd_server.fail_next(403, "permission denied")
    async with httpx.AsyncClient() as client:
        backend = ArgoCDBackend(client, argocd_server.url, token="test-token")
        with pytest.raises(NotFound, match="no application 'ghost'"):
            await backend.get_app("ghost")


# -- writes ---------------------------------------------------------------------------------------------------------

def _manual_checkout() -> dict:
    app = _checkout()
    app["spec"]["syncPolicy"] = {}
    return app


async def test_rollback_on_the_wire(argocd_server: FakeArgoCD, client: httpx.AsyncClient) -> None:
    """rollback POSTs the swagger's ApplicationRollbackRequest and parses the Application answered."""
    argocd_server.add_app(_manual_checkout())
    app = await ArgoCDBackend(client, argocd_server.url, token=TOKEN).rollback("checkout", 8)
    [req] = argocd_server.requests
    assert (req.method, req.raw_path) == ("POST", "/api/v1/applications/checkout/rollback")
    assert req.header("Authorization") == f"Bearer {TOKEN}" and req.header("Content-Type") == "application/json"
    assert argocd_server.operations == [{"op": "rollback", "app": "checkout", "query": {},
                                         "body": {"name": "checkout", "id": 8, "prune": False, "dryRun": False}}]
    newest = app.history[0]
    assert (newest.id, newest.revision, newest.initiated_by) == (10, "bbb222", "sre-bot")
    assert app.revision == "bbb222" and app.sync_status == "OutOfSync"


async def test_rollback_refusals_quote_argo_cd(argocd_server: FakeArgoCD, client: httpx.AsyncClient) -> None:
    """Auto-sync on, an unknown history id and an unknown app are refused with Argo CD's message and what was tried."""
    argocd_server.add_app(_checkout())
    argo = ArgoCDBackend(client, argocd_server.url, token=TOKEN)
    argocd_server.auto_sync["checkout"] = True
    with pytest.raises(QueryRejected, match="rollback cannot be initiated when auto-sync is enabled") as info:
        await argo.rollback("checkout", 8)
    assert str(info.value).startswith("argocd: rolling back 'checkout' to history id 8: Argo CD rejected")
    assert (info.value.operation, info.value.status) == ("rollback", 400)
    argocd_server.auto_sync["checkout"] = False
    with pytest.raises(QueryRejected, match="application checkout does not have deployment with id 42"):
        await argo.rollback("checkout", 42)
    with pytest.raises(Unauthorized, match="permission denied.*when application 'ghost' does not exist") as info:
        await argo.rollback("ghost", 1)
    assert "'sync' permission" in str(info.value)
    assert argocd_server.operations == []


async def test_sync_on_the_wire_and_dry_run(argocd_server: FakeArgoCD, client: httpx.AsyncClient) -> None:
    """sync POSTs the ApplicationSyncRequest fields; a dry run is recorded but changes nothing."""
    argocd_server.add_app(_checkout())
    argo = ArgoCDBackend(client, argocd_server.url, token=TOKEN)
    app = await argo.sync("checkout", "aaa111", prune=True, dry_run=True)
    assert [d.id for d in app.history] == [9, 8, 7]
    app = await argo.sync("checkout", "ddd444")
    assert [r.raw_path for r in argocd_server.requests] == ["/api/v1/applications/checkout/sync"] * 2
    assert [o["body"] for o in argocd_server.operations] == [
        {"name": "checkout", "revision": "aaa111", "prune": True, "dryRun": True},
        {"name": "checkout", "revision": "ddd444", "prune": False, "dryRun": False}]
    assert (app.history[0].id, app.history[0].revision, app.revision, app.sync_status) == (10, "ddd444", "ddd444",
                                                                                          "Synced")
    argocd_server.auto_sync["checkout"] = True
    with pytest.raises(QueryRejected, match="Cannot sync to eee555: auto-sync currently set to HEAD"):
        await argo.sync("checkout", "eee555")


async def test_resource_action_v2(argocd_server: FakeArgoCD, client: httpx.AsyncClient) -> None:
    """run_resource_action POSTs ResourceActionRunRequestV2 (unset fields left out); unknown resources are refused."""
    argocd_server.add_app(_checkout())
    argo = ArgoCDBackend(client, argocd_server.url, token=TOKEN)
    await argo.run_resource_action("checkout", action="restart", kind="Deployment", resource_name="checkout",
                                   namespace="shop", group="apps", version="v1")
    await argo.run_resource_action("checkout", action="restart", kind="Service", resource_name="checkout",
                                   namespace="shop", group=None, version=None)
    assert [r.raw_path for r in argocd_server.requests] == ["/api/v1/applications/checkout/resource/actions/v2"] * 2
    assert [o["body"] for o in argocd_server.operations] == [
        {"name": "checkout", "namespace": "shop", "resourceName": "checkout", "version": "v1", "group": "apps",
         "kind": "Deployment", "action": "restart"},
        {"name": "checkout", "namespace": "shop", "resourceName": "checkout", "kind": "Service", "action": "restart"}]
    with pytest.raises(QueryRejected, match="Deployment apps nope not found as part of application checkout") as info:
        await argo.run_resource_action("checkout", action="restart", kind="Deployment", resource_name="nope",
                                       namespace="shop", group="apps", version="v1")
    assert "running action 'restart' on Deployment/nope of 'checkout'" in str(info.value)


async def test_resource_action_falls_back_to_v1(argocd_server: FakeArgoCD, client: httpx.AsyncClient) -> None:
    """An Argo CD without the v2 route (404) gets the v1 call: resource in the query, action as a JSON string body."""
    argocd_server.add_app(_checkout())
    argocd_server.actions_v2 = False
    await ArgoCDBackend(client, argocd_server.url, token=TOKEN).run_resource_action(
        "checkout", action="restart", kind="Deployment", resource_name="checkout", namespace="shop", group="apps",
        version="v1")
    v2, v1 = argocd_server.requests
    assert v2.raw_path.endswith("/resource/actions/v2")
    assert v1.raw_path == "/api/v1/applications/checkout/resource/actions"
    assert argocd_server.operations == [{"op": "resource_action", "app": "checkout", "body": "restart", "query": {
        "namespace": "shop", "resourceName": "checkout", "version": "v1", "group": "apps", "kind": "Deployment"}}]


@pytest.mark.parametrize("status, kind", [(500, BackendUnavailable), (503, BackendUnavailable), (404, NotFound),
                                          (400, QueryRejected)])
async def test_write_errors_carry_argo_cds_message(argocd_server: FakeArgoCD, client: httpx.AsyncClient, status: int,
                                                   kind: type[BackendError]) -> None:
    """Every failed write is the matching BackendError carrying Argo CD's message, counted in metrics."""
    argocd_server.add_app(_manual_checkout())
    metrics = Metrics()
    argo = ArgoCDBackend(client, argocd_server.url, token=TOKEN, metrics=metrics)
    argocd_server.fail_writes(status, "Unable to load data: etcd is sad", times=2)
    for call in (argo.rollback("checkout", 8), argo.sync("checkout", "x")):
        with pytest.raises(kind, match="Unable to load data: etcd is sad") as info:
            await call
        assert info.value.status == status
    assert argocd_server.operations == []
    assert metrics.registry.get_sample_value(
        "sre_bot_backend_errors_total", {"backend": "argocd", "kind": kind.kind}) == 2


async def test_write_connection_refused(client: httpx.AsyncClient) -> None:
    """Nothing listening is BackendUnavailable naming the write and the cause."""
    argo = ArgoCDBackend(client, f"http://127.0.0.1:{free_port()}", token=TOKEN)
    with pytest.raises(BackendUnavailable, match=r"rolling back 'checkout' to history id 8: .*connection refused"):
        await argo.rollback("checkout", 8)


async def test_write_held_past_the_timeout_was_applied(argocd_server: FakeArgoCD) -> None:
    """A write whose answer never comes in time is BackendTimeout saying it may have been applied, and it was."""
    argocd_server.add_app(_manual_checkout())
    argocd_server.hold_writes = threading.Event()
    async with httpx.AsyncClient(timeout=0.3) as short:
        with pytest.raises(BackendTimeout, match="within 0.3s .*it may still have been applied"):
            await ArgoCDBackend(short, argocd_server.url, token=TOKEN).rollback("checkout", 8)
    assert [o["op"] for o in argocd_server.operations] == ["rollback"]
    argocd_server.hold_writes.set()
    async with httpx.AsyncClient(timeout=5) as c:
        app = await ArgoCDBackend(c, argocd_server.url, token=TOKEN).get_app("checkout")
    assert app.history[0].revision == "bbb222"


async def test_tree_nodes_carry_their_version(argocd_server: FakeArgoCD, client: httpx.AsyncClient) -> None:
    """resource_tree keeps each node's API version, which a resource action needs."""
    argocd_server.add_app(_checkout())
    nodes = await ArgoCDBackend(client, argocd_server.url, token=TOKEN).resource_tree("checkout")
    assert {(n.kind, n.version) for n in nodes} == {("Deployment", "v1"), ("Service", "v1")}
