"""scope_signals: one range query per signal for a whole scope, the same evidence as golden_signals per service.

Against a real Prometheus (tests/realprom.py) loaded with two hours of history plus the same hour a day earlier,
through a counting proxy (an aiohttp server that forwards to it and records each query, and can reject scope
queries with Prometheus's 400 to exercise the per-service fallback).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import aiohttp
import pytest
from aiohttp import web

from sre_bot.backends.prometheus import PrometheusBackend
from sre_bot.config import Config, ServiceConfig, Signal, parse_config
from sre_bot.deps import Deps
from sre_bot.metrics import Metrics
from sre_bot.models import Evidence, TimeRange
from sre_bot.promql_scope import plan_scope, sentinel
from sre_bot.querylang import matchers, regex_escape, regex_matcher, render_template
from sre_bot.settings import load_settings
from sre_bot.tools.signals import (
    golden_signals,
    resolve_scope_query,
    scope_batches,
    scope_queries,
    scope_signals,
)
from tests.fakes import free_port

STEP = 30
WEIRD = ['we"ird\\svc', "a(b", "x|y*", "dot.ted", "ünï"]
# service -> (ok req/s, 5xx req/s, container namespace or None); checkout's ok rate triples in the last 20 minutes
HTTP = {"checkout": (10.0, 1.0, "default"), "payment": (5.0, 0.5, "shop"), "cart": (2.0, 0.0, "default"),
        **{w: (3.0 + i, 0.0, None) for i, w in enumerate(WEIRD)}}
BUCKETS = (("0.05", 0.5), ("0.1", 0.8), ("0.25", 0.93), ("0.5", 0.98), ("1", 1.0), ("+Inf", 1.0))

USER_SIGNALS = {
    "pool": {"title": "pool use", "unit": "ratio", "only": ["checkout", "payment", "ghost"],
             "query": "max(db_pool_in_use{$selector}) / max(db_pool_max{$selector})"},
    "by_code": {"title": "rate by code", "unit": "rps", "bad": "both",
                "query": 'sum by (code) (rate(app_requests_total{app="$service"}[5m]))'},
    "raw_rate": {"title": "raw rate", "unit": "rps", "query": "rate(http_requests_total{$selector}[5m])"},
    "top_rate": {"title": "top rate", "unit": "rps", "query": "topk(1, rate(http_requests_total{$selector}[5m]))"},
    "p90_after": {"title": "p90", "unit": "seconds",
                  "query": "histogram_quantile(0.9, sum(rate(http_request_duration_seconds_bucket{$selector}[5m]))"
                           " by (le))"},
    "pod_rate": {"title": "pod rate", "unit": "rps",  # a regex on $service: not rewritable, per service
                 "query": 'sum(rate(http_requests_total{pod=~"$service-.*"}[5m]))'},
    "or_zero": {"title": "503s", "unit": "rps",  # vector(0) has no service label: per service
                "query": 'sum(rate(http_requests_total{$selector, code="503"}[5m])) or vector(0)'},
}


def _om(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _times(end: int) -> list[int]:
    """The sample times: two hours and ten minutes before `end`, and the same 80 minutes a day earlier."""
    day = 86400
    return [*range(end - day - 4800, end - day + 1, STEP), *range(end - 7800, end + 1, STEP)]


def openmetrics_history(end: int) -> str:
    times = _times(end)
    surge = end - 1200

    def counter(rate: Callable[[int], float]) -> list[tuple[float, int]]:
        total, out, prev = 0.0, [], times[0]
        for t in times:
            total += rate(t) * (t - prev)
            prev = t
            out.append((total, t))
        return out

    out = ["# TYPE http_requests counter"]
    for svc, (ok, err, _) in HTTP.items():
        ok_rate = (lambda t, ok=ok: ok * 3 if t >= surge else ok) if svc == "checkout" else (lambda t, ok=ok: ok)
        for code, rate in (("200", ok_rate), ("500", lambda t, err=err: err)):
            if rate(end) or code == "200":
                out += [f'http_requests_total{{service="{_om(svc)}",code="{code}",pod="{_om(svc)}-7f9c"}} '
                        f'{v:g} {t}' for v, t in counter(rate)]
    for env, rate in (("prod", 4.0), ("staging", 40.0)):  # `multi` is selected by service and env
        out += [f'http_requests_total{{service="multi",env="{env}",code="200"}} {v:g} {t}'
                for v, t in counter(lambda t, rate=rate: rate)]
    out += [f'http_requests_total{{job="legacy-api",code="200"}} {v:g} {t}' for v, t in counter(lambda t: 6.0)]
    out.append("# TYPE http_request_duration_seconds histogram")
    for svc, scale in (("checkout", 200.0), ("payment", 50.0)):
        for le, share in BUCKETS:
            out += [f'http_request_duration_seconds_bucket{{service="{svc}",le="{le}"}} {v:g} {t}'
                    for v, t in counter(lambda t, share=share, scale=scale:
                                        scale * (share if t < surge else share ** 3))]
    out.append("# TYPE app_requests counter")
    for svc in ("checkout", "payment"):
        for code, rate in (("200", 8.0), ("404", 1.0)):
            out += [f'app_requests_total{{app="{svc}",code="{code}"}} {v:g} {t}'
                    for v, t in counter(lambda t, rate=rate: rate)]
    out.append("# TYPE container_cpu_usage_seconds counter")
    for svc, (_, _, ns) in HTTP.items():
        if ns:
            cores = 0.25 if svc != "checkout" else 0.5
            out += [f'container_cpu_usage_seconds_total{{namespace="{ns}",container="{svc}"}} {v:g} {t}'
                    for v, t in counter(lambda t, cores=cores: cores)]
    out.append("# TYPE container_memory_working_set_bytes gauge")
    for svc, (_, _, ns) in HTTP.items():
        if ns:
            out += [f'container_memory_working_set_bytes{{namespace="{ns}",container="{svc}"}} '
                    f'{(2 + (t // STEP) % 7) * 2**26} {t}' for t in times]
    out.append("# TYPE db_pool_in_use gauge")
    out += [f'db_pool_in_use{{service="checkout"}} {10 + (t // STEP) % 5} {t}' for t in times]
    out.append("# TYPE db_pool_max gauge")
    out += [f'db_pool_max{{service="checkout"}} 50 {t}' for t in times]
    out.append("# EOF")
    return "\n".join(out) + "\n"


def _config() -> Config:
    services: list[dict[str, object]] = [
        {"name": "checkout"}, {"name": "payment", "namespace": "shop"},
        {"name": "cart"}, {"name": "cart-v2", "container": "cart"},  # two services on one container
        {"name": "ghost"},  # no data at all
        {"name": "legacy", "labels": {"job": "legacy-api"}},  # another selector shape: a batch of its own
        {"name": "multi", "labels": {"service": "multi", "env": "prod"}},
        *({"name": w} for w in WEIRD),
    ]
    return parse_config({"services": services, "signals": USER_SIGNALS})


@dataclass
class Proxy:
    """Forwards Prometheus API calls, recording each query; with `reject`, scope queries get a 400."""

    target: str
    queries: list[str] = field(default_factory=list)
    reject: Callable[[str], bool] | None = None
    url: str = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        params = dict(request.query)
        if request.method == "POST":
            params.update({k: str(v) for k, v in (await request.post()).items()})
        query = params.get("query", "")
        self.queries.append(query)
        if self.reject is not None and self.reject(query):
            return web.json_response({"status": "error", "errorType": "bad_data", "error": "rejected by the test"},
                                     status=400)
        async with aiohttp.ClientSession() as s, s.get(self.target + request.path, params=params) as resp:
            return web.Response(body=await resp.read(), status=resp.status, content_type="application/json")


@pytest.fixture(scope="module")
def history_end() -> int:
    return int(time.time()) // STEP * STEP - 60


@pytest.fixture
def prom_url(real_prometheus, history_end: int) -> str:
    return real_prometheus(openmetrics_history(history_end))


@pytest.fixture
async def proxy(prom_url: str) -> AsyncIterator[Proxy]:
    p = Proxy(prom_url)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", p.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    p.url = f"http://127.0.0.1:{port}"
    yield p
    await runner.cleanup()


@pytest.fixture
def window(history_end: int) -> TimeRange:
    return TimeRange.ending(datetime.fromtimestamp(history_end, timezone.utc), timedelta(hours=1))


def _deps(url: str, config: Config | None = None) -> tuple[Deps, Metrics]:
    m = Metrics()
    prom = PrometheusBackend(url, metrics=m)
    return Deps(settings=load_settings(None), config=config or _config(), metrics=m, prometheus=prom), m


def _dump(items: list[Evidence]) -> list[dict[str, object]]:
    return [e.model_dump(mode="json") for e in items]


async def _per_service(deps: Deps, window: TimeRange, seasonal: bool) -> dict[str, list[Evidence]]:
    return {svc.name: await golden_signals(deps, svc, window, seasonal=seasonal) for svc in deps.config.services}


@pytest.mark.prometheus
@pytest.mark.parametrize("seasonal", [False, True])
async def test_scope_evidence_equals_per_service_evidence(proxy: Proxy, window: TimeRange, seasonal: bool) -> None:
    """Every service's evidence (built-in and user signals, ids, quotes, points, yesterday's points) is exactly what
    golden_signals gives it, from one query per signal and rewrite shape instead of one per service and signal."""
    deps, _ = _deps(proxy.url)
    expected = await _per_service(deps, window, seasonal)
    per_service_calls = len(proxy.queries)
    proxy.queries.clear()
    got = await scope_signals(deps, deps.config.services, window, seasonal=seasonal)
    assert list(got) == [s.name for s in deps.config.services]
    for name, items in expected.items():
        assert _dump(got[name]) == _dump(items), name
    # the data really says something: checkout's surge is seen, partial series are reported, ghost has no data
    [rate] = [e for e in got["checkout"] if e.data["signal"] == "request_rate"]
    assert rate.status == "ok" and rate.data["verdict"] == "high"
    assert bool(rate.data["seasonal_points"]) is seasonal
    [raw] = [e for e in got["checkout"] if e.data["signal"] == "raw_rate"]
    assert raw.partial == "showing 1 of 2 series (the largest)"
    assert {e.status for e in got["ghost"] if e.data["signal"] != "or_zero"} == {"no_data"}  # vector(0): 0
    [multi] = [e for e in got["multi"] if e.data["signal"] == "request_rate"]
    assert multi.data["now"] == pytest.approx(4.0)  # env="prod" only, as its own query selects
    [cpu_v2] = [e for e in got["cart-v2"] if e.data["signal"] == "cpu"]  # its container is cart's
    assert cpu_v2.status == "ok" and cpu_v2.data["now"] == pytest.approx(0.25)
    # 7 $selector signals x 3 selector shapes (default, job, service+env) + pool (default shape only) + cpu and
    # memory (one container plan) + by_code (one $service plan) + pod_rate and or_zero per service (2 x 12)
    assert len(proxy.queries) == (7 * 3 + 1 + 2 + 1 + 2 * 12) * (2 if seasonal else 1), proxy.queries
    assert per_service_calls == (12 * 12 + 3) * (2 if seasonal else 1)


@pytest.mark.prometheus
async def test_builtin_signals_take_one_query_each_on_a_46_service_scope(proxy: Proxy, window: TimeRange) -> None:
    """46 services with the built-in signals: 6 range queries (12 with yesterday's), counted by the bot's own
    backend metrics; services without data get golden_signals' no-data evidence."""
    config = parse_config({"services": [{"name": f"svc-{i:02d}-" + "x" * 12} for i in range(46)]})
    deps, metrics = _deps(proxy.url, config)
    got = await scope_signals(deps, config.services, window, seasonal=True)
    calls = metrics.registry.get_sample_value("sre_bot_backend_request_duration_seconds_count",
                                              {"backend": "prometheus", "operation": "query_range"})
    assert calls == len(proxy.queries) == 12
    assert all(e.status == "no_data" for items in got.values() for e in items)
    svc = config.services[7]
    assert _dump(got[svc.name]) == _dump(await golden_signals(deps, svc, window, seasonal=True))


@pytest.mark.prometheus
async def test_long_scopes_are_split_and_still_equal(proxy: Proxy, window: TimeRange) -> None:
    """A scope whose service regex would pass the limit is fetched in several batches, with the same evidence."""
    deps, _ = _deps(proxy.url)
    services = [s for s in deps.config.services if s.name in ("checkout", "payment", "cart", "ghost", *WEIRD)]
    got = await scope_signals(deps, services, window, max_regex_chars=20)
    batches, _ = scope_batches(deps.config, services, max_regex_chars=20)
    assert len(batches) > len(deps.config.all_signals)
    assert all(b.plan.regex_chars({lb: [k[i] for _, k in b.members] for i, lb in enumerate(b.plan.labels)}) <= 20
               or len(b.members) == 1 for b in batches)
    for svc in services:
        assert _dump(got[svc.name]) == _dump(await golden_signals(deps, svc, window)), svc.name


@pytest.mark.prometheus
async def test_a_rejected_scope_query_falls_back_to_per_service(proxy: Proxy, window: TimeRange) -> None:
    """When Prometheus rejects a scope query (400), its services are queried one by one: still the same evidence."""
    proxy.reject = lambda q: "service=~" in q
    deps, _ = _deps(proxy.url)
    services = [s for s in deps.config.services if s.name in ("checkout", "payment", "ghost")]
    got = await scope_signals(deps, services, window)
    assert any("service=~" in q for q in proxy.queries)
    proxy.reject = None
    for svc in services:
        assert _dump(got[svc.name]) == _dump(await golden_signals(deps, svc, window)), svc.name


async def test_an_unreachable_prometheus_gives_each_service_its_error(window: TimeRange) -> None:
    """A failing batch query becomes the same `error` evidence for every service in it as per-service queries."""
    deps, _ = _deps(f"http://127.0.0.1:{free_port()}")
    services = deps.config.services[:3]
    got = await scope_signals(deps, services, window)
    for svc in services:
        assert [e.status for e in got[svc.name]] == ["error"] * len(got[svc.name])
        assert _dump(got[svc.name]) == _dump(await golden_signals(deps, svc, window))


async def test_no_prometheus_is_said_per_service(window: TimeRange) -> None:
    """Without PROMETHEUS_URL every service gets golden_signals' "not configured" item."""
    deps = Deps(settings=load_settings(None), config=_config())
    got = await scope_signals(deps, deps.config.services[:2], window)
    for svc in deps.config.services[:2]:
        assert _dump(got[svc.name]) == _dump(await golden_signals(deps, svc, window))


# --- the rewrite itself (no Prometheus) ---

_VARS = {"selector": matchers({"service": sentinel("sel:service")}),
         "container_selector": matchers({"namespace": sentinel("namespace"), "container": sentinel("container")}),
         "service": sentinel("service"), "namespace": sentinel("namespace"), "container": sentinel("container")}


def _rewrite(template: str) -> str | None:
    plan = plan_scope(render_template(template, _VARS))
    return plan.render({label: ["a", "b"] for label in plan.labels}) if plan else None


@pytest.mark.parametrize(("template", "expected"), [
    ("sum(rate(x{$selector}[5m]))", 'sum by (service) (rate(x{service=~"a|b"}[5m]))'),
    ("histogram_quantile(0.95, sum by (le) (rate(h_bucket{$selector}[5m])))",
     'histogram_quantile(0.95, sum by (le, service) (rate(h_bucket{service=~"a|b"}[5m])))'),
    ("histogram_quantile(0.9, sum(rate(h_bucket{$selector}[5m])) by (le,))",
     'histogram_quantile(0.9, sum(rate(h_bucket{service=~"a|b"}[5m])) by (le, service))'),
    ('sum(rate(x{$selector, code=~"5.."}[5m])) / sum(rate(x{$selector}[5m]))',
     'sum by (service) (rate(x{service=~"a|b", code=~"5.."}[5m])) / sum by (service) (rate(x{service=~"a|b"}[5m]))'),
    ("sum(container_memory_working_set_bytes{$container_selector})",
     'sum by (container, namespace) (container_memory_working_set_bytes{namespace=~"a|b", container=~"a|b"})'),
    ("max(a{$selector}) / on() group_left max(b{$selector})",
     'max by (service) (a{service=~"a|b"}) / on(service) group_left max by (service) (b{service=~"a|b"})'),
    ("sum without (pod) (rate(x{$selector}[5m]))", 'sum without (pod) (rate(x{service=~"a|b"}[5m]))'),
    ("topk(3, rate(x{$selector}[5m]))", 'topk by (service) (3, rate(x{service=~"a|b"}[5m]))'),
    ("max_over_time(sum(rate(x{$selector}[1m]))[10m:1m])",
     'max_over_time(sum by (service) (rate(x{service=~"a|b"}[1m]))[10m:1m])'),
    ('sum by (code) (rate(x{app="$service"}[5m] offset 1h))', 'sum by (code, app) (rate(x{app=~"a|b"}[5m] offset 1h))'),
    ("1 - avg(rate(cpu{$container_selector}[5m])) > bool 0.5",
     '1 - avg by (container, namespace) (rate(cpu{namespace=~"a|b", container=~"a|b"}[5m])) > bool 0.5'),
    # not safe: per service instead
    ('sum(rate(x{pod=~"$service-.*"}[5m]))', None),
    ("sum(x{$selector}) or vector(0)", None),
    ("sum(x{$selector}) / sum(up)", None),
    ("sum(a{$selector}) / sum(b{$container_selector})", None),
    ("sum without (service) (x{$selector})", None),
    ("sum(x{$selector}) / ignoring(service) sum(y{$selector})", None),
    ('label_replace(sum(x{$selector}), "service", "$1", "pod", "(.*)")', None),
    ('count_values("service", x{$selector})', None),
    ("scalar(sum(x{$selector}))", None),
    ("absent(x{$selector})", None),
    ('sum(x{service!="$service"})', None),
    ("sum(x{$selector}", None),
])
def test_rewrite(template: str, expected: str | None) -> None:
    """The built-in shapes and common user shapes keep the service labels; unsafe ones are refused."""
    assert _rewrite(template) == expected


def test_regex_values_are_escaped() -> None:
    """Service names with regex and string metacharacters select exactly themselves."""
    import re

    names = ['we"ird\\svc', "a(b", "x|y*", "dot.ted", "ünï"]
    regex = "|".join(regex_escape(n) for n in sorted(names))
    assert regex_matcher("service", names) == "service=~" + '"' + regex.replace("\\", "\\\\").replace('"', '\\"') + '"'
    assert all(re.fullmatch(regex, n) for n in names)
    assert not any(re.fullmatch(regex, n) for n in ("dotXted", "x", "y*", "a"))
    assert regex_escape("a.b|c") == "a\\.b\\|c"


def test_scope_queries_lists_what_a_simulator_must_answer() -> None:
    """`scope_queries` gives each signal's queries and their services: scope queries, and per-service ones."""
    config = _config()
    queries = scope_queries(config, config.services)
    [(q, names)] = [(q, n) for q, n in queries["request_rate"] if "checkout" in n]
    assert q.startswith("sum by (service) (rate(http_requests_total{service=~") and "ghost" in names
    assert all(len(n) == 1 for _, n in queries["pod_rate"]) and len(queries["pod_rate"]) == len(config.services)
    assert sum(len(n) for _, n in queries["pool"]) == 3


def test_conflicting_variables_fall_back_for_that_service() -> None:
    """A template tying one label to two variables (service name and container) batches the services where they
    agree and queries the others alone."""
    config = Config(services=[ServiceConfig(name="a"), ServiceConfig(name="b", container="other")],
                    builtin_signals=False,
                    signals={"s": Signal(title="s", unit="count", query='sum(x{app="$service"}) / sum(y{app="$container"})')})
    batches, alone = scope_batches(config, config.services)
    assert [[svc.name for svc, _ in b.members] for b in batches] == [["a"]]
    assert [(n, svc.name) for n, svc in alone] == [("s", "b")]


def test_a_scope_query_resolves_back_to_its_signal_and_services() -> None:
    """A simulator can answer scope queries: each batch query names its signal and its services' series labels."""
    config = _config()
    batches, _ = scope_batches(config, config.services, max_regex_chars=30)
    assert batches
    for b in batches:
        resolved = resolve_scope_query(config, b.query)
        assert resolved is not None, b.query
        name, members = resolved
        assert name == b.signal
        assert {svc.name for svc, _ in members} >= {svc.name for svc, _ in b.members}
        assert all(labels == dict(zip(b.plan.labels, key, strict=True))
                   for svc, key in b.members for s2, labels in members if s2.name == svc.name)
    assert resolve_scope_query(config, "sum(rate(http_requests_total[5m]))") is None
    per_service = config.signal_queries(config.service("checkout"))[0].query
    assert resolve_scope_query(config, per_service) is None
