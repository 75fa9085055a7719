"""Error log lines of a service as evidence: the lines verbatim, and their drain3 templates with counts.

Template mining is CPU-bound (drain3 holds the GIL): it runs off the event loop, in `deps.offload`, and its result
for a service's lines is remembered there (`Offload.memo`, keyed on a digest of the lines and minutes): a burst of
questions whose scopes overlap mines each service's logs of a window once."""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
from datetime import datetime
from typing import Any

from ..analysis.log_shift import LogShift, active_minutes, shifts_by_service, template_shifts
from ..analysis.log_templates import mine_templates
from ..config import ServiceConfig
from ..deps import Deps
from ..errors import BackendError
from ..models import Evidence, LogLine, LogResult, Series, TimeRange, evidence_id
from ..querylang import quote_value, regex_matcher, render_template
from ._common import analyse, failure, not_configured

__all__ = ["logql_for", "fetch_logs", "log_lines", "error_templates", "error_shift", "scope_log_shifts", "no_stream"]


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
        selector = deps.config.loki_selector(svc)
        if not await _has_stream(deps, selector, window):  # not "no lines matched": nothing to match against
            return no_stream(deps, svc.name, selector, logql, window, window, kind="logs", label=label)
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
        selector = deps.config.loki_selector(svc)
        if not await _has_stream(deps, selector, window):
            return [no_stream(deps, svc.name, selector, logql, window, window, kind="log_template", label=label)]
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

    An empty list means the logs were read and nothing changed; an `error` item means they could not be read, or
    that no log stream matches the service's selector at all (`no_stream`: a gap, not "logs unchanged")."""
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
    whole = TimeRange(start=baseline.start, end=window.end)
    selector = deps.config.loki_selector(svc)
    if not before.lines and not during.lines and not await _has_stream(deps, selector, whole):
        return [no_stream(deps, svc.name, selector, logql, window, whole)]
    shifts = await _mined(deps, [x.line for x in before.lines], [x.line for x in during.lines],
                          before_minutes=baseline.duration.total_seconds() / 60,
                          during_minutes=window.duration.total_seconds() / 60)
    capped = before.limit_hit or during.limit_hit
    partial = f"counted in at most {deps.settings.log_line_limit} lines per period (line limit hit)" if capped else None
    return [_shift_evidence(deps, svc.name, logql, window, baseline, s, during.lines[s.example_index].time, partial)
            for s in shifts]


def _lines_key(before: list[str], during: list[str], before_minutes: float, during_minutes: float) -> tuple[str, ...]:
    """What `template_shifts` depends on, as a short key: a digest of both periods' lines and their minutes."""
    h = hashlib.blake2b(digest_size=16)
    for part in (before, during):
        h.update(len(part).to_bytes(8, "little"))
        for line in part:
            b = line.encode("utf-8", "surrogatepass")
            h.update(len(b).to_bytes(8, "little"))
            h.update(b)
    return "template_shifts", h.hexdigest(), repr(before_minutes), repr(during_minutes)


async def _mined(deps: Deps, before: list[str], during: list[str], *, before_minutes: float, during_minutes: float,
                 ) -> list[LogShift]:
    """`template_shifts`, remembered per service and window: the same lines are mined once (`Offload.memo`), so the
    investigations of a burst whose scopes overlap mine each service's logs once."""
    if deps.offload is None:
        return template_shifts(before, during, before_minutes=before_minutes, during_minutes=during_minutes)
    return await deps.offload.memo(_lines_key(before, during, before_minutes, during_minutes), template_shifts,
                                   before, during, before_minutes=before_minutes, during_minutes=during_minutes)


async def _mined_by_service(deps: Deps, before: dict[str, list[str]], during: dict[str, list[str]], *,
                            before_minutes: float, during_minutes: float) -> dict[str, list[LogShift]]:
    """`shifts_by_service`, each service's part remembered as in `_mined` (the same result: each service is mined
    on its own lines alone)."""
    if deps.offload is None or before_minutes <= 0 or during_minutes <= 0:
        return await analyse(deps, shifts_by_service, before, during, before_minutes=before_minutes,
                             during_minutes=during_minutes)
    names = sorted(v for v in during if during[v])
    found = await asyncio.gather(*(_mined(deps, list(before.get(v, [])), during[v], before_minutes=before_minutes,
                                          during_minutes=during_minutes) for v in names))
    return {v: shifts for v, shifts in zip(names, found, strict=True) if shifts}


