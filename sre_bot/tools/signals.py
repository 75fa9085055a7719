"""Golden signals of a service, now versus its own baseline, as evidence.

One range query per signal covers the baseline and the window together (one call, one step); the quote states
the numbers exactly as they were computed from the returned points, with the query and the window beside them.

`scope_signals` gives the same evidence for many services with one range query per signal for the whole scope
(plus one for yesterday): each signal template is rewritten to keep the service's labels (`sre_bot.promql_scope`:
`sum(...)` -> `sum by (service) (...)`, `$selector` -> `service=~"a|b|c"`) and each result series goes back to
its service. The evidence still quotes each service's own query (the one a person can paste) and keeps its id.
A template that cannot be rewritten safely, or a service whose labels do not fit the scope's matchers, is queried
per service as before; so is a batch Prometheus rejects (400/422), so a rewrite mistake never costs the answer.
"""

from __future__ import annotations

import asyncio
import functools
from collections import defaultdict
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import timedelta

from ..analysis.baseline import Comparison, compare
from ..config import Config, RenderedSignal, ServiceConfig, Signal
from ..deps import Deps
from ..errors import BackendError, QueryRejected
from ..logging import get_logger
from ..models import Evidence, Series, TimeRange, evidence_id
from ..promql_scope import ScopePlan, plan_scope, sentinel
from ..querylang import matchers, render_template
from ._common import failure, fmt_value, not_configured

__all__ = ["golden_signals", "scope_signals", "scope_queries", "resolve_scope_query", "baseline_for", "MIN_BASELINE",
           "MAX_REGEX_CHARS"]

log = get_logger(__name__)

MIN_BASELINE = timedelta(hours=1)
MAX_REGEX_CHARS = 1500  # a scope whose service regex would be longer is split (URLs stay well under 8 KiB)


def baseline_for(window: TimeRange) -> TimeRange:
    """The window just before `window`, as long as it (at least an hour)."""
    return window.before(max(window.duration, MIN_BASELINE))


async def golden_signals(deps: Deps, svc: ServiceConfig, window: TimeRange, *, seasonal: bool = False,
                         ) -> list[Evidence]:
    """All configured signals of `svc`, concurrently; a failing signal is an `error` item, the rest still shown.

    With `seasonal`, each signal's same window one day earlier is fetched too (`data["seasonal_points"]`), so the
    analysis can compare against yesterday when a day of history exists."""
    rendered = deps.config.signal_queries(svc)
    if deps.prometheus is None:
        return [not_configured("prometheus", "signal", f"{svc.name} golden signals", service=svc.name)]
    baseline = baseline_for(window)
    return list(await asyncio.gather(*(_one(deps, svc, r, window, baseline, seasonal) for r in rendered)))


async def scope_signals(deps: Deps, services: list[ServiceConfig], window: TimeRange, *, seasonal: bool = False,
                        max_regex_chars: int = MAX_REGEX_CHARS) -> dict[str, list[Evidence]]:
    """`golden_signals(deps, svc, window, seasonal=seasonal)` for every service, by name, with one range query per
    signal for the whole scope (and one for yesterday with `seasonal`) instead of one per service and signal.

    A failing batch gives each of its services the `error` item its own query would; a service with no series
    gets the `no_data` item; evidence ids and quoted queries are the per-service ones."""
    unique = list({svc.name: svc for svc in reversed(services)}.values())[::-1]  # first of each name, in order
    rendered = {svc.name: deps.config.signal_queries(svc) for svc in unique}
    if deps.prometheus is None:
        return {svc.name: [not_configured("prometheus", "signal", f"{svc.name} golden signals", service=svc.name)]
                for svc in unique}
    baseline = baseline_for(window)
    jobs: list[Awaitable[dict[tuple[str, str], Evidence]]] = []
    batches, alone = scope_batches(deps.config, unique, max_regex_chars=max_regex_chars)
    for batch in batches:
        jobs.append(_batch(deps, batch, rendered, window, baseline, seasonal))
    for name, svc in alone:
        [r] = [r for r in rendered[svc.name] if r.name == name]
        jobs.append(_alone(deps, svc, r, window, baseline, seasonal))
    found: dict[tuple[str, str], Evidence] = {}
    for part in await asyncio.gather(*jobs):
        found.update(part)
    return {svc.name: [found[(svc.name, r.name)] for r in rendered[svc.name]] for svc in unique}


