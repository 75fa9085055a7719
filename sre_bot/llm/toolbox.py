"""What the model may call: the same read-only tools the engine uses, described from typed argument models.

Each tool is a pydantic model of its arguments (its JSON schema is what the model sees), a one-line label for the
progress message and the audit, and an async function returning evidence items. Arguments that do not validate,
an unknown service or a window out of bounds come back to the model as a retryable tool error; a backend that is
down comes back as an `error` evidence item, like everywhere else. Nothing here writes to any system.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..deps import Deps
from ..errors import validation_problems
from ..investigation import Investigation
from ..models import Evidence, TimeRange, evidence_id
from ..tools.alerts import firing_alerts
from ..tools.deploys import app_status
from ..tools.logs import error_templates, log_lines
from ..tools.query import promql_range
from ..tools.signals import golden_signals
from ..tools.traces import one_trace, slow_and_failed_traces
from .schema import inline_refs

__all__ = ["ToolContext", "Tool", "TOOLS", "ToolInputError", "tool_definitions", "parse_call"]

MAX_SPAN = timedelta(days=7)


class ToolInputError(Exception):
    """The model's arguments cannot be used; the message tells it what to send instead."""


@dataclass
class ToolContext:
    deps: Deps
    window: TimeRange
    engine: Investigation
    services: Mapping[str, str]  # every known name and alias -> canonical name
    graph: Mapping[str, list[str]] = field(default_factory=dict)


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Windowed(_Args):
    start: datetime | None = Field(None, description="ISO 8601 start (UTC); default: the investigation window")
    end: datetime | None = Field(None, description="ISO 8601 end (UTC); default: the investigation window")


class NoArgs(_Args):
    pass


class ServiceArgs(_Args):
    service: str = Field(description="service name, as listed by list_services")


class EngineArgs(_Args):
    service: str | None = Field(None, description="only this service's findings; default all")


class SignalArgs(_Windowed):
    service: str


class PromQLArgs(_Windowed):
    query: str = Field(min_length=1, max_length=2000, description="a PromQL expression (range query)")


class LogArgs(_Windowed):
    service: str
    text: str | None = Field(None, max_length=200, description="only lines containing this text (case-sensitive)")
    errors_only: bool = Field(True, description="only lines matching the error filter")
    limit: int = Field(50, ge=1, le=500, description="newest lines to return")


class TemplateArgs(_Windowed):
    service: str
    top: int = Field(5, ge=1, le=20)


class TraceSearchArgs(_Windowed):
    service: str
    slower_than_ms: int = Field(500, ge=1, le=600_000, description="a trace slower than this counts as slow")


class TraceArgs(_Windowed):
    trace_id: str = Field(pattern=r"^[0-9a-fA-F]{1,32}$", description="a trace id (hex), as search_traces gave it")


Run = Callable[[ToolContext, Any], Awaitable[list[Evidence]]]


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    args: type[_Args]
    label: Callable[[Any], str]
    run: Run
    needs: str | None = None  # the Deps backend it reads; offered to the model only when that one is configured


def _service(ctx: ToolContext, name: str) -> str:
    if name in ctx.services:
        return ctx.services[name]
    lowered = {k.lower(): v for k, v in ctx.services.items()}
    if name.lower() in lowered:
        return lowered[name.lower()]
    known = ", ".join(sorted(set(ctx.services.values()))[:40])
    raise ToolInputError(f"unknown service {name!r}; known services: {known}")


def _window(ctx: ToolContext, a: _Windowed) -> TimeRange:
    if a.start is None and a.end is None:
        return ctx.window
    now = ctx.deps.clock()
    end = a.end or min(now, (a.start or now) + ctx.window.duration)
    start = a.start or end - ctx.window.duration
    end, start = (x if x.tzinfo else x.replace(tzinfo=timezone.utc) for x in (end, start))
    if start >= end:
        raise ToolInputError("start must be before end")
    if end - start > MAX_SPAN:
        raise ToolInputError("a window may span at most 7 days")
    if start > now:
        raise ToolInputError(f"the window starts in the future (now is {now.isoformat()})")
    return TimeRange(start=start, end=min(end, now))


async def _engine(ctx: ToolContext, a: EngineArgs) -> list[Evidence]:
    wanted = _service(ctx, a.service) if a.service else None
    items = [e for e in ctx.engine.evidence if e.kind in ("anomaly", "deploy", "log_shift", "alert", "app", "trace")
             and (wanted is None or e.service == wanted)]
    ranking = "\n".join(f"{r.service}: score {r.score:.2f}, {r.cause} ({'; '.join(r.reasons[:3])})"
                        for r in ctx.engine.ranking if wanted is None or r.service == wanted)
    head = Evidence(id=evidence_id("engine", f"ranking:{wanted}", ctx.window), source="engine", kind="engine",
                    label="statistics engine ranking", query="", window=ctx.window,
                    quote=f"{ctx.engine.summary}\n{ranking}".strip(), status="ok" if ranking else "no_data")
    return [head, *items]