def _shift_evidence(deps: Deps, service: str, logql: str, window: TimeRange, baseline: TimeRange, s: LogShift,
                    first: datetime, partial: str | None, *, extra: dict[str, Any] | None = None) -> Evidence:
    jump = s.rate_during / max(s.rate_before, 1e-9)
    scoped = f"{service}:" if extra else ""  # a scope query's evidence: one query, several services
    what = "new error template" if s.kind == "new" else f"error template ×{jump:.0f}"
    return Evidence(
        id=evidence_id("loki", logql, window, f"shift:{scoped}{s.template}"), source="loki", kind="log_shift",
        label=f"{service} {what}: {s.during} lines in the window, {s.before} before", query=logql,
        window=window, quote=s.example, extra_urls=_links(deps, logql, window), service=service, partial=partial,
        data={"template": s.template, "kind": s.kind, "before": s.before, "during": s.during,
              "rate_before_per_min": round(s.rate_before, 3), "rate_during_per_min": round(s.rate_during, 3),
              "first_seen": first.isoformat(), "baseline_window": {
                  "start": baseline.start.isoformat(), "end": baseline.end.isoformat()}, **(extra or {})},
    )


def _whole_step(whole: TimeRange) -> int:
    return _STEP_S * max(1, math.ceil(whole.duration.total_seconds() / _STEP_S / 10_000))  # Loki: ≤ 11,000 points


async def _has_stream(deps: Deps, selector: str, whole: TimeRange) -> bool:
    """Whether any line of `selector` (error or not) is in Loki in `whole`. Loki answers a selector that matches
    no stream exactly as one whose streams hold no matching line (an empty result), so this counts every line;
    when the count cannot be made, the stream is assumed to exist (nothing is claimed)."""
    assert deps.loki is not None
    step = _whole_step(whole)
    try:
        series = await deps.loki.query_range_matrix(f"sum(count_over_time({selector} [{step}s]))", whole, step)
    except BackendError:
        return True
    return any(p.v > 0 for s in series for p in s.points)


def no_stream(deps: Deps, service: str, selector: str, logql: str, window: TimeRange, whole: TimeRange, *,
              kind: str = "log_shift", label: str | None = None) -> Evidence:
    """A gap: no log stream matches the service's selector in Loki in `whole` (the baseline and the window), so
    its logs were not read at all (an `error` item of kind `no_stream`: said in the answer's gaps, never "logs
    unchanged"; not a system failure, so it does not lower the answer's confidence)."""
    own = " (its own `loki_selector`)" if deps.config.service(service).loki_selector else \
        " (or `defaults.loki_labels`)"
    quote = (f"no log stream matches `{selector}` in Loki in {whole.label()}: check `loki_selector` for {service}"
             f"{own} in the config, or whether its logs are collected")
    return Evidence(id=evidence_id("loki", logql, window, f"nostream:{service}"), source="loki", kind=kind,
                    label=label or f"{service} error logs", query=selector, window=window, quote=quote, status="error",
                    extra_urls=_links(deps, selector, whole), service=service,
                    data={"error_kind": "no_stream", "selector": selector})


_SCOPE_MAX_LIMIT = 5000  # Loki's default max_entries_limit_per_query
_STEP_S = 60


def _service_label(deps: Deps) -> str | None:
    """The stream label that names the service in `defaults.loki_labels` (its template uses `$service`)."""
    keys = [k for k, v in deps.config.defaults.loki_labels.items() if re.search(r"\$(?:service\b|\{service\})", v)]
    return keys[0] if len(keys) == 1 else None


def _scope_groups(deps: Deps, services: list[ServiceConfig]
                  ) -> tuple[list[tuple[dict[str, str], dict[str, ServiceConfig]]], list[ServiceConfig]]:
    """Services that can share one selector, grouped by their labels other than the service label (each group:
    (shared labels, {service-label value: service})), and those that need their own queries."""
    label = _service_label(deps)
    groups: dict[tuple[tuple[str, str], ...], tuple[dict[str, str], dict[str, ServiceConfig]]] = {}
    singles = []
    for svc in services:
        if svc.loki_selector or label is None:
            singles.append(svc)
            continue
        raw = {"namespace": deps.config.namespace_of(svc), "service": svc.name, "container": svc.container or svc.name}
        labels = {k: render_template(v, raw) for k, v in deps.config.defaults.loki_labels.items()}
        value = labels[label]
        shared = {k: (v if k != label else "") for k, v in labels.items()}
        group = groups.setdefault(tuple(shared.items()), (shared, {}))
        if value in group[1] or not value:
            singles.append(svc)  # two services with one label value cannot be told apart in a shared result
        else:
            group[1][value] = svc
    return list(groups.values()), singles


