"""The tools a runbook step may name: each read-only, with typed parameters and the values its condition may test.

    tool            params (templated ones marked *)               values for `when:`
    promql          query*, window (30m)                           value first min max avg series
    logql           query* (a log query), window (30m), show (5)   count limit_hit per_minute
    argocd_app      app* ($argocd_app)                             sync_status health revision
                                                                   minutes_since_deploy deployed_by
    recent_deploys  scope (service|callers|all), window (1h)       count apps minutes_since_deploy service
                                                                   revision deployed_by
    alerts          alertname, severity                            count alertnames minutes_firing
    http_check      url* (must be under runbooks.http_allow)       status ok latency_ms body redirect

There is no shell and no write: nothing here runs a command, and a step that names an action (or any tool not in
`TOOLS`) is refused when the runbook loads. Actions belong under `remediation:`, behind the approval gate.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..config import Config, ServiceConfig
from ..models import TimeRange
from ..windows import duration_field, parse_duration
from .readers import (
    StepContext,
    StepOutput,
    read_alerts,
    read_argocd_app,
    read_http,
    read_logql,
    read_promql,
    read_recent_deploys,
)
from .templates import Kind

__all__ = ["ToolSpec", "TOOLS", "SHELL_WORDS", "WRITE_WORDS", "callers_of"]

SHELL_WORDS = frozenset({"shell", "sh", "bash", "zsh", "exec", "command", "cmd", "run", "script", "kubectl",
                         "ssh", "subprocess", "system", "powershell", "python"})
WRITE_WORDS = ("rollback", "sync", "restart", "delete", "silence", "unsilence", "scale", "patch", "apply",
               "create", "update", "write", "post", "put", "webhook", "terminate", "kill", "drain", "cordon")
_MAX_WINDOW_S = 7 * 86400


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class _Windowed(_Params):
    window: str = "30m"

    @field_validator("window")
    @classmethod
    def _w(cls, v: str) -> str:
        if parse_duration(duration_field(str(v))).total_seconds() > _MAX_WINDOW_S:
            raise ValueError("a step looks back at most 7d")
        return str(v)

    def time_range(self, now: Any) -> TimeRange:
        return TimeRange.ending(now, parse_duration(self.window))


class PromQLParams(_Windowed):
    query: str = Field(min_length=1, max_length=2000)


class LogQLParams(_Windowed):
    query: str = Field(min_length=1, max_length=2000)
    show: int = Field(5, ge=1, le=20)


class ArgoAppParams(_Params):
    app: str = Field("$argocd_app", min_length=1, max_length=253)


class RecentDeploysParams(_Windowed):
    scope: Literal["service", "callers", "all"] = "service"
    window: str = "1h"


class AlertsParams(_Params):
    alertname: str | None = None
    severity: str | None = None


class HttpCheckParams(_Params):
    url: str = Field(min_length=8, max_length=2000)
    method: Literal["GET"] = "GET"  # the only one; anything else is refused as write-capable before this


Run = Callable[[StepContext, Any], Awaitable[StepOutput]]


def _never(p: Any) -> bool:
    return False


def _always(p: Any) -> bool:
    return True


def _unless_all(p: Any) -> bool:
    return p.scope != "all"


@dataclass(frozen=True)
class ToolSpec:
    name: str
    summary: str
    params: type[_Params]
    templated: dict[str, Kind]  # parameter -> how its variables are written
    values: dict[str, str]  # value name -> what it is (for `when:`, the README and error messages)
    needs_service: Callable[[Any], bool]  # whether a step with these (parsed) params needs a service
    run: Run


def callers_of(config: Config, name: str) -> list[str]:
    """Services that call `name`, directly or through others (from the config's depends_on), nearest first."""
    deps = config.dependencies()
    out: list[str] = []
    frontier = [name]
    while frontier:
        nxt = [s for s in deps for f in frontier if f in deps[s] and s not in out and s != name]
        nxt = list(dict.fromkeys(nxt))
        out += nxt
        frontier = nxt
    return out


def _svc(ctx: StepContext) -> ServiceConfig:
    assert ctx.svc is not None  # the loader marks these tools as needing a service
    return ctx.svc


async def _promql(ctx: StepContext, p: PromQLParams) -> StepOutput:
    return await read_promql(ctx, p.query, p.time_range(ctx.now))


async def _logql(ctx: StepContext, p: LogQLParams) -> StepOutput:
    return await read_logql(ctx, p.query, p.time_range(ctx.now), show=p.show)


async def _argocd_app(ctx: StepContext, p: ArgoAppParams) -> StepOutput:
    return await read_argocd_app(ctx, p.app)


async def _recent_deploys(ctx: StepContext, p: RecentDeploysParams) -> StepOutput:
    cfg = ctx.deps.config
    if p.scope == "all":
        services = list(cfg.services)
    else:
        names = [_svc(ctx).name] + (callers_of(cfg, _svc(ctx).name) if p.scope == "callers" else [])
        services = [cfg.service(n) for n in names]
    return await read_recent_deploys(ctx, services, p.time_range(ctx.now))


async def _alerts(ctx: StepContext, p: AlertsParams) -> StepOutput:
    return await read_alerts(ctx, _svc(ctx), p.alertname, p.severity)


async def _http(ctx: StepContext, p: HttpCheckParams) -> StepOutput:
    return await read_http(ctx, p.url)


TOOLS: dict[str, ToolSpec] = {t.name: t for t in (
    ToolSpec("promql", "a PromQL range query", PromQLParams, {"query": "query"}, {
        "value": "latest point of the top series (largest latest value)", "first": "its first point in the window",
        "min": "its smallest point", "max": "its largest point", "avg": "its mean", "series": "how many series",
    }, _never, _promql),
    ToolSpec("logql", "a LogQL log query (lines)", LogQLParams, {"query": "query"}, {
        "count": "lines matched (up to SRE_BOT_LOG_LINE_LIMIT)", "limit_hit": "true when the limit was reached",
        "per_minute": "count per minute of the window",
    }, _never, _logql),
    ToolSpec("argocd_app", "an Argo CD application's status and history", ArgoAppParams, {"app": "raw"}, {
        "sync_status": "Synced, OutOfSync, Unknown", "health": "Healthy, Progressing, Degraded, Missing, …",
        "revision": "the deployed revision", "minutes_since_deploy": "age of the newest deploy, in minutes",
        "deployed_by": "who started the newest deploy",
    }, _never, _argocd_app),
    ToolSpec("recent_deploys", "the newest Argo CD deploy of the service, its callers, or every service",
             RecentDeploysParams, {}, {
        "count": "deploys in the window", "apps": "applications checked",
        "minutes_since_deploy": "age of the newest deploy, in minutes", "service": "the service deployed newest",
        "revision": "its revision", "deployed_by": "who deployed it",
    }, _unless_all, _recent_deploys),
    ToolSpec("alerts", "the service's firing alerts in Alertmanager", AlertsParams, {"alertname": "raw"}, {
        "count": "firing alerts (of `alertname` / `severity` when given)", "alertnames": "their names (a list)",
        "minutes_firing": "how long the oldest has fired, in minutes",
    }, _always, _alerts),
    ToolSpec("http_check", "an HTTP GET of an allow-listed URL (no redirects, capped body)", HttpCheckParams,
             {"url": "url"}, {
        "status": "the HTTP status", "ok": "true for 2xx", "latency_ms": "time to the answer",
        "body": "the body text read (capped)", "redirect": "where a 3xx points (not followed)",
    }, _never, _http),
)}