@dataclass(frozen=True)
class ScopeBatch:
    """One signal for several services: the scope query, and which label values are which service's."""

    signal: str
    plan: ScopePlan
    members: tuple[tuple[ServiceConfig, tuple[str, ...]], ...]  # (service, its values of plan.labels)

    @property
    def query(self) -> str:
        return self.plan.render({label: [key[i] for _, key in self.members]
                                 for i, label in enumerate(self.plan.labels)})


def scope_batches(config: Config, services: list[ServiceConfig], *, max_regex_chars: int = MAX_REGEX_CHARS,
                  ) -> tuple[list[ScopeBatch], list[tuple[str, ServiceConfig]]]:
    """How a scope's signals are fetched: the scope queries, and the (signal, service) pairs queried alone."""
    batches: list[ScopeBatch] = []
    alone: list[tuple[str, ServiceConfig]] = []
    for name, signal in config.all_signals.items():
        by_plan: dict[ScopePlan, list[tuple[ServiceConfig, tuple[str, ...]]]] = defaultdict(list)
        for svc in services:
            if signal.only is not None and svc.name not in signal.only:
                continue
            plan = _plan(signal, tuple(_labels(config, svc)))
            key = plan.key_of(_values(config, svc)) if plan is not None else None
            if plan is None or key is None:
                alone.append((name, svc))
            else:
                by_plan[plan].append((svc, key))
        for plan, members in by_plan.items():
            batches += [ScopeBatch(name, plan, chunk) for chunk in _chunks(plan, members, max_regex_chars)]
    return batches, alone


def scope_queries(config: Config, services: list[ServiceConfig]) -> dict[str, list[tuple[str, list[str]]]]:
    """Per signal, the scope queries `scope_signals` would send and the services each answers for (a query
    for one service alone is that service's own query) — for a simulator or a test that must answer them."""
    batches, alone = scope_batches(config, services)
    out: dict[str, list[tuple[str, list[str]]]] = defaultdict(list)
    for b in batches:
        out[b.signal].append((b.query, [svc.name for svc, _ in b.members]))
    for name, svc in alone:
        [r] = [r for r in config.signal_queries(svc) if r.name == name]
        out[name].append((r.query, [svc.name]))
    return dict(out)


def resolve_scope_query(config: Config, query: str) -> tuple[str, list[tuple[ServiceConfig, dict[str, str]]]] | None:
    """For a simulator: which signal a scope query `scope_signals` sent is, and for each configured service it
    answers for, the labels its result series must carry (`{"service": "checkout"}`); None for any other query."""
    for name, signal in config.all_signals.items():
        members = [svc for svc in config.services if signal.only is None or svc.name in signal.only]
        for plan in dict.fromkeys(_plan(signal, tuple(_labels(config, svc))) for svc in members):
            values = plan.values_in(query) if plan is not None else None
            if plan is None or values is None:
                continue
            out = []
            for svc in members:
                if _plan(signal, tuple(_labels(config, svc))) != plan:
                    continue
                key = plan.key_of(_values(config, svc))
                if key is not None and all(v in values[label] for label, v in zip(plan.labels, key, strict=True)):
                    out.append((svc, dict(zip(plan.labels, key, strict=True))))
            return name, out
    return None


def _labels(config: Config, svc: ServiceConfig) -> dict[str, str]:
    return svc.labels or {config.defaults.service_label: svc.name}


def _values(config: Config, svc: ServiceConfig) -> dict[str, str]:
    """The raw value of each template variable for `svc` (the sentinels' names)."""
    return {**{f"sel:{k}": v for k, v in _labels(config, svc).items()}, "namespace": config.namespace_of(svc),
            "container": svc.container or svc.name, "service": svc.name}


def _plan(signal: Signal, shape: tuple[str, ...]) -> ScopePlan | None:
    """The signal's scope plan for services whose `$selector` has the label names `shape`."""
    return _plan_for(signal.query, shape)