async def scope_log_shifts(deps: Deps, services: list[ServiceConfig], window: TimeRange, baseline: TimeRange,
                           ) -> dict[str, list[Evidence]]:
    """`error_shift` for a whole scope in O(1) Loki queries: {service name: its evidence}, same shapes.

    Services on the default label pattern (`defaults.loki_labels`) share one selector per namespace, the service
    label as a regex (`{namespace="x", app=~"a|b|c"} |~ "<error filter>"`), and the result is split by that
    label; a service with its own `loki_selector` gets `error_shift`'s two queries. Per shared selector: the
    error lines of the baseline and of the window (line limit: `log_line_limit` × services, at most 5,000) and
    two `count_over_time` metric queries a minute (every line; error lines), which give
    - the minutes Loki holds any line of the scope for: rates are per covered minute, so a collection gap is not
      a jump, and with no line at all in the baseline nothing is called new (a `no_data` item says so);
    - each service's true error-line count: when the line limit cut a service's lines, its items say `partial`
      (and a service with no shift among the lines read gets a `no_data` item saying how many were read).

    Only error-filtered lines are compared. Measured on Nezha TrainTicket (2023-01-29, 24 code faults, see
    `benchmarks/nezha_log_shifts.py`, asked 5 min after the injection about the 10 min before): the faulty
    service showed a new or surging error template in 11 of 24 faults, 0.62 other services flagged per fault;
    all lines (no filter) found 9 of 24 with 1.83 others per fault, and a "template stopped" rule over all lines
    6 of 28 with about 1.5 others. So only error lines are compared; the faults it misses (exceptions in
    travel2, route and price) leave no error line in the faulty service at all."""
    out: dict[str, list[Evidence]] = {s.name: [] for s in services}
    if deps.loki is None:
        return {s.name: [not_configured("loki", "logs", f"{s.name} error logs", service=s.name)] for s in services}
    groups, singles = _scope_groups(deps, services)
    jobs = [_group_shifts(deps, shared, members, window, baseline) for shared, members in groups]
    single_jobs = [error_shift(deps, s, window, baseline) for s in singles]
    results = await asyncio.gather(*jobs, *single_jobs)
    for found in results[:len(jobs)]:
        assert isinstance(found, dict)
        for name, items in found.items():
            out[name].extend(items)
    for svc, items in zip(singles, results[len(jobs):], strict=True):
        assert isinstance(items, list)
        out[svc.name].extend(items)
    return out


def _group_selector(deps: Deps, shared: dict[str, str], values: list[str]) -> str:
    label = _service_label(deps)
    parts = [regex_matcher(k, values) if k == label else f"{k}={quote_value(v)}" for k, v in shared.items()]
    return "{" + ", ".join(parts) + "}"


def _counts(series: list[Series] | BaseException, label: str, period: TimeRange) -> dict[str, float] | None:
    if isinstance(series, BaseException):
        return None
    start, end = period.start.timestamp(), period.end.timestamp()
    out: dict[str, float] = {}
    for s in series:
        name = s.labels.get(label, "")
        out[name] = out.get(name, 0.0) + sum(p.v for p in s.points if start < p.t <= end + 1e-9)
    return out


