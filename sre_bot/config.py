"""The YAML configuration: services, their labels, dependencies, the signal queries, and actions (approvers,
autonomy, webhooks: `actions/config.py`).

Loaded once at start (`load_config`); an invalid file fails with the field and the reason, never a traceback.
A service that is not in the file still works: `Config.service(name)` derives one from the defaults
(the common conventions: `service` label on `http_requests_total`, cAdvisor `namespace`/`container`, Loki
`namespace`/`app`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .actions.config import ActionsConfig
from .analysis.correlation import CorrelationRules
from .deploys.config import DeploysConfig
from .errors import ConfigError
from .escalation.config import EscalationConfig
from .incidents.config import IncidentsConfig
from .querylang import LABEL_NAME_RE, matchers, quote_value, render_template, selector
from .runbooks.config import RunbooksConfig
from .settings import format_validation_error

__all__ = ["Signal", "ServiceConfig", "Defaults", "Config", "load_config", "parse_config", "DEFAULT_SIGNALS",
           "RenderedSignal", "LLMConfig", "EdgeMetrics", "CallGraphConfig", "BUILTIN_EDGE_METRICS"]

Unit = Literal["rps", "ratio", "seconds", "cores", "bytes", "count"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Signal(_Strict):
    """A golden signal: a PromQL template over one service. Variables: $selector, $container_selector,
    $service, $namespace, $container (all escaped)."""

    title: str
    query: str
    unit: Unit
    bad: Literal["up", "down", "both"] = "up"  # which direction of change is a symptom
    min_abs: float = 0.0  # changes smaller than this absolute amount are never anomalies
    only: list[str] | None = None  # the services this signal applies to (default: all)

    @field_validator("query")
    @classmethod
    def _has_var(cls, v: str) -> str:
        if "$" not in v:
            raise ValueError("a signal query must use $selector, $container_selector or $service")
        return v


DEFAULT_SIGNALS: dict[str, Signal] = {
    "request_rate": Signal(
        title="request rate", unit="rps", bad="both",
        query="sum(rate(http_requests_total{$selector}[5m]))",
    ),
    "error_ratio": Signal(
        title="error ratio", unit="ratio", min_abs=0.01,
        query='sum(rate(http_requests_total{$selector, code=~"5.."}[5m]))'
              ' / sum(rate(http_requests_total{$selector}[5m]))',
    ),
    "latency_p95": Signal(
        title="latency p95", unit="seconds", min_abs=0.01,
        query="histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{$selector}[5m])))",
    ),
    "latency_p99": Signal(
        title="latency p99", unit="seconds", min_abs=0.01,
        query="histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{$selector}[5m])))",
    ),
    "cpu": Signal(
        title="CPU", unit="cores", min_abs=0.05,
        query='sum(rate(container_cpu_usage_seconds_total{$container_selector}[5m]))',
    ),
    "memory": Signal(
        title="memory", unit="bytes", min_abs=16 * 2**20,
        query='sum(container_memory_working_set_bytes{$container_selector})',
    ),
}


class Defaults(_Strict):
    namespace: str = "default"
    service_label: str = "service"  # Prometheus label naming the service on request metrics (also discovery)
    loki_labels: dict[str, str] = Field(default_factory=lambda: {"namespace": "$namespace", "app": "$service"})
    log_error_filter: str = "(?i)(error|exception|fatal|panic|timeout|refused|failed)"
    window: str = "1h"

    @field_validator("service_label")
    @classmethod
    def _label(cls, v: str) -> str:
        if not LABEL_NAME_RE.match(v):
            raise ValueError(f"{v!r} is not a valid Prometheus label name")
        return v


class ServiceConfig(_Strict):
    name: str
    namespace: str | None = None
    labels: dict[str, str] | None = None  # request-metric matchers; default {service_label: name}
    container: str | None = None  # cAdvisor container name; default: the service name
    loki_selector: str | None = None  # full LogQL stream selector; default from defaults.loki_labels
    argocd_app: str | None = None  # default: the service name
    depends_on: list[str] = Field(default_factory=list)
    aliases: list[str] = Field(default_factory=list)
    tier: str | None = None  # free text shown in reports, e.g. "database"


class LLMConfig(_Strict):
    """What the model may see: extra redaction patterns (regular expressions) on top of the built-in ones."""

    redact: list[str] = Field(default_factory=list)

    @field_validator("redact")
    @classmethod
    def _compiles(cls, v: list[str]) -> list[str]:
        for p in v:
            try:
                re.compile(p)
            except re.error as e:
                raise ValueError(f"redact pattern {p!r} is not a valid regular expression: {e}") from None
        return v


class EdgeMetrics(_Strict):
    """Per-edge (caller → callee) metrics: each query is complete PromQL returning one series per edge, labelled
    by `client_label` and `server_label`. Any part may be left out; latencies are in seconds."""

    name: str = "custom"
    client_label: str = "client"
    server_label: str = "server"
    requests: str | None = None  # requests/s on the edge
    errors: str | None = None  # failed requests/s on the edge
    latency_client: str | None = None  # seconds, as the caller sees it (includes the network)
    latency_server: str | None = None  # seconds, as the callee sees it (its own work)
    virtual_nodes: list[str] = Field(default_factory=list)  # names that are not services (Tempo's "user")

    @field_validator("client_label", "server_label")
    @classmethod
    def _label(cls, v: str) -> str:
        if not LABEL_NAME_RE.match(v):
            raise ValueError(f"{v!r} is not a valid Prometheus label name")
        return v

    @model_validator(mode="after")
    def _some(self) -> EdgeMetrics:
        if not any((self.requests, self.errors, self.latency_client, self.latency_server)):
            raise ValueError("an edge metrics entry needs at least one of requests, errors, latency_client, "
                             "latency_server")
        return self


def _tempo() -> EdgeMetrics:
    graph = "traces_service_graph_request"
    rate = "sum by (client, server) (rate({m}[1m]))"
    mean = "(" + rate.format(m=f"{graph}_{{side}}_seconds_sum") + " / " + rate.format(
        m=f"{graph}_{{side}}_seconds_count") + ")"
    return EdgeMetrics(name="tempo service graphs", client_label="client", server_label="server",
                       virtual_nodes=["user"],  # the metrics-generator's name for a caller it cannot see
                       requests=rate.format(m=f"{graph}_total"), errors=rate.format(m=f"{graph}_failed_total"),
                       latency_client=mean.format(side="client"), latency_server=mean.format(side="server"))


def _istio() -> EdgeMetrics:
    by = "sum by (source_workload, destination_workload)"
    dur = "istio_request_duration_milliseconds"
    def lat(reporter: str) -> str:
        sel = f'{{reporter="{reporter}"}}'
        return f"({by} (rate({dur}_sum{sel}[2m])) / {by} (rate({dur}_count{sel}[2m])) / 1000)"

    return EdgeMetrics(name="istio", client_label="source_workload", server_label="destination_workload",
                       requests=f'{by} (rate(istio_requests_total{{reporter="source"}}[2m]))',
                       errors=f'{by} (rate(istio_requests_total{{reporter="source", response_code=~"5.."}}[2m]))',
                       latency_client=lat("source"), latency_server=lat("destination"))


def _linkerd() -> EdgeMetrics:
    """Linkerd's proxy metrics, as the caller's proxy reports them (`direction="outbound"`): the inbound side does
    not name the caller, so there is no callee-side latency."""
    by = "sum by (deployment, dst_deployment)"
    out = 'direction="outbound", dst_deployment!=""'
    lat = "response_latency_ms"
    return EdgeMetrics(name="linkerd", client_label="deployment", server_label="dst_deployment",
                       requests=f"{by} (rate(response_total{{{out}}}[2m]))",
                       errors=f'{by} (rate(response_total{{{out}, classification="failure"}}[2m]))',
                       latency_client=f"({by} (rate({lat}_sum{{{out}}}[2m])) / {by} (rate({lat}_count{{{out}}}[2m]))"
                                      " / 1000)")


# What a cluster usually has: Tempo's metrics-generator service graphs (also written by Grafana Alloy and the
# OpenTelemetry collector's servicegraph connector), Istio's standard metrics (the source reporter is the caller's
# sidecar, the destination reporter the callee's) and Linkerd's proxy metrics. Each is queried only when present.
BUILTIN_EDGE_METRICS: tuple[EdgeMetrics, ...] = (_tempo(), _istio(), _linkerd())


class CallGraphConfig(_Strict):
    """Where per-edge request rate, latency and errors come from: built-in presets and the file's own."""

    builtin: bool = True
    edges: list[EdgeMetrics] = Field(default_factory=list)

    @property
    def sources(self) -> list[EdgeMetrics]:
        return [*(BUILTIN_EDGE_METRICS if self.builtin else ()), *self.edges]


