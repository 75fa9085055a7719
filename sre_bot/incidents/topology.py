"""The topology alerts are grouped by, discovered from what the bot already reads (`analysis/topology.py` is the
type; this module does the reading).

    topo = await discover(deps, now=now)                       # or, refreshing: previous=the last one
    topo.depends_on(); topo.source("checkout", "payments-api")   # "discovered"

Four parts, each best effort:
- **configured**: the config's `services[].depends_on` (source "config"; it wins where both name an edge);
- **discovered edges**: the call-graph metrics the investigation reads (`tools/edges.probe_edges` over the last
  `window`, then `edges_of`: Tempo's service graphs, Istio, the config's own `call_graph.edges`); an edge needs some
  traffic in the window, and a virtual node (Tempo's `user`) is no service;
- **groups**: each Argo CD application's workloads (Deployments, StatefulSets, DaemonSets, Argo Rollouts, CronJobs
  in its resource tree, plus the configured service the application belongs to) belong together. Every application
  Argo CD lists is read, as deploy times are (`tools/deploys.deploy_times`); an application with one workload
  groups nothing, and one with more than `MAX_GROUP` (a whole demo shop in one chart) is too broad to say which
  alerts belong together: it is left out;
- **learned ties**: from resolved incidents in the store (`analysis/learned_ties.py`, half-life 30 days).

Names go through the config's aliases, as alerts' services do. A part whose backend fails is logged and the
`previous` topology's part kept (the first time: nothing); so is an empty call graph when the previous one had
edges (a Prometheus that answers nothing for a moment must not drop the graph the next storm needs). Nothing
here raises.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from datetime import datetime, timedelta
from typing import TypeVar

from ..analysis.learned_ties import HORIZON, learn_ties
from ..analysis.topology import Tie, Topology
from ..config import Config
from ..deps import Deps
from ..errors import BackendError
from ..logging import get_logger
from ..models import TimeRange
from ..tools.edges import edges_of, probe_edges

__all__ = ["discover", "source_text", "MERGE_SOURCES", "DISCOVERY_WINDOW", "WORKLOAD_KINDS", "MAX_GROUP", "MAX_APPS",
           "MIN_TOGETHER"]

log = get_logger(__name__)

DISCOVERY_WINDOW = timedelta(hours=1)
WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "Rollout", "CronJob"})
MAX_GROUP = 12  # more workloads than this in one application: too broad a group
MAX_APPS = 500  # resource trees read per discovery
TREES_AT_ONCE = 8
MIN_TOGETHER = 1.0  # a learned tie weaker than one recent incident together is not kept

_T = TypeVar("_T")

# What linked an alert to its incident (`Merge.source`), as people read it
MERGE_SOURCES = {"discovered": "discovered edge", "config": "configured depends_on", "label": "shared label",
                 "learned": "learned co-occurrence", "group": "same Alertmanager group", "deploy": "deploy",
                 "time": "time proximity"}


def source_text(source: str | None) -> str | None:
    """A merge's source (`Merge.source`) as people read it: "discovered edge", "shared label", ..."""
    return MERGE_SOURCES.get(source, source) if source else None


def _aliases(cfg: Config) -> dict[str, str]:
    return {a: s.name for s in cfg.services for a in s.aliases}


async def _safely(part: str, job: Awaitable[_T]) -> _T | None:
    """The part's result, or None (logged) when it failed: never fatal."""
    try:
        return await job
    except BackendError as e:
        log.warning("topology part not discovered; the previous one is kept", part=part, error=str(e))
    except Exception:
        log.exception("topology part failed; the previous one is kept", part=part)
    return None


async def _edges(deps: Deps, now: datetime, window: timedelta, aliases: Mapping[str, str],
                 ) -> set[tuple[str, str]] | None:
    if deps.prometheus is None:
        return set()
    half = window / 2
    recent = TimeRange.ending(now, half)
    found, _ = await probe_edges(deps, recent, recent.before(half))
    failed = [e for e in found if e.status == "error"]
    for e in failed:
        log.warning("call-graph query failed", label=e.label, error=e.quote)
    edges = {(aliases.get(c, c), aliases.get(s, s)) for c, s in edges_of(found)}
    edges = {(c, s) for c, s in edges if c != s}
    return None if failed and not edges else edges


async def _groups(deps: Deps, aliases: Mapping[str, str], previous: Mapping[str, str]) -> dict[str, str] | None:
    argocd = deps.argocd
    if argocd is None:
        return {}
    apps = [a.name for a in await argocd.list_apps()]
    if len(apps) > MAX_APPS:
        log.warning("too many Argo CD applications to read every resource tree", apps=len(apps), read=MAX_APPS)
        apps = apps[:MAX_APPS]
    cfg = deps.config
    service_of_app = {cfg.argocd_app(s): s.name for s in cfg.services}
    gate = asyncio.Semaphore(TREES_AT_ONCE)

    async def members(app: str) -> set[str] | None:
        async with gate:
            try:
                nodes = await argocd.resource_tree(app)
            except BackendError as e:
                log.warning("Argo CD resource tree not read; its previous group is kept", app=app, error=str(e))
                return None
        return {aliases.get(n.name, n.name) for n in nodes if n.kind in WORKLOAD_KINDS}

    trees = await asyncio.gather(*(members(a) for a in apps))
    groups: dict[str, str] = {}
    for app, found in zip(apps, trees, strict=True):
        if found is None:
            found = {s for s, g in previous.items() if g == app}
        elif app in service_of_app:
            found.add(service_of_app[app])
        if len(found) > MAX_GROUP:
            log.info("Argo CD application too broad to group its workloads", app=app, workloads=len(found))
            continue
        if len(found) >= 2:
            for svc in sorted(found):
                groups.setdefault(svc, app)  # a workload in two applications: the first by name
    return groups


async def _ties(deps: Deps, now: datetime) -> dict[tuple[str, str], Tie]:
    if deps.store is None:
        return {}
    from ..store.incident_history import past_incidents  # the store (SQLAlchemy) only when there is one

    ties = learn_ties(await past_incidents(deps.store, since=now - HORIZON), now=now)
    return {k: t for k, t in ties.items() if t.together >= MIN_TOGETHER}


async def discover(deps: Deps, *, now: datetime, window: timedelta = DISCOVERY_WINDOW,
                   previous: Topology | None = None) -> Topology:
    """The topology now: configured depends_on, call-graph edges with traffic in the last `window`, Argo CD
    application groups and learned ties (see the module docstring). Never raises."""
    cfg = deps.config
    aliases = _aliases(cfg)
    prev = previous or Topology()
    prev_edges = {e for e, s in prev.edges.items() if s == "discovered"}
    edges, groups, ties = await asyncio.gather(
        _safely("call-graph edges", _edges(deps, now, window, aliases)),
        _safely("Argo CD groups", _groups(deps, aliases, prev.groups)),
        _safely("learned ties", _ties(deps, now)))
    if edges is not None and not edges and prev_edges:
        log.warning("no call-graph edges with traffic now; the ones discovered before are kept", kept=len(prev_edges))
        edges = None
    topo = Topology.build(config=cfg.dependencies(), discovered=sorted(prev_edges if edges is None else edges),
                          groups=prev.groups if groups is None else groups,
                          ties=prev.ties if ties is None else ties)
    log.info("topology discovered", edges=len(topo.edges),
             discovered=sum(1 for s in topo.edges.values() if s == "discovered"),
             groups=len(set(topo.groups.values())), ties=len(topo.ties))
    return topo
