"""Log lines of a simulated service, generated per minute on demand and the same every time.

Each template of `services[].logs` is a Poisson stream at `rate` lines per minute while it is active. A minute
bucket (counted from the anchor) is generated whole from its own seeded RNG (so asking for any window gives
the same lines) and cached; lines come from the pods serving at that moment and are rendered as logfmt, JSON or
plain text with a timestamp, level and the template's fields.
"""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from functools import lru_cache
from typing import TYPE_CHECKING

from .scenario import PLACEHOLDER_RE, IntRange, LogTemplate, ServiceSpec
from .signals import stable_key

if TYPE_CHECKING:
    from .generate import World

__all__ = ["LogEntry", "ServiceLogs", "merged_entries", "BUCKET_S"]

LogEntry = tuple[int, dict[str, str], str]  # (unix ns, stream labels, line)
BUCKET_S = 60
_Z95, _Z99 = 1.6448536269514722, 2.3263478740408408
_MASK = (1 << 64) - 1
_NUMBER_RE = re.compile(r"-?(?:0|[1-9][0-9]{0,15})(?:\.[0-9]+)?")


def _poisson(rng: random.Random, lam: float) -> int:
    if lam < 30:
        limit, k, p = math.exp(-lam), 0, 1.0
        while True:
            p *= rng.random()
            if p <= limit:
                return k
            k += 1
    return max(0, round(rng.gauss(lam, math.sqrt(lam))))


