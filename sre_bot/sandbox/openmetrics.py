"""Raw metrics for a real Prometheus: the scenario as OpenMetrics text for `promtool tsdb create-blocks-from`.

The series are the ones the bot's default signal queries read, written so that those queries give about the
sandbox's own answers:

    http_requests_total{service, namespace, code}        counters; rate = request_rate, code="500" share = error_ratio
    http_request_duration_seconds_bucket{..., le}        cumulative histogram (`BUCKETS`); each step's requests
                                                         follow a log-normal fitted to latency_p95 and p99
    container_cpu_usage_seconds_total{namespace, container}   counter; rate = cpu
    container_memory_working_set_bytes{namespace, container}  gauge = memory
    <custom gauge>{<request selector labels>}            gauge = the custom signal (scenario `signals.*.gauge`)
    up{job, service, namespace, instance}                gauge

A `rate(...[5m])` of these is the 5-minute average of the signal, so the values trail the sandbox's by a few
minutes around sharp changes.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from statistics import NormalDist

from ..clock import frozen_clock
from ..config import Config, ServiceConfig
from .bot_config import sandbox_config
from .generate import World
from .scenario import Scenario
from .wire import prom_time, prom_value

__all__ = ["to_openmetrics", "fit_lognormal", "BUCKETS"]

# client_golang's ExponentialBuckets(0.005, 1.25, 40), rounded to 3 significant digits: 5 ms to 37 s. Dense
# enough that histogram_quantile's linear interpolation stays within a few percent of the fitted log-normal
# (within ~17% even when p99 is only 3% above p95, as when requests pile up at a timeout); the classic
# 11 default buckets are off by 20-60% on such shapes.
BUCKETS = tuple(float(f"{0.005 * 1.25 ** i:.3g}") for i in range(40))

_Z95, _Z99 = 1.6448536269514722, 2.3263478740408408
_PHI = NormalDist().cdf


def fit_lognormal(p95: float, p99: float) -> tuple[float, float]:
    """(mu, sigma) of the log-normal whose 95th and 99th percentiles are p95 and p99."""
    p95 = max(p95, 1e-6)
    sigma = math.log(p99 / p95) / (_Z99 - _Z95) if p99 > p95 else 0.05
    sigma = max(sigma, 0.01)
    return math.log(p95) - _Z95 * sigma, sigma


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(d: dict[str, str]) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(d.items())) + "}"


def to_openmetrics(scenario: Scenario, config: Config | None = None, start: datetime | None = None,
                   end: datetime | None = None, step: timedelta | float = timedelta(seconds=15), *,
                   now: datetime | None = None) -> str:
    """OpenMetrics text with one sample per `step` in [start, end] (default: the scenario's whole history up to
    `now`, which defaults to `end`)."""
    config = config or sandbox_config(scenario)
    anchor = now or end
    if anchor is None:
        raise ValueError("give `end` or `now`")
    world = World(scenario, anchor, frozen_clock(end or anchor))
    step_s = step.total_seconds() if isinstance(step, timedelta) else float(step)
    t0 = max(start.timestamp() if start else world.start, world.start)
    t1 = min((end or anchor).timestamp(), world.now())
    if step_s <= 0 or t1 < t0:
        raise ValueError("need step > 0 and start <= end inside the scenario's history")
    times = [t0 + k * step_s for k in range(int((t1 - t0) // step_s) + 1)]
    stamps = [str(prom_time(t)) for t in times]
    services = [(c, world.service(c.name)) for c in config.services if c.name in {s.name for s in world.services}]

    def request_labels(c: ServiceConfig) -> dict[str, str]:
        labels = dict(c.labels or {config.defaults.service_label: c.name})
        labels.setdefault("namespace", config.namespace_of(c))
        return labels

    def container_labels(c: ServiceConfig) -> dict[str, str]:
        return {"namespace": config.namespace_of(c), "container": c.container or c.name}

    out: list[str] = []
    # requests
    out += ["# HELP http_requests Total HTTP requests.", "# TYPE http_requests counter"]
    for c, s in services:
        if not world.has(s.name, "request_rate"):
            continue
        ok = err = 0.0
        rows_ok, rows_err = [], []
        for t, ts in zip(times, stamps, strict=False):
            if t > t0:
                r = world.value(s.name, "request_rate", t) * step_s
                e = world.value(s.name, "error_ratio", t) if world.has(s.name, "error_ratio") else 0.0
                ok, err = ok + r * (1 - e), err + r * e
            rows_ok.append(f"{round(ok)} {ts}")
            rows_err.append(f"{round(err)} {ts}")
        base = request_labels(c)
        for code, rows in (("200", rows_ok), ("500", rows_err)):
            lab = _labels({**base, "code": code})
            out += [f"http_requests_total{lab} {row}" for row in rows]
    # latency histogram
    out += ["# HELP http_request_duration_seconds HTTP request latency.",
            "# TYPE http_request_duration_seconds histogram"]
    les = [prom_value(b) for b in BUCKETS] + ["+Inf"]
    log_bounds = [math.log(b) for b in BUCKETS]
    for c, s in services:
        if not (world.has(s.name, "request_rate") and world.has(s.name, "latency_p95")):
            continue
        base = request_labels(c)
        bucket_labels = [_labels({**base, "le": le}) for le in les]
        plain = _labels(base)
        cum = [0.0] * len(BUCKETS)
        count = total = 0.0
        for t, ts in zip(times, stamps, strict=False):
            if t > t0:
                n = world.value(s.name, "request_rate", t) * step_s
                p95 = world.value(s.name, "latency_p95", t)
                p99 = world.value(s.name, "latency_p99", t) if world.has(s.name, "latency_p99") else p95 * 2.0
                mu, sigma = fit_lognormal(p95, p99)
                for i, lb in enumerate(log_bounds):
                    cum[i] += n * _PHI((lb - mu) / sigma)
                count += n
                total += n * math.exp(mu + sigma * sigma / 2)
            for lab, v in zip(bucket_labels, [*cum, count], strict=False):
                out.append(f"http_request_duration_seconds_bucket{lab} {round(v)} {ts}")
            out.append(f"http_request_duration_seconds_count{plain} {round(count)} {ts}")
            out.append(f"http_request_duration_seconds_sum{plain} {total:.3f} {ts}")
    # containers
    out += ["# HELP container_cpu_usage_seconds Cumulative cpu time consumed in seconds.",
            "# TYPE container_cpu_usage_seconds counter"]
    for c, s in services:
        if world.has(s.name, "cpu"):
            lab, cpu = _labels(container_labels(c)), 0.0
            for t, ts in zip(times, stamps, strict=False):
                cpu += world.value(s.name, "cpu", t) * step_s if t > t0 else 0.0
                out.append(f"container_cpu_usage_seconds_total{lab} {cpu:.3f} {ts}")
    out += ["# HELP container_memory_working_set_bytes Current working set in bytes.",
            "# TYPE container_memory_working_set_bytes gauge"]
    for c, s in services:
        if world.has(s.name, "memory"):
            lab = _labels(container_labels(c))
            out += [f"container_memory_working_set_bytes{lab} {round(world.value(s.name, 'memory', t))} {ts}"
                    for t, ts in zip(times, stamps, strict=False)]
    for name, custom in sorted(scenario.signals.items()):
        if not custom.gauge:
            continue
        out += [f"# HELP {custom.gauge} {custom.title} (sre-bot sandbox).", f"# TYPE {custom.gauge} gauge"]
        for c, s in services:
            if world.has(s.name, name):
                lab = _labels(dict(c.labels or {config.defaults.service_label: c.name}))
                out += [f"{custom.gauge}{lab} {prom_value(round(world.value(s.name, name, t), 3))} {ts}"
                        for t, ts in zip(times, stamps, strict=False)]
    out += ["# HELP up Whether the target is up.", "# TYPE up gauge"]
    for c, s in services:
        if world.has(s.name, "up"):
            ns = config.namespace_of(c)
            lab = _labels({"job": s.name, "service": s.name, "namespace": ns, "instance": f"{s.name}.{ns}.svc:8080"})
            out += [f"up{lab} {round(world.value(s.name, 'up', t))} {ts}" for t, ts in zip(times, stamps, strict=False)]
    out.append("# EOF")
    return "\n".join(out) + "\n"