@functools.lru_cache(maxsize=512)
def _plan_for(template: str, shape: tuple[str, ...]) -> ScopePlan | None:
    variables = {
        "selector": matchers({k: sentinel(f"sel:{k}") for k in shape}),
        "container_selector": matchers({"namespace": sentinel("namespace"), "container": sentinel("container")}),
        "service": sentinel("service"), "namespace": sentinel("namespace"), "container": sentinel("container"),
    }
    return plan_scope(render_template(template, variables))


def _chunks(plan: ScopePlan, members: list[tuple[ServiceConfig, tuple[str, ...]]], limit: int,
            ) -> list[tuple[tuple[ServiceConfig, tuple[str, ...]], ...]]:
    """`members` split so that no label's regex in one query is longer than `limit` characters."""
    out: list[tuple[tuple[ServiceConfig, tuple[str, ...]], ...]] = []
    current: list[tuple[ServiceConfig, tuple[str, ...]]] = []
    for m in members:
        trial = [*current, m]
        values = {label: [key[i] for _, key in trial] for i, label in enumerate(plan.labels)}
        if current and plan.regex_chars(values) > limit:
            out.append(tuple(current))
            trial = [m]
        current = trial
    if current:
        out.append(tuple(current))
    return out


async def _alone(deps: Deps, svc: ServiceConfig, r: RenderedSignal, window: TimeRange, baseline: TimeRange,
                 seasonal: bool) -> dict[tuple[str, str], Evidence]:
    return {(svc.name, r.name): await _one(deps, svc, r, window, baseline, seasonal)}


async def _batch(deps: Deps, batch: ScopeBatch, rendered: dict[str, list[RenderedSignal]], window: TimeRange,
                 baseline: TimeRange, seasonal: bool) -> dict[tuple[str, str], Evidence]:
    """One scope query (and yesterday's) for a batch, split back into each member's evidence."""
    assert deps.prometheus is not None
    own = {svc.name: next(r for r in rendered[svc.name] if r.name == batch.signal) for svc, _ in batch.members}
    whole = TimeRange(start=baseline.start, end=window.end)
    query = batch.query
    try:
        step = deps.prometheus.step_for(whole)
        series, season = await asyncio.gather(
            deps.prometheus.query_range(query, whole, step=step),
            _yesterday_scope(deps, query, window) if seasonal else asyncio.sleep(0, result=None),
        )
    except QueryRejected as e:  # our rewrite (or the server) disagrees: each service's own query, as before
        log.info("scope query rejected; querying per service", signal=batch.signal, error=str(e),
                    services=len(batch.members))
        parts = await asyncio.gather(*(_alone(deps, svc, own[svc.name], window, baseline, seasonal)
                                       for svc, _ in batch.members))
        return {k: v for part in parts for k, v in part.items()}
    except BackendError as e:
        return {(svc.name, batch.signal): failure("prometheus", "signal", f"{svc.name} {own[svc.name].signal.title}",
                                                  own[svc.name].query, window, e, service=svc.name)
                for svc, _ in batch.members}
    groups = _group(series, batch.plan.labels)
    seasons = _group(season, batch.plan.labels) if season is not None else {}
    return {(svc.name, batch.signal): _evidence(deps, svc, own[svc.name], window, baseline, step,
                                                groups.get(key, []), _season_points(seasons.get(key, [])))
            for svc, key in batch.members}


async def _yesterday_scope(deps: Deps, query: str, window: TimeRange) -> list[Series] | None:
    try:
        return await _yesterday_series(deps, query, window)
    except BackendError:
        return None  # as per service: no seasonal points, the pre-window baseline is used


def _group(series: list[Series], labels: tuple[str, ...]) -> dict[tuple[str, ...], list[Series]]:
    out: dict[tuple[str, ...], list[Series]] = defaultdict(list)
    for s in series:
        out[tuple(s.labels.get(label, "") for label in labels)].append(s)
    return out


async def _yesterday(deps: Deps, query: str, window: TimeRange) -> list[list[float]]:
    assert deps.prometheus is not None
    try:
        series = await _yesterday_series(deps, query, window)
    except BackendError:
        return []  # seasonality is a refinement; without it the pre-window baseline is used
    return _season_points(series)


