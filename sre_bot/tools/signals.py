"""Golden signals of a service, now versus its own baseline, as evidence.

One range query per signal covers the baseline and the window together (one call, one step); the quote states
the numbers exactly as they were computed from the returned points, with the query and the window beside them.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from ..analysis.baseline import Comparison, compare
from ..config import RenderedSignal, ServiceConfig
from ..deps import Deps
from ..errors import BackendError
from ..models import Evidence, Series, TimeRange, evidence_id
from ._common import failure, fmt_value, not_configured

__all__ = ["golden_signals", "baseline_for", "MIN_BASELINE"]

MIN_BASELINE = timedelta(hours=1)


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


async def _yesterday(deps: Deps, query: str, window: TimeRange) -> list[list[float]]:
    assert deps.prometheus is not None
    w = window.shift(-timedelta(days=1))
    try:
        series = await deps.prometheus.query_range(query, w, step=deps.prometheus.step_for(w))
    except BackendError:
        return []  # seasonality is a refinement; without it the pre-window baseline is used
    return [[p.t + 86400, p.v] for p in _pick(series).points] if series else []


async def _one(deps: Deps, svc: ServiceConfig, r: RenderedSignal, window: TimeRange, baseline: TimeRange,
               seasonal: bool = False) -> Evidence:
    assert deps.prometheus is not None
    label = f"{svc.name} {r.signal.title}"
    whole = TimeRange(start=baseline.start, end=window.end)
    try:
        step = deps.prometheus.step_for(whole)
        series, season = await asyncio.gather(
            deps.prometheus.query_range(r.query, whole, step=step),
            _yesterday(deps, r.query, window) if seasonal else asyncio.sleep(0, result=[]),
        )
    except BackendError as e:
        return failure("prometheus", "signal", label, r.query, window, e, service=svc.name)
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