def _iso_ms(ns: int) -> str:
    dt = datetime.fromtimestamp(ns // 1_000_000_000, tz=timezone.utc)
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{(ns // 1_000_000) % 1000:03d}Z"


def _json_value(v: str) -> str | int | float:
    """Numbers stay numbers in JSON lines ("42" -> 42)."""
    if _NUMBER_RE.fullmatch(v):
        return float(v) if "." in v else int(v)
    return v


def _logfmt_value(v: str) -> str:
    if v and not any(c in v for c in ' ="\\\t\n'):
        return v
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


class ServiceLogs:
    """The log lines of one service's pods."""

    def __init__(self, world: World, svc: ServiceSpec) -> None:
        self.world = world
        self.svc = svc
        self.namespace = world.scenario.namespace_of(svc)
        seed = world.scenario.seed
        self.keys = [stable_key(seed, svc.name, "log", i, t.message) for i, t in enumerate(svc.logs.templates)]
        self._labels: dict[str, dict[str, str]] = {}
        self._pods: dict[str, list[str]] = {}
        self.bucket = lru_cache(maxsize=1024)(self._bucket)

    def labels(self, pod: str) -> dict[str, str]:
        """The stream labels of a pod's lines (Promtail's Kubernetes defaults)."""
        if pod not in self._labels:
            self._labels[pod] = {"app": self.svc.name, "container": self.svc.name, "job": f"{self.namespace}/"
                                 f"{self.svc.name}", "namespace": self.namespace, "pod": pod, "stream": "stdout"}
        return self._labels[pod]

    def _pods_at(self, t: float) -> list[str]:
        rev = self.world.revision_at(self.svc.name, t)
        if rev not in self._pods:
            self._pods[rev] = self.world.pods(self.svc.name, t)
        return self._pods[rev]

    def _latency(self, t: float) -> tuple[float, float]:
        """(mu, sigma) of a log-normal fitted to the service's p95 and p99 at `t`."""
        w, name = self.world, self.svc.name
        if w.has(name, "latency_p95") and w.has(name, "latency_p99"):
            p95, p99 = w.value(name, "latency_p95", t), w.value(name, "latency_p99", t)
            if p95 > 0 and p99 > p95:
                sigma = math.log(p99 / p95) / (_Z99 - _Z95)
                return math.log(p95) - _Z95 * sigma, sigma
        return math.log(0.02), 0.5

    def _bucket(self, b: int) -> list[LogEntry]:
        """Every line of minute bucket `b` (all templates), oldest first."""
        t0 = self.world.anchor + b * BUCKET_S
        t0_ns = round(self.world.anchor * 1000) * 1_000_000 + b * BUCKET_S * 1_000_000_000
        out: list[LogEntry] = []
        mu_sigma: tuple[float, float] | None = None
        for tmpl, key in zip(self.svc.logs.templates, self.keys, strict=False):
            start = self.world.anchor + tmpl.start.total_seconds() if tmpl.start is not None else -math.inf
            lo = max(self.world.start, start)
            hi = self.world.anchor + tmpl.end.total_seconds() if tmpl.end is not None else math.inf
            if t0 + BUCKET_S <= lo or t0 >= hi:
                continue
            rng = random.Random((key * 0x100000001B3 + b) & _MASK)
            for _ in range(_poisson(rng, tmpl.rate * BUCKET_S / 60.0)):
                ns = t0_ns + int(rng.random() * BUCKET_S * 1e9)
                t = ns / 1e9
                if mu_sigma is None and any("{duration" in x for x in (tmpl.message, *tmpl.fields.values())):
                    mu_sigma = self._latency(t0 + BUCKET_S / 2)
                line, pod = self._render(tmpl, rng, ns, mu_sigma or (math.log(0.02), 0.5))
                if lo <= t < hi:
                    out.append((ns, self.labels(pod), line))
        out.sort(key=lambda e: e[0])
        return out

    def _render(self, tmpl: LogTemplate, rng: random.Random, ns: int, mu_sigma: tuple[float, float]
                ) -> tuple[str, str]:
        pods = self._pods_at(ns / 1e9)
        pod = pods[rng.randrange(len(pods))]
        drawn: dict[str, str] = {}

        def value(name: str) -> str:
            if name not in drawn:
                drawn[name] = self._draw(name, rng, pod, mu_sigma)
            return drawn[name]

        def fill(text: str) -> str:
            return PLACEHOLDER_RE.sub(lambda m: m.group(0)[0] if m.group(1) is None else value(m.group(1)), text)

        msg = fill(tmpl.message)
        fields = {k: fill(v) for k, v in tmpl.fields.items()}
        ts = _iso_ms(ns)
        fmt = self.svc.logs.format
        if fmt == "json":
            typed = {k: _json_value(v) for k, v in fields.items()}
            line = json.dumps({"ts": ts, "level": tmpl.level, "msg": msg, **typed}, separators=(",", ":"))
        elif fmt == "text":
            extra = "".join(f" {k}={v}" for k, v in fields.items())
            line = f"{ts} {tmpl.level.upper():<5} {msg}{extra}"
        else:
            extra = "".join(f" {k}={_logfmt_value(v)}" for k, v in fields.items())
            line = f"ts={ts} level={tmpl.level} msg={_logfmt_value(msg)}{extra}"
        return line, pod

    def _draw(self, name: str, rng: random.Random, pod: str, mu_sigma: tuple[float, float]) -> str:
        var = self.svc.logs.vars.get(name)
        if isinstance(var, IntRange):
            return str(rng.randint(var.min, var.max))
        if isinstance(var, list):
            return rng.choice(var) if var else ""
        gen = _BUILTINS.get(name)
        if gen is not None:
            return gen(rng)
        if name in ("duration_ms", "duration_s"):
            secs = math.exp(mu_sigma[0] + mu_sigma[1] * rng.gauss(0.0, 1.0))
            return str(max(1, round(secs * 1000))) if name == "duration_ms" else f"{secs:.3f}"
        return {"pod": pod, "service": self.svc.name, "namespace": self.namespace}.get(name, "")


def _uuid4(h: str) -> str:
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{h[16:20]}-{h[20:]}"


_BUILTINS: dict[str, Callable[[random.Random], str]] = {
    "trace_id": lambda r: f"{r.getrandbits(128):032x}",
    "span_id": lambda r: f"{r.getrandbits(64):016x}",
    "request_id": lambda r: _uuid4(f"{r.getrandbits(128):032x}"),
    "ip": lambda r: f"10.{r.randrange(0, 64)}.{r.randrange(0, 256)}.{r.randrange(1, 255)}",
    "user_id": lambda r: f"u-{r.randrange(10000, 99999)}",
    "order_id": lambda r: f"ord-{r.getrandbits(32):08x}",
    "int": lambda r: str(r.randrange(1, 1000)),
}


def merged_entries(streams: Iterable[ServiceLogs], lo: float, hi: float, *, newest_first: bool = True
                   ) -> Iterator[LogEntry]:
    """All lines of `streams` with lo <= t <= hi, bucket by bucket, in time order (lazy: stop early for a limit)."""
    streams = list(streams)
    if not streams:
        return
    anchor = streams[0].world.anchor
    first, last = math.floor((lo - anchor) / BUCKET_S), math.floor((hi - anchor) / BUCKET_S)
    lo_ns, hi_ns = int(lo * 1e9), int(hi * 1e9)
    order = range(last, first - 1, -1) if newest_first else range(first, last + 1)
    for b in order:
        lines = [e for s in streams for e in s.bucket(b) if lo_ns <= e[0] <= hi_ns]
        lines.sort(key=lambda e: e[0], reverse=newest_first)
        yield from lines