async def _yesterday_series(deps: Deps, query: str, window: TimeRange) -> list[Series]:
    assert deps.prometheus is not None
    w = window.shift(-timedelta(days=1))
    return await deps.prometheus.query_range(query, w, step=deps.prometheus.step_for(w))


def _season_points(series: list[Series]) -> list[list[float]]:
    return [[p.t + 86400, p.v] for p in _pick(series).points] if series else []


async def _one(deps: Deps, svc: ServiceConfig, r: RenderedSignal, window: TimeRange, baseline: TimeRange,
               seasonal: bool = False) -> Evidence:
    assert deps.prometheus is not None
    whole = TimeRange(start=baseline.start, end=window.end)
    try:
        step = deps.prometheus.step_for(whole)
        series, season = await asyncio.gather(
            deps.prometheus.query_range(r.query, whole, step=step),
            _yesterday(deps, r.query, window) if seasonal else asyncio.sleep(0, result=[]),
        )
    except BackendError as e:
        return failure("prometheus", "signal", f"{svc.name} {r.signal.title}", r.query, window, e, service=svc.name)
    return _evidence(deps, svc, r, window, baseline, step, series, season)


def _evidence(deps: Deps, svc: ServiceConfig, r: RenderedSignal, window: TimeRange, baseline: TimeRange,
              step: float, series: list[Series], season: list[list[float]]) -> Evidence:
    """The evidence for one service's signal from the series its query returned (alone or grouped from a scope
    query: the same either way)."""
    assert deps.prometheus is not None
    label = f"{svc.name} {r.signal.title}"
    whole = TimeRange(start=baseline.start, end=window.end)
    url = deps.prometheus.graph_url(r.query, whole)
    extra = {}
    grafana = deps.links.grafana_explore(r.query, whole, datasource="prometheus")
    if grafana:
        extra["Grafana"] = grafana
    eid = evidence_id("prometheus", r.query, window)
    base = dict(id=eid, source="prometheus", kind="signal", label=label, query=r.query, window=window, url=url,
                extra_urls=extra, service=svc.name)
    if not series or not any(s.points for s in series):
        return Evidence(**base, quote=f"{label}: no data in {whole.label()}", status="no_data",
                        data={"signal": r.name, "unit": r.signal.unit})
    s = _pick(series)
    w_vals = [p.v for p in s.points if p.t >= window.start.timestamp()]
    b_vals = [p.v for p in s.points if p.t < window.start.timestamp()]
    cmp = compare(w_vals, b_vals, bad=r.signal.bad, min_abs=r.signal.min_abs)
    partial = f"showing 1 of {len(series)} series (the largest)" if len(series) > 1 else None
    return Evidence(
        **base, quote=_quote(label, r.signal.unit, cmp), status="ok" if w_vals else "no_data", partial=partial,
        data={
            "signal": r.name, "unit": r.signal.unit, "verdict": cmp.verdict, "now": cmp.now,
            "recent_median": cmp.recent_median,
            "window_median": cmp.window_median, "window_max": cmp.window_max,
            "baseline_median": cmp.baseline_median, "baseline_mad": cmp.baseline_mad, "robust_z": cmp.robust_z,
            "baseline_window": {"start": baseline.start.isoformat(), "end": baseline.end.isoformat()},
            "points": [[p.t, p.v] for p in s.points],
            "seasonal_points": season,
            "step": step,
            "expected_points": [window.duration.total_seconds() / step, baseline.duration.total_seconds() / step],
        },
    )


def _pick(series: list[Series]) -> Series:
    return max(series, key=lambda s: (s.last is not None, abs(s.last or 0.0)))


def _quote(label: str, unit: str, c: Comparison) -> str:
    if c.verdict == "no_data":
        return f"{label}: no data in the window"
    text = f"{label}: now {fmt_value(c.now, unit)}, recent median {fmt_value(c.recent_median, unit)}"
    if c.baseline_median is None:
        return text + ", no baseline data"
    text += f", baseline median {fmt_value(c.baseline_median, unit)}"
    if c.ratio is not None and c.verdict in ("high", "low"):
        text += f" (×{c.ratio:.1f})"
    return text
