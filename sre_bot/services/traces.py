"""`/sre traces <service> [window]`: the service's slowest and failed traces, each with the span that dominates
its critical path; what could not be checked (Tempo not configured, down, nothing found) said plainly."""

from __future__ import annotations

from ..deadline import answer_deadline
from ..deps import Deps
from ..errors import UsageError
from ..models import TimeRange
from ..tools.traces import DEFAULT_SLOW, short_id, slow_and_failed_traces
from .reply import Reply, Section, gaps_of
from .verbs import Invocation

__all__ = ["traces_command", "traces_report"]


async def traces_command(deps: Deps, inv: Invocation) -> Reply:
    words = inv.args.split()
    if not words:
        raise UsageError("`/sre traces` needs a service: `/sre traces <service> [window]`")
    if len(words) > 1:
        raise UsageError(f"`/sre traces` takes one service, got `{inv.args}`. Windows look like `30m` or "
                         "`since 14:05`.")
    assert inv.window is not None
    return await traces_report(deps, words[0], inv.window)


async def traces_report(deps: Deps, service: str, window: TimeRange) -> Reply:
    svc = deps.config.find_service(service)
    name = svc.name if svc is not None else service
    with answer_deadline(deps.settings.answer_deadline_s) as deadline:
        items = await slow_and_failed_traces(deps, name, window)
    deadline.close()
    ok = [e for e in items if e.status == "ok"]
    failed = [e for e in ok if e.data.get("error")]
    if ok:
        d = max(ok, key=lambda e: e.data["duration_s"]).data
        summary = (f"{name}: slowest trace {short_id(d['trace_id'])}… spent {round(d['dominant_share'] * 100)}% of its "
                   f"critical path in {d['dominant_service']} `{d['dominant_span']}`; "
                   f"{len(failed)} of {len(ok)} read had an error")
    elif any(e.status == "no_data" for e in items):
        summary = f"{name}: no failed traces and none slower than {int(DEFAULT_SLOW.total_seconds() * 1000)} ms"
        if svc is None:
            summary += f" (`{service}` is not a configured service; known: " \
                       f"{', '.join(deps.config.service_names) or 'none'})"
    else:
        summary = f"{name}: traces could not be checked"
    slowest = sorted(ok, key=lambda e: -e.data["duration_s"])[:3]
    rest = [e for e in failed if e not in slowest]
    sections = [Section(title="Slowest traces (critical path)", evidence=[*slowest, *(e for e in items
                                                                                    if e.status != "ok")])]
    if rest:
        sections.append(Section(title="Failed traces", evidence=rest))
    return Reply(kind="traces", title=f"Traces of {name}", summary=summary, window=window, sections=sections,
                 gaps=gaps_of(items))
