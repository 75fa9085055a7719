"""An ad-hoc PromQL range query from a person, summarised: top series by their latest value, and what Prometheus
warned about the answer (its `warnings`: why it is empty or partial)."""

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
        step = deps.prometheus.step_for(window)
        series, warnings = await deps.prometheus.query_range_warned(query, window, step=step)
    except BackendError as e:
        return failure("prometheus", "query", label, query, window, e)
    extra = {}
    grafana = deps.links.grafana_explore(query, window, datasource="prometheus")
    if grafana:
        extra["Grafana"] = grafana
    base = dict(id=evidence_id("prometheus", query, window), source="prometheus", kind="query", label=label,
                query=query, window=window, url=deps.prometheus.graph_url(query, window), extra_urls=extra)
    series = [s for s in series if s.values]
    warned = "".join(f"\nPrometheus warns: {w}" for w in warnings)  # why it is empty or partial, in its words
    if not series:
        return Evidence(**base, quote=f"no data in {window.label()}{warned}", status="no_data",
                        data={"warnings": warnings} if warnings else {})
    ranked = sorted(series, key=lambda s: abs(s.last or 0.0), reverse=True)
    lines = [
        f"{_labels(s)} last {_num(s.last)}, min {_num(min(s.values))}, max {_num(max(s.values))}"
        for s in ranked[:top]
    ]
    partial = f"showing {top} of {len(series)} series (largest latest value)" if len(series) > top else None
    return Evidence(**base, quote="\n".join(lines) + warned, partial=partial,
                    data={"series": len(series)} | ({"warnings": warnings} if warnings else {}))