async def _services(ctx: ToolContext, _: NoArgs) -> list[Evidence]:
    names = sorted(set(ctx.services.values()))
    lines = [f"{s} -> depends on: {', '.join(ctx.graph.get(s, [])) or 'nothing known'}" for s in names]
    return [Evidence(id=evidence_id("engine", "services", None), source="engine", kind="topology",
                     label="known services and dependencies", query="", quote="\n".join(lines) or "none known",
                     status="ok" if lines else "no_data")]


async def _signals(ctx: ToolContext, a: SignalArgs) -> list[Evidence]:
    svc = ctx.deps.config.service(_service(ctx, a.service))
    return await golden_signals(ctx.deps, svc, _window(ctx, a))


async def _promql(ctx: ToolContext, a: PromQLArgs) -> list[Evidence]:
    return [await promql_range(ctx.deps, a.query, _window(ctx, a), top=10)]


async def _logs(ctx: ToolContext, a: LogArgs) -> list[Evidence]:
    svc = ctx.deps.config.service(_service(ctx, a.service))
    return [await log_lines(ctx.deps, svc, _window(ctx, a), text=a.text, errors_only=a.errors_only, show=a.limit)]


async def _templates(ctx: ToolContext, a: TemplateArgs) -> list[Evidence]:
    svc = ctx.deps.config.service(_service(ctx, a.service))
    return await error_templates(ctx.deps, svc, _window(ctx, a), top=a.top)


async def _deploys(ctx: ToolContext, a: ServiceArgs) -> list[Evidence]:
    name = _service(ctx, a.service)
    return await app_status(ctx.deps, ctx.deps.config.argocd_app(ctx.deps.config.service(name)), service=name,
                            history=10)


async def _alerts(ctx: ToolContext, a: ServiceArgs) -> list[Evidence]:
    return await firing_alerts(ctx.deps, ctx.deps.config.service(_service(ctx, a.service)))


async def _traces(ctx: ToolContext, a: TraceSearchArgs) -> list[Evidence]:
    name = _service(ctx, a.service)
    return await slow_and_failed_traces(ctx.deps, name, _window(ctx, a), slow=timedelta(milliseconds=a.slower_than_ms))


async def _trace(ctx: ToolContext, a: TraceArgs) -> list[Evidence]:
    return [await one_trace(ctx.deps, a.trace_id.lower(), _window(ctx, a))]


TOOLS: dict[str, Tool] = {t.name: t for t in (
    Tool("engine_findings", "The statistics engine's ranking and the evidence behind it (anomalies with onset, "
         "deploys, log template shifts, alerts).", EngineArgs,
         lambda a: f"engine findings{' for ' + a.service if a.service else ''}", _engine),
    Tool("list_services", "Every known service and what it depends on.", NoArgs, lambda a: "service list",
         _services),
    Tool("golden_signals", "A service's golden signals (rate, errors, latency, CPU, memory) in a window versus "
         "the hour before it.", SignalArgs, lambda a: f"Prometheus signals of {a.service}", _signals),
    Tool("promql_range", "Any PromQL range query; returns the top 10 series by latest value with min/max.",
         PromQLArgs, lambda a: "a Prometheus query", _promql),
    Tool("search_logs", "A service's log lines from Loki (newest first), verbatim.", LogArgs,
         lambda a: f"Loki logs of {a.service}" + (f" for {a.text!r}" if a.text else ""), _logs),
    Tool("error_log_templates", "A service's most frequent error-log templates with counts and one real line "
         "each.", TemplateArgs, lambda a: f"Loki error templates of {a.service}", _templates),
    Tool("deploy_history", "A service's Argo CD sync/health state and its last 10 deploys.", ServiceArgs,
         lambda a: f"Argo CD deploys of {a.service}", _deploys),
    Tool("firing_alerts", "Alerts firing now in Alertmanager for a service.", ServiceArgs,
         lambda a: f"Alertmanager alerts of {a.service}", _alerts),
    Tool("search_traces", "A service's slowest and failed traces from Tempo in a window, each with its critical "
         "path and the span that dominates it (share of the path, kind, error status).", TraceSearchArgs,
         lambda a: f"Tempo traces of {a.service}", _traces, needs="tempo"),
    Tool("get_trace", "One trace from Tempo by id: its duration, critical path and dominant span.", TraceArgs,
         lambda a: f"Tempo trace {a.trace_id[:8]}", _trace, needs="tempo"),
)}


def tool_definitions(deps: Deps | None = None) -> list[dict[str, Any]]:
    """The tools as the Messages API takes them, in a stable order (so the prompt cache prefix is stable); with
    `deps`, a tool whose backend is not configured (`Tool.needs`) is left out."""
    return [{"name": t.name, "description": t.description, "input_schema": inline_refs(t.args.model_json_schema())}
            for t in TOOLS.values() if deps is None or t.needs is None or getattr(deps, t.needs, None) is not None]


def parse_call(name: str, raw: Any) -> tuple[Tool, _Args]:
    """The tool and its validated arguments; ToolInputError says what was wrong."""
    tool = TOOLS.get(name)
    if tool is None:
        raise ToolInputError(f"there is no tool {name!r}; tools: {', '.join(TOOLS)}")
    try:
        return tool, tool.args.model_validate(raw if isinstance(raw, dict) else {})
    except ValidationError as e:
        raise ToolInputError(f"invalid arguments for {name}: {validation_problems(e)}") from None

