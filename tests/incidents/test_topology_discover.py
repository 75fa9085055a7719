"""`incidents.topology.discover`: Tempo service-graph series in a real Prometheus become discovered edges, Argo CD
applications' resource trees become groups, the configured depends_on goes on top, and a backend that fails keeps
what was discovered before."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest

from sre_bot.analysis.topology import Topology
from sre_bot.compose import open_deps
from sre_bot.config import parse_config
from sre_bot.incidents.topology import MAX_GROUP, discover
from sre_bot.settings import load_settings
from tests.fakes.argocd import FakeArgoCD, application

pytestmark = pytest.mark.prometheus

EDGES = [("user", "frontend"), ("frontend", "checkout"), ("checkout", "payments"), ("payments-api", "payments-db")]


def tempo_history(end: int, edges: list[tuple[str, str]], *, idle: tuple[str, str] | None = None,
                  seconds: int = 3600) -> str:
    """`seconds` (an hour) of `traces_service_graph_request_total` (the metrics-generator's counter) up to `end`,
    one series per edge, 3 requests/s each (an `idle` edge's counter stands still)."""
    start = end - seconds
    lines = ["# TYPE traces_service_graph_request counter"]
    for c, s in edges:
        name = f'traces_service_graph_request_total{{client="{c}",connection_type="",server="{s}"}}'
        lines += [f"{name} {(t - start) * 3.0} {t}" for t in range(start, end + 1, 15)]
    if idle:
        name = f'traces_service_graph_request_total{{client="{idle[0]}",connection_type="",server="{idle[1]}"}}'
        lines += [f"{name} 7 {t}" for t in range(start, end + 1, 15)]
    return "\n".join(lines) + "\n# EOF\n"


def _end() -> int:
    return int(time.time()) // 60 * 60 - 120


CONFIG = {"services": {"payments-api": {"aliases": ["payments"]}, "frontend": {"depends_on": ["ad"]}, "ad": {}}}


async def test_service_graph_edges_are_discovered_with_their_source(real_prometheus) -> None:
    """Edges with traffic in the last hour are "discovered" (an alias resolved, Tempo's `user` and an idle edge left
    out); the configured depends_on is "config"; `describe()` says where each came from."""
    end = _end()
    url = real_prometheus(tempo_history(end, EDGES, idle=("cart", "catalog")))
    async with open_deps(load_settings(None, PROMETHEUS_URL=url), config=parse_config(CONFIG)) as deps:
        topo = await discover(deps, now=datetime.fromtimestamp(end, tz=timezone.utc))
    assert topo.edges == {("frontend", "ad"): "config", ("frontend", "checkout"): "discovered",
                          ("checkout", "payments-api"): "discovered", ("payments-api", "payments-db"): "discovered"}
    assert topo.source("payments-api", "checkout") == "discovered"
    assert "checkout → payments-api  (discovered from call-graph metrics)" in topo.describe()
    assert "frontend → ad  (configured depends_on)" in topo.describe()


async def test_a_prometheus_that_fails_keeps_the_edges_found_before() -> None:
    """Prometheus unreachable: no exception; the previous discovered edges stay (the first time: only config)."""
    cfg = parse_config(CONFIG)
    settings = load_settings(None, PROMETHEUS_URL="http://127.0.0.1:9", SRE_BOT_BACKEND_TIMEOUT="2")
    before = Topology.build(config=cfg.dependencies(), discovered=[("frontend", "checkout")])
    async with open_deps(settings, config=cfg) as deps:
        now = datetime.now(timezone.utc)
        assert (await discover(deps, now=now)).edges == {("frontend", "ad"): "config"}
        kept = await discover(deps, now=now, previous=before)
    assert kept.edges == before.edges


def _deployments(*names: str, kind: str = "Deployment") -> list[dict[str, object]]:
    return [{"group": "apps", "version": "v1", "kind": kind, "namespace": "shop", "name": n, "status": "Synced",
             "health": {"status": "Healthy"}} for n in names]


async def test_argo_cd_applications_group_their_workloads() -> None:
    """An application's workloads are one group (aliases resolved, Services and one-workload apps add nothing, a
    too-broad app is left out); when Argo CD fails, the groups found before are kept."""
    with FakeArgoCD(token="t") as argo:
        argo.add_app(application("payments", resources=[
            *_deployments("payments", "payments-worker"), *_deployments("payments-db", kind="StatefulSet"),
            {"version": "v1", "kind": "Service", "namespace": "shop", "name": "payments-svc"}]))
        argo.add_app(application("search"))  # one Deployment and its Service
        argo.add_app(application("demo", resources=_deployments(*(f"svc{i}" for i in range(MAX_GROUP + 1)))))
        cfg = parse_config(CONFIG)
        settings = load_settings(None, ARGOCD_URL=argo.url, ARGOCD_TOKEN="t")
        async with open_deps(settings, config=cfg) as deps:
            now = datetime.now(timezone.utc)
            topo = await discover(deps, now=now)
            assert topo.groups == {"payments-api": "payments", "payments-worker": "payments",
                                   "payments-db": "payments"}
            assert "group payments: payments-api, payments-db, payments-worker  (Argo CD application)" in topo.describe()
            argo.fail_next(503, "unavailable", times=5)
            kept = await discover(deps, now=now, previous=topo)
            assert kept.groups == topo.groups