class RenderedSignal(_Strict):
    name: str
    signal: Signal
    query: str


class Config(_Strict):
    defaults: Defaults = Field(default_factory=Defaults)
    builtin_signals: bool = True  # false: only the file's `signals:` (for telemetry without the usual metrics)
    signals: dict[str, Signal] = Field(default_factory=dict)
    services: list[ServiceConfig] = Field(default_factory=list)
    llm: LLMConfig = Field(default_factory=LLMConfig)
    actions: ActionsConfig = Field(default_factory=ActionsConfig)
    correlation: CorrelationRules = Field(default_factory=CorrelationRules)  # alerts -> incidents
    runbooks: RunbooksConfig = Field(default_factory=RunbooksConfig)  # interactive runbooks: folder, URLs
    incidents: IncidentsConfig = Field(default_factory=IncidentsConfig)  # where incident messages go
    call_graph: CallGraphConfig = Field(default_factory=CallGraphConfig)  # per-edge metrics (Tempo, Istio, own)
    deploys: DeploysConfig = Field(default_factory=DeploysConfig)  # bad-change detection: a verdict on every sync
    escalation: EscalationConfig = Field(default_factory=EscalationConfig)  # teams, paging, the unknown-issue rule

    @model_validator(mode="after")
    def _check(self) -> Config:
        names: set[str] = set()
        for s in self.services:
            for n in (s.name, *s.aliases):
                if n in names:
                    raise ValueError(f"service name or alias {n!r} is used twice")
                names.add(n)
        known = {s.name for s in self.services}
        for s in self.services:
            missing = [d for d in s.depends_on if d not in known]
            if missing:
                raise ValueError(f"service {s.name!r} depends_on unknown service(s): {', '.join(missing)}")
        return self

    @property
    def all_signals(self) -> dict[str, Signal]:
        """Built-in defaults (unless `builtin_signals: false`), overridden or extended by the file's `signals:`."""
        return {**(DEFAULT_SIGNALS if self.builtin_signals else {}), **self.signals}

    @property
    def service_names(self) -> list[str]:
        return [s.name for s in self.services]

    def find_service(self, name: str) -> ServiceConfig | None:
        for s in self.services:
            if name == s.name or name in s.aliases:
                return s
        return None

    def service(self, name: str) -> ServiceConfig:
        """The configured service, or one derived from the defaults for a name the file does not list."""
        return self.find_service(name) or ServiceConfig(name=name)

    def namespace_of(self, svc: ServiceConfig) -> str:
        return svc.namespace or self.defaults.namespace

    def variables(self, svc: ServiceConfig) -> dict[str, str]:
        ns = self.namespace_of(svc)
        container = svc.container or svc.name
        labels = svc.labels or {self.defaults.service_label: svc.name}
        return {
            "selector": matchers(labels),
            "container_selector": matchers({"namespace": ns, "container": container}),
            "service": quote_value(svc.name)[1:-1],
            "namespace": quote_value(ns)[1:-1],
            "container": quote_value(container)[1:-1],
        }

    def signal_queries(self, svc: ServiceConfig) -> list[RenderedSignal]:
        variables = self.variables(svc)
        return [
            RenderedSignal(name=n, signal=s, query=render_template(s.query, variables))
            for n, s in self.all_signals.items()
            if s.only is None or svc.name in s.only
        ]

    def loki_selector(self, svc: ServiceConfig) -> str:
        if svc.loki_selector:
            return svc.loki_selector
        ns = self.namespace_of(svc)
        raw = {"namespace": ns, "service": svc.name, "container": svc.container or svc.name}
        labels = {k: render_template(v, raw) for k, v in self.defaults.loki_labels.items()}
        return selector(labels)

    def argocd_app(self, svc: ServiceConfig) -> str:
        return svc.argocd_app or svc.name

    def dependencies(self) -> dict[str, list[str]]:
        return {s.name: list(s.depends_on) for s in self.services}


def parse_config(data: object, *, source: str = "config") -> Config:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"invalid {source}: the top level must be a mapping")
    services = data.get("services")
    if isinstance(services, dict):  # allow `services: {name: {...}}` as well as a list
        data = {**data, "services": [{"name": k, **(v or {})} for k, v in services.items()]}
    try:
        return Config.model_validate(data)
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, where=source)) from None


def load_config(path: Path, *, required: bool = False) -> Config:
    """Read the YAML file; a missing optional file gives the defaults."""
    if not path.exists():
        if required:
            raise ConfigError(f"config file {path} does not exist (set SRE_BOT_CONFIG)")
        return Config()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ConfigError(f"invalid config {path}: not valid YAML: {e}") from None
    return parse_config(data, source=f"config {path}")
