"""ArgoCDBackend against the fake Argo CD server: history parsing, errors, auth and path escaping."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from sre_bot.backends.argocd import ArgoCDBackend
from sre_bot.errors import BackendError, BackendUnavailable, NotFound, Unauthorized
from sre_bot.metrics import Metrics
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
