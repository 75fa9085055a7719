"""An ad-hoc PromQL range query from a person, summarised: top series by their latest value."""

from __future__ import annotations

from ..deps import Deps
from ..errors import BackendError
from ..models import Evidence, Series, TimeRange, evidence_id
from ._common import failure, not_configured

__all__ = ["promql_range"]


def _labels(s: Series) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(s.labels.items())) + "}"


def _num(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.6g}"


async def promql_range(deps: Deps, query: str, window: TimeRange, *, top: int = 5) -> Evidence:
    label = "PromQL query"
    if deps.prometheus is None:
        return not_configured("prometheus", "query", label)
    try:
        series = await deps.prometheus.query_range(query, window, step=deps.prometheus.step_for(window))
    except BackendError as e:
        return failure("prometheus", "query", label, query, window, e)
    extra = {}
    grafana = deps.links.grafana_explore(query, window, datasource="prometheus")
    if grafana:
        extra["Grafana"] = grafana
    base = dict(id=evidence_id("prometheus", query, window), source="prometheus", kind="query", label=label,
                query=query, window=window, url=deps.prometheus.graph_url(query, window), extra_urls=extra)
    series = [s for s in series if s.values]
    if not series:
        return Evidence(**base, quote=f"no data in {window.label()}", status="no_data")
    ranked = sorted(series, key=lambda s: abs(s.last or 0.0), reverse=True)
    lines = [
        f"{_labels(s)} last {_num(s.last)}, min {_num(min(s.values))}, max {_num(max(s.values))}"
        for s in ranked[:top]
    ]
    partial = f"showing {top} of {len(series)} series (largest latest value)" if len(series) > top else None
    return Evidence(**base, quote="\n".join(lines), partial=partial, data={"series": len(series)})
