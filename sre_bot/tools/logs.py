"""Error log lines of a service as evidence: the lines verbatim, and their drain3 templates with counts.

Template mining is CPU-bound (drain3 holds the GIL): it runs off the event loop, in `deps.offload`."""

from __future__ import annotations

import asyncio

from ..analysis.log_shift import template_shifts
from ..analysis.log_templates import mine_templates
from ..config import ServiceConfig
from ..deps import Deps
from ..errors import BackendError
from ..models import Evidence, LogResult, TimeRange, evidence_id
from ..querylang import quote_value
from ._common import analyse, failure, not_configured

__all__ = ["logql_for", "fetch_logs", "log_lines", "error_templates", "error_shift"]


def logql_for(deps: Deps, svc: ServiceConfig, *, errors_only: bool, text: str | None = None) -> str:
    """The LogQL for a service's lines: its stream selector, the error filter, and a person's text filter."""
    q = deps.config.loki_selector(svc)
    if errors_only:
        q += f" |~ {quote_value(deps.config.defaults.log_error_filter)}"
    if text:
        q += f" |= {quote_value(text)}"
    return q


async def fetch_logs(deps: Deps, logql: str, window: TimeRange, *, direction: str = "backward") -> LogResult:
    assert deps.loki is not None
    return await deps.loki.query_range(logql, window, limit=deps.settings.log_line_limit, direction=direction)


def _links(deps: Deps, logql: str, window: TimeRange) -> dict[str, str]:
    url = deps.links.grafana_explore(logql, window, datasource="loki")
    return {"Grafana": url} if url else {}


async def log_lines(deps: Deps, svc: ServiceConfig, window: TimeRange, *, text: str | None = None,
                    errors_only: bool = False, show: int = 15) -> Evidence:
    """The newest `show` matching lines, verbatim; says how many matched and when the line limit was hit."""
    label = f"{svc.name} logs" + (f" matching {text!r}" if text else "")
    if deps.loki is None:
        return not_configured("loki", "logs", label, service=svc.name)
    logql = logql_for(deps, svc, errors_only=errors_only, text=text)
    try:
        result = await fetch_logs(deps, logql, window)
    except BackendError as e:
        return failure("loki", "logs", label, logql, window, e, service=svc.name)
    lines = result.lines[:show]
    base = dict(id=evidence_id("loki", logql, window), source="loki", kind="logs", label=label, query=logql,
                window=window, extra_urls=_links(deps, logql, window), service=svc.name)
    if not lines:
        return Evidence(**base, quote=f"no log lines matched in {window.label()}", status="no_data")
    total = f"{len(result.lines)}+" if result.limit_hit else str(len(result.lines))
    partial = f"showing {len(lines)} of {total} lines" if len(lines) < len(result.lines) or result.limit_hit else None
    return Evidence(**base, quote="\n".join(line.line for line in lines), partial=partial,
                    data={"matched": len(result.lines), "limit_hit": result.limit_hit})


async def error_templates(deps: Deps, svc: ServiceConfig, window: TimeRange, *, top: int = 3) -> list[Evidence]:
    """The most frequent error-line templates in the window, each quoting one real line verbatim."""
    label = f"{svc.name} error logs"
    if deps.loki is None:
        return [not_configured("loki", "logs", label, service=svc.name)]
    logql = logql_for(deps, svc, errors_only=True)
    try:
        result = await fetch_logs(deps, logql, window)
    except BackendError as e:
        return [failure("loki", "logs", label, logql, window, e, service=svc.name)]
    links = _links(deps, logql, window)
    if not result.lines:
        return [Evidence(id=evidence_id("loki", logql, window), source="loki", kind="log_template", label=label,
                         query=logql, window=window, quote=f"no error lines in {window.label()}", status="no_data",
                         extra_urls=links, service=svc.name)]
    templates = await analyse(deps, mine_templates, [line.line for line in result.lines])
    scanned = f"{len(result.lines)}{'+' if result.limit_hit else ''}"
    out = []
    for t in templates[:top]:
        ts = result.lines[t.first_index].time
        out.append(Evidence(
            id=evidence_id("loki", logql, window, t.template), source="loki", kind="log_template",
            label=f"{svc.name} error template ({t.count} of {scanned} lines)", query=logql, window=window,
            quote=t.example, extra_urls=links, service=svc.name,
            partial=(f"counted in the newest {scanned} lines only (line limit hit)" if result.limit_hit else None),
            data={"template": t.template, "count": t.count, "scanned": len(result.lines),
                  "limit_hit": result.limit_hit, "example_time": ts.isoformat(), "templates_total": len(templates)},
        ))
    return out


async def error_shift(deps: Deps, svc: ServiceConfig, window: TimeRange, baseline: TimeRange) -> list[Evidence]:
    """Error templates that are new in the window, or jumped in rate, versus the baseline: one item each.

    An empty list means the logs were read and nothing changed; an `error` item means they could not be read."""
    label = f"{svc.name} error logs"
    if deps.loki is None:
        return [not_configured("loki", "logs", label, service=svc.name)]
    logql = logql_for(deps, svc, errors_only=True)
    try:
        # oldest first in the window: the first line of a new template is its onset, even when the limit is hit
        before, during = await asyncio.gather(fetch_logs(deps, logql, baseline),
                                              fetch_logs(deps, logql, window, direction="forward"))
    except BackendError as e:
        return [failure("loki", "logs", label, logql, window, e, service=svc.name)]
    shifts = await analyse(deps, template_shifts, [x.line for x in before.lines], [x.line for x in during.lines],
                           before_minutes=baseline.duration.total_seconds() / 60,
                           during_minutes=window.duration.total_seconds() / 60)
    capped = before.limit_hit or during.limit_hit
    out = []
    for s in shifts:
        first = during.lines[s.example_index]
        jump = s.rate_during / max(s.rate_before, 1e-9)
        what = "new error template" if s.kind == "new" else f"error template ×{jump:.0f}"
        out.append(Evidence(
            id=evidence_id("loki", logql, window, "shift:" + s.template), source="loki", kind="log_shift",
            label=f"{svc.name} {what}: {s.during} lines in the window, {s.before} before", query=logql,
            window=window, quote=s.example, extra_urls=_links(deps, logql, window), service=svc.name,
            partial=f"counted in at most {deps.settings.log_line_limit} lines per period (line limit hit)"
            if capped else None,
            data={"template": s.template, "kind": s.kind, "before": s.before, "during": s.during,
                  "rate_before_per_min": round(s.rate_before, 3), "rate_during_per_min": round(s.rate_during, 3),
                  "first_seen": first.time.isoformat(), "baseline_window": {
                      "start": baseline.start.isoformat(), "end": baseline.end.isoformat()}},
        ))
    return out
