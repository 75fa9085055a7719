"""A sandbox scenario: a simulated shop and one story, in YAML. `load_scenario` reads and checks one.

Every time in a scenario is an offset from `now` (the moment the sandbox starts), so the story is always "in
progress": `-25m`, `-1h30m`, `now`, `+10m` (units w, d, h, m, s). Spans (`ramp`, `took`, `duration`) are the same
without a sign (`0` allowed where it makes sense).

```yaml
name: checkout-bad-deploy          # file stem by convention
description: ...
duration: 6h                       # history ending at now (data keeps flowing after now)
seed: 7                            # same seed + same now -> the same series, logs and alerts
namespace: shop                    # default namespace of services

signals:                           # extra signals beyond sre_bot.config.DEFAULT_SIGNALS (optional)
  db_connections:                  # same fields as a config Signal, plus `gauge`: the raw metric the
    title: DB connections          # OpenMetrics export writes (labels: the service's request selector)
    query: sum(pg_stat_activity_count{$selector})
    unit: count
    gauge: pg_stat_activity_count

services:                          # a list, or a mapping name -> fields
  - name: checkout                 # DNS label
    kind: http                     # http | database | worker | cache: picks the default signals below
    tier: backend                  # free text, shown in reports
    namespace: shop                # default: the scenario's namespace
    depends_on: [payments-api]
    replicas: 2                    # pods (their names change with each deployed revision)
    signals:                       # replaces the kind's default shape of a signal; `null` removes one
      request_rate: 40             # a number is a flat level
      error_ratio:
        level: 0.003               # baseline
        noise: 0.3                 # relative noise (seeded, smooth in time)
        seasonality: 0.0           # daily amplitude, fraction of level, peaking at `peak_hour` UTC
        min: 0                     # clamps (ratios are always kept in [0, 1])
        max: 1
        events:                    # applied in order on top of the baseline
          - {at: -24m, ramp: 3m, set: 0.14}             # move to a level
          - {at: -24m, ramp: 3m, multiply: 1.2}         # or scale; or `add`
          - {at: -2h, until: -1h50m, recover: 2m, add: 0.01}   # an episode that ends
          - {at: -20m, set: 200, noise: 0.01}           # `noise` while it holds (a saturated pool is flat)
    logs:
      format: logfmt               # logfmt | json | text
      vars: {path: [/cart, /checkout], attempt: {min: 1, max: 3}}
      templates:                   # each a Poisson stream of lines at `rate` per minute in [start, end)
        - message: "timeout calling payments-api after {duration_ms}ms"
          level: error             # debug | info | warn | error | fatal
          rate: 40
          start: -24m
          fields: {trace_id: "{trace_id}", upstream: payments-api}
    argocd:                        # the service's Argo CD application (optional)
      name: checkout               # default: the service name
      project: shop
      repo: https://git.example.com/shop/deploy.git
      health: Degraded             # the current health and sync status
      sync: Synced
      history:                     # successful syncs, oldest first
        - {revision: 4f1c..., author: dana@shop.example, at: -25m, message: "raise pool to 64"}

alerts:                            # what Alertmanager shows; resolved ones (ends <= now) are not returned
  - alertname: HighErrorRate
    service: checkout              # adds service, namespace and job labels
    severity: critical
    starts: -19m
    ends: null
    labels: {team: shop}
    annotations: {summary: checkout 5xx ratio above 5%}
    expr: 'sum(rate(http_requests_total{service="checkout", code=~"5.."}[5m])) > 0.05'
    silenced: false
    inhibited_by: null             # the alertname of another active alert

backends:                          # optional: a simulated system that is failing (`down`: every request
  loki: down                       # answers 503) or not there at all (`absent`: not served, not configured)

truth:                             # ground truth, read only by evaluation (format: sandbox/truth.py)
  root_service: checkout           # or `incidents: [...]`, each with these fields and a `name`
  cause: bad_deploy                # bad_deploy | config_change | dependency_outage | resource_exhaustion |
                                   # traffic_spike | infrastructure | data_issue | none (the bot must abstain)
  revision: 4f1c...
  question: why is frontend failing?        # what the on-call asks (never names the cause)
  alerts: [HighErrorRate, DBConnectionPoolExhausted@payments-db]   # the incident's alerts
  action: {name: argocd.rollback}           # the right catalog action, or `none`
  summary: ...
```

Signals by kind (`KIND_DEFAULTS`): http services have all six default signals (request_rate 20/s, error_ratio
0.2%, latency_p95 150 ms, latency_p99 300 ms, cpu 0.25 cores, memory 256 MiB); database, worker and cache have
cpu and memory. Every service also has `up` (level 1; an event `{set: 0}` takes it down).

Log placeholders: `{trace_id}`, `{span_id}`, `{request_id}`, `{duration_ms}` (drawn from the service's latency at
that moment), `{duration_s}`, `{ip}`, `{user_id}`, `{order_id}`, `{int}`, `{pod}`, `{service}`, `{namespace}`, and
the names in `logs.vars`; `{{` and `}}` are literal braces.

Fields may be added as the library of scenarios grows; unknown fields are errors, so a typo never goes unseen.
"""