async def _group_shifts(deps: Deps, shared: dict[str, str], members: dict[str, ServiceConfig], window: TimeRange,
                        baseline: TimeRange) -> dict[str, list[Evidence]]:
    assert deps.loki is not None
    label = _service_label(deps) or ""
    selector = _group_selector(deps, shared, list(members))
    logql = f"{selector} |~ {quote_value(deps.config.defaults.log_error_filter)}"
    limit = min(_SCOPE_MAX_LIMIT, deps.settings.log_line_limit * len(members))
    whole = TimeRange(start=baseline.start, end=window.end)
    step = _whole_step(whole)
    # all four at once: the counts need nothing from the lines (one wave, not two)
    before, during, totals, errors = await asyncio.gather(
        deps.loki.query_range(logql, baseline, limit=limit, direction="backward"),
        deps.loki.query_range(logql, window, limit=limit, direction="forward"),
        deps.loki.query_range_matrix(f"sum by ({label}) (count_over_time({selector} [{step}s]))", whole, step),
        deps.loki.query_range_matrix(f"sum by ({label}) (count_over_time({logql} [{step}s]))", whole, step),
        return_exceptions=True)
    for lines in (before, during):
        if isinstance(lines, BackendError):
            return {s.name: [failure("loki", "logs", f"{s.name} error logs", logql, window, lines, service=s.name)]
                    for s in members.values()}
        if isinstance(lines, BaseException):
            raise lines
    assert not isinstance(before, BaseException) and not isinstance(during, BaseException)
    if isinstance(totals, BaseException) and not isinstance(totals, BackendError):
        raise totals
    if isinstance(errors, BaseException) and not isinstance(errors, BackendError):
        raise errors
    if isinstance(totals, BaseException):
        covered_before, covered_during = baseline.duration.total_seconds() / 60, window.duration.total_seconds() / 60
        coverage = "unknown (the count query failed): rates per wall-clock minute"
    else:
        samples = [(p.t, p.v) for s in totals for p in s.points]
        covered_before = active_minutes(samples, baseline.start.timestamp(), baseline.end.timestamp(), step)
        covered_during = active_minutes(samples, window.start.timestamp(), window.end.timestamp(), step)
        coverage = f"{covered_before:g} of {baseline.duration.total_seconds() / 60:g} baseline minutes and " \
                   f"{covered_during:g} of {window.duration.total_seconds() / 60:g} window minutes hold lines"
    lines_before: dict[str, list[str]] = {v: [] for v in members}
    lines_during: dict[str, list[LogLine]] = {v: [] for v in members}
    for ln in before.lines:
        lines_before.setdefault(ln.labels.get(label, ""), []).append(ln.line)
    for ln in during.lines:
        lines_during.setdefault(ln.labels.get(label, ""), []).append(ln)
    shifts = await _mined_by_service(deps, {v: lines_before[v] for v in members},
                                     {v: [x.line for x in lines_during[v]] for v in members},
                                     before_minutes=covered_before, during_minutes=covered_during)
    true_before, true_during = _counts(errors, label, baseline), _counts(errors, label, window)
    any_line = _counts(totals, label, whole)  # None when the count failed: then nothing is claimed
    out: dict[str, list[Evidence]] = {}
    for value, svc in members.items():
        n_before, n_during = len(lines_before[value]), len(lines_during[value])
        if any_line is not None and not any_line.get(value) and not n_before and not n_during:
            out[svc.name] = [no_stream(deps, svc.name, deps.config.loki_selector(svc), logql, window, whole)]
            continue
        short = []
        for period, hit, n, true in (("baseline", before.limit_hit, n_before, true_before),
                                     ("window", during.limit_hit, n_during, true_during)):
            total = None if true is None else int(true.get(value, 0))
            if hit and (total is None or total > n):
                short.append(f"{n} of {total if total is not None else 'more'} error lines read in the {period}")
        partial = "; ".join(short) + f" (scope line limit {limit} hit)" if short else None
        extra = {"scope_query": True, "coverage": coverage, "lines_read": {"before": n_before, "during": n_during}}
        items = [_shift_evidence(deps, svc.name, logql, window, baseline, s, lines_during[value][s.example_index].time,
                                 partial, extra=extra) for s in shifts.get(value, [])]
        if not items and n_during and covered_before <= 0 and not isinstance(totals, BaseException):
            items.append(_no_shift(deps, svc.name, logql, window, extra, None,
                                   f"no log line of these services in the baseline ({baseline.label()}): "
                                   f"{n_during} error lines in the window cannot be told new or old"))
        elif not items and partial:
            items.append(_no_shift(deps, svc.name, logql, window, extra, partial,
                                   f"no new or surging error template among the {n_during} lines read"))
        out[svc.name] = items
    return out


def _no_shift(deps: Deps, service: str, logql: str, window: TimeRange, extra: dict[str, Any], partial: str | None,
              quote: str) -> Evidence:
    return Evidence(id=evidence_id("loki", logql, window, f"noshift:{service}"), source="loki", kind="log_shift",
                    label=f"{service} error logs", query=logql, window=window, quote=quote, status="no_data",
                    extra_urls=_links(deps, logql, window), service=service, partial=partial,
                    data={"kind": "unjudged", **extra})