from __future__ import annotations

import re
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..config import Signal
from ..errors import ConfigError
from .checks import BUILTIN_PLACEHOLDERS, PLACEHOLDER_RE, PSEUDO_SIGNALS, field_path, reference_errors
from .truth import Truth

__all__ = [
    "Scenario", "ServiceSpec", "Shape", "Event", "Logs", "LogTemplate", "IntRange", "ArgoApp", "Deploy",
    "AlertSpec", "CustomSignal", "Truth", "KIND_DEFAULTS", "BUILTIN_PLACEHOLDERS", "PSEUDO_SIGNALS",
    "PLACEHOLDER_RE", "parse_offset", "parse_span", "parse_scenario", "load_scenario", "list_scenarios",
    "scenario_path",
]

BackendName = Literal["prometheus", "loki", "argocd", "alertmanager", "tempo"]
_SPAN_RE = re.compile(r"^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_UNITS = ("weeks", "days", "hours", "minutes", "seconds")
_DNS_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def parse_span(text: object) -> timedelta:
    """`1h30m` -> 1:30:00; `0` is an empty span."""
    if isinstance(text, timedelta):
        return text
    if text == 0 or text == "0":
        return timedelta(0)
    t = str(text).strip().lower() if isinstance(text, str) else ""
    m = _SPAN_RE.match(t)
    if not t or not m or not any(m.groups()):
        raise ValueError(f"{text!r} is not a duration: write 30s, 25m, 1h30m or 2d")
    return timedelta(**{u: int(g) for u, g in zip(_UNITS, m.groups(), strict=False) if g})


def parse_offset(text: object) -> timedelta:
    """`-25m` -> -0:25:00 (before now); `+10m`, `now` and `0` work too."""
    if isinstance(text, timedelta):
        return text
    if isinstance(text, str) and text.strip().lower() == "now":
        return timedelta(0)
    t = text.strip() if isinstance(text, str) else text
    sign = 1
    if isinstance(t, str) and t[:1] in "+-" and t:
        sign, t = (-1 if t[0] == "-" else 1), t[1:]
    try:
        return sign * parse_span(t)
    except ValueError:
        raise ValueError(f"{text!r} is not an offset from now: write -25m, -1h30m, now or +10m") from None


Offset = Annotated[timedelta, BeforeValidator(parse_offset)]
Span = Annotated[timedelta, BeforeValidator(parse_span)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Event(_Strict):
    """A change of a signal: from `at`, over `ramp`, move it (multiply / set / add); optionally back after `until`."""

    at: Offset
    ramp: Span = timedelta(0)
    multiply: float | None = Field(None, ge=0)
    set: float | None = None
    add: float | None = None
    until: Offset | None = None
    recover: Span = timedelta(0)
    noise: float | None = Field(None, ge=0, le=1)  # the noise while the event holds (e.g. small when saturated)

    @model_validator(mode="after")
    def _one_effect(self) -> Event:
        given = [k for k in ("multiply", "set", "add") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"an event needs exactly one of multiply, set or add (got {', '.join(given) or 'none'})")
        if self.until is not None and self.until < self.at + self.ramp:
            raise ValueError("`until` must come after `at` + `ramp`")
        return self


class Shape(_Strict):
    level: float = Field(ge=0)
    noise: float = Field(0.03, ge=0, le=1)
    seasonality: float = Field(0.0, ge=0, le=1)
    peak_hour: float = Field(15.0, ge=0, lt=24)
    min: float | None = None
    max: float | None = None
    events: list[Event] = Field(default_factory=list)

    @classmethod
    def coerce(cls, v: Any) -> Any:
        return {"level": v} if isinstance(v, (int, float)) and not isinstance(v, bool) else v


ShapeIn = Annotated[Shape, BeforeValidator(Shape.coerce)]


class IntRange(_Strict):
    min: int
    max: int

    @model_validator(mode="after")
    def _order(self) -> IntRange:
        if self.max < self.min:
            raise ValueError("max must be >= min")
        return self


class LogTemplate(_Strict):
    message: str = Field(min_length=1)
    level: Literal["debug", "info", "warn", "error", "fatal"] = "info"
    rate: float = Field(gt=0, le=6000)  # lines per minute
    start: Offset | None = None
    end: Offset | None = None
    fields: dict[str, str] = Field(default_factory=dict)


class Logs(_Strict):
    format: Literal["logfmt", "json", "text"] = "logfmt"
    vars: dict[str, list[str] | IntRange] = Field(default_factory=dict)
    templates: list[LogTemplate] = Field(default_factory=list)


class Deploy(_Strict):
    revision: str = Field(min_length=1)
    author: str = "automated"  # a user name, or "automated" (auto-sync / image updater)
    at: Offset
    took: Span = timedelta(seconds=40)
    message: str = ""


class ArgoApp(_Strict):
    name: str | None = None
    project: str = "default"
    repo: str = "https://git.example.com/shop/deploy.git"
    path: str | None = None  # default: apps/<service>
    target_revision: str = "main"
    sync: Literal["Synced", "OutOfSync", "Unknown"] = "Synced"
    health: Literal["Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"] = "Healthy"
    health_message: str | None = None
    history: list[Deploy] = Field(default_factory=list)


class ServiceSpec(_Strict):
    name: str
    namespace: str | None = None
    kind: Literal["http", "database", "worker", "cache"] = "http"
    tier: str | None = None
    depends_on: list[str] = Field(default_factory=list)
    replicas: int = Field(2, ge=1, le=20)
    signals: dict[str, ShapeIn | None] = Field(default_factory=dict)
    logs: Logs = Field(default_factory=Logs)
    argocd: ArgoApp | None = None

    @field_validator("name")
    @classmethod
    def _dns(cls, v: str) -> str:
        if not _DNS_RE.match(v) or len(v) > 63:
            raise ValueError(f"{v!r} is not a DNS label (lowercase letters, digits and '-')")
        return v

    def shapes(self) -> dict[str, Shape]:
        """The kind's default shapes, replaced (or removed, with `null`) by this service's `signals`."""
        merged: dict[str, Shape | None] = {**KIND_DEFAULTS[self.kind], "up": Shape(level=1, noise=0), **self.signals}
        return {k: v for k, v in merged.items() if v is not None}


class CustomSignal(_Strict):
    title: str
    query: str
    unit: Literal["rps", "ratio", "seconds", "cores", "bytes", "count"]
    bad: Literal["up", "down", "both"] = "up"
    min_abs: float = 0.0
    gauge: str | None = None  # raw gauge metric for the OpenMetrics export

    def signal(self) -> Signal:
        return Signal(title=self.title, query=self.query, unit=self.unit, bad=self.bad, min_abs=self.min_abs)


class AlertSpec(_Strict):
    alertname: str = Field(min_length=1)
    service: str | None = None
    severity: str = "warning"
    starts: Offset
    ends: Offset | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    expr: str | None = None
    silenced: bool = False
    inhibited_by: str | None = None


class Scenario(_Strict):
    name: str = Field(min_length=1)
    description: str = ""
    duration: Span
    seed: int = 0
    namespace: str = "default"
    signals: dict[str, CustomSignal] = Field(default_factory=dict)
    services: list[ServiceSpec] = Field(min_length=1)
    alerts: list[AlertSpec] = Field(default_factory=list)
    backends: dict[BackendName, Literal["up", "down", "absent"]] = Field(default_factory=dict)
    truth: Truth | None = None

    @field_validator("duration")
    @classmethod
    def _duration(cls, v: timedelta) -> timedelta:
        if not timedelta(minutes=10) <= v <= timedelta(days=31):
            raise ValueError("duration must be between 10m and 31d")
        return v

    def service(self, name: str) -> ServiceSpec:
        for s in self.services:
            if s.name == name:
                return s
        raise KeyError(name)

    def namespace_of(self, svc: ServiceSpec) -> str:
        return svc.namespace or self.namespace

    def app_name(self, svc: ServiceSpec) -> str | None:
        return (svc.argocd.name or svc.name) if svc.argocd else None


def _http_defaults() -> dict[str, Shape]:
    return {
        "request_rate": Shape(level=20, noise=0.05, seasonality=0.15),
        "error_ratio": Shape(level=0.002, noise=0.3),
        "latency_p95": Shape(level=0.15, noise=0.06),
        "latency_p99": Shape(level=0.3, noise=0.08),
        "cpu": Shape(level=0.25, noise=0.05, seasonality=0.1),
        "memory": Shape(level=256 * 2**20, noise=0.01),
    }


KIND_DEFAULTS: dict[str, dict[str, Shape]] = {
    "http": _http_defaults(),
    "database": {"cpu": Shape(level=0.5, noise=0.05), "memory": Shape(level=2 * 2**30, noise=0.005)},
    "worker": {"cpu": Shape(level=0.3, noise=0.08), "memory": Shape(level=384 * 2**20, noise=0.01)},
    "cache": {"cpu": Shape(level=0.1, noise=0.05), "memory": Shape(level=512 * 2**20, noise=0.005)},
}


def parse_scenario(data: object, *, source: str = "scenario") -> Scenario:
    """Validate parsed YAML; a ConfigError names every bad field (e.g. `services[checkout].signals.cpu.level`)."""
    if not isinstance(data, dict):
        raise ConfigError(f"invalid {source}: the top level must be a mapping")
    if isinstance(data.get("services"), dict):
        data = {**data, "services": [{"name": k, **(v or {})} for k, v in data["services"].items()]}
    try:
        sc = Scenario.model_validate(data)
    except ValidationError as e:
        lines = []
        for err in e.errors():
            msg = str(err.get("msg", "")).removeprefix("Value error, ")
            lines.append(f"  {field_path(tuple(err.get('loc', ())), data)}: {msg}")
        raise ConfigError(f"invalid {source}:\n" + "\n".join(lines)) from None
    errs = reference_errors(sc)
    if errs:
        raise ConfigError(f"invalid {source}:\n" + "\n".join(f"  {m}" for m in errs))
    return sc


def _scenarios_dir() -> Path:
    return Path(str(resources.files("sre_bot.sandbox") / "scenarios"))


def list_scenarios() -> list[str]:
    """The names of the scenarios shipped with the package."""
    return sorted(p.stem for p in _scenarios_dir().glob("*.yaml"))


def scenario_path(name_or_path: str | Path) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        return p
    return _scenarios_dir() / f"{name_or_path}.yaml"


def load_scenario(name_or_path: str | Path = "checkout-bad-deploy") -> Scenario:
    """A shipped scenario by name (`checkout-bad-deploy`) or a YAML file by path."""
    path = scenario_path(name_or_path)
    if not path.exists():
        raise ConfigError(f"no scenario {str(name_or_path)!r}: shipped scenarios are {', '.join(list_scenarios())}, "
                          "or give the path of a YAML file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ConfigError(f"invalid scenario {path}: not valid YAML: {e}") from None
    return parse_scenario(data, source=f"scenario {path.name}")
