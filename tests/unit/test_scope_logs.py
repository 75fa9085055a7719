"""scope_log_shifts over real HTTP to the fake Loki: one shared selector for a scope, split by service label."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from sre_bot.analysis.log_shift import active_minutes, shifts_by_service
from sre_bot.backends.loki import LokiBackend
from sre_bot.config import Config, parse_config
from sre_bot.deps import Deps
from sre_bot.models import TimeRange
from sre_bot.settings import load_settings
from sre_bot.tools.logs import error_shift, scope_log_shifts
from tests.fakes.loki import FakeLoki

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
WINDOW = TimeRange.ending(NOW, timedelta(minutes=10))
BASELINE = WINDOW.before(timedelta(minutes=30))
MIN = 60 * 10**9
W0 = int(WINDOW.start.timestamp()) * 10**9
B0 = int(BASELINE.start.timestamp()) * 10**9
HALF_S = 500_000_000


def _config(custom: bool = False) -> Config:
    services: list[dict[str, object]] = [{"name": "cart"}, {"name": "checkout"}, {"name": "payments"}]
    if custom:
        services.append({"name": "legacy", "loki_selector": '{job="legacy-vm"}'})
    return parse_config({"defaults": {"namespace": "shop"}, "services": services})


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as c:
        yield c


def _deps(loki: FakeLoki, client: httpx.AsyncClient, config: Config, **env: object) -> Deps:
    return Deps(settings=load_settings(None, LOKI_URL=loki.url, **env), config=config,
                loki=LokiBackend(client, loki.url))


def _steady(loki: FakeLoki, app: str, line: str, start: int, minutes: int, per_min: int = 2, **labels: str) -> None:
    """`per_min` lines a minute (half a second past each whole second) of `line` from `start` (ns) for `minutes`."""
    stream = labels or {"namespace": "shop", "app": app}
    loki.push(stream, [(start + HALF_S + m * MIN + k * 10**9, f"{line} id={m}{k}")
                       for m in range(minutes) for k in range(per_min)])


def _background(loki: FakeLoki) -> None:
    """Every service logs a normal INFO line through the baseline and the window (40 minutes)."""
    for app in ("cart", "checkout", "payments"):
        _steady(loki, app, f"INFO {app} handled request", B0, 40)


async def test_new_template_in_window_one_shared_query(loki_server: FakeLoki, client: httpx.AsyncClient) -> None:
    """A template new in checkout's window is found; the whole scope costs two log and two count queries."""
    _background(loki_server)
    _steady(loki_server, "cart", "ERROR cart redis timeout after 5ms", B0, 40, per_min=1)  # steady: no shift
    _steady(loki_server, "checkout", "ERROR checkout NullPointerException in PriceCalc", W0 + 3 * MIN, 4)
    deps = _deps(loki_server, client, _config())
    found = await scope_log_shifts(deps, deps.config.services, WINDOW, BASELINE)
    assert set(found) == {"cart", "checkout", "payments"}
    assert found["cart"] == [] and found["payments"] == []
    [ev] = found["checkout"]
    assert ev.kind == "log_shift" and ev.status == "ok" and ev.partial is None
    assert ev.data["kind"] == "new" and ev.data["before"] == 0 and ev.data["during"] == 8
    assert ev.quote == "ERROR checkout NullPointerException in PriceCalc id=00"
    assert ev.data["first_seen"] == datetime.fromtimestamp((W0 + 3 * MIN + HALF_S) / 1e9, timezone.utc).isoformat()
    assert "NullPointerException" in ev.data["template"]
    reqs = loki_server.requests_to("/loki/api/v1/query_range")
    assert len(reqs) == 4
    queries = {r.param("query") for r in reqs}
    assert '{namespace="shop", app=~"cart|checkout|payments"} |~ "(?i)(error|exception|fatal|panic|timeout|' \
           'refused|failed)"' in queries
    assert 'sum by (app) (count_over_time({namespace="shop", app=~"cart|checkout|payments"} [60s]))' in queries


async def test_same_shape_as_error_shift(loki_server: FakeLoki, client: httpx.AsyncClient) -> None:
    """The scope item carries every field error_shift's item does, with the same kind, counts and quote."""
    _background(loki_server)
    _steady(loki_server, "checkout", "ERROR checkout failed to reserve stock", W0 + 2 * MIN, 3)
    deps = _deps(loki_server, client, _config())
    svc = deps.config.service("checkout")
    [one] = await error_shift(deps, svc, WINDOW, BASELINE)
    [scoped] = (await scope_log_shifts(deps, [svc], WINDOW, BASELINE))["checkout"]
    assert set(one.data) <= set(scoped.data)
    for key in ("template", "kind", "before", "during", "first_seen", "rate_during_per_min"):
        assert scoped.data[key] == one.data[key], key
    assert (scoped.kind, scoped.quote, scoped.label, scoped.service) == (one.kind, one.quote, one.label, one.service)


async def test_no_lines_at_all(loki_server: FakeLoki, client: httpx.AsyncClient) -> None:
    """With no line anywhere, no service's selector matches a stream: each gets a `no_stream` gap, not "unchanged"."""
    deps = _deps(loki_server, client, _config())
    found = await scope_log_shifts(deps, deps.config.services, WINDOW, BASELINE)
    for name in ("cart", "checkout", "payments"):
        [ev] = found[name]
        assert ev.status == "error" and ev.data["error_kind"] == "no_stream"
        assert ev.quote.startswith(f'no log stream matches `{{namespace="shop", app="{name}"}}` in Loki')


async def test_template_only_in_baseline_is_not_a_shift(loki_server: FakeLoki, client: httpx.AsyncClient) -> None:
    """An error template that stopped before the window is not reported."""
    _background(loki_server)
    _steady(loki_server, "payments", "ERROR payments gateway refused connection", B0, 20)
    deps = _deps(loki_server, client, _config())
    found = await scope_log_shifts(deps, deps.config.services, WINDOW, BASELINE)
    assert found["payments"] == []


async def test_jump_counted_per_covered_minute(loki_server: FakeLoki, client: httpx.AsyncClient) -> None:
    """A template ten times as frequent in the window is a jump; its rates are per minute that holds lines."""
    _background(loki_server)
    _steady(loki_server, "cart", "ERROR cart redis timeout", B0, 30, per_min=1)
    _steady(loki_server, "cart", "ERROR cart redis timeout", W0, 10, per_min=10)
    deps = _deps(loki_server, client, _config())
    [ev] = (await scope_log_shifts(deps, deps.config.services, WINDOW, BASELINE))["cart"]
    assert ev.data["kind"] == "jump" and ev.data["before"] == 30 and ev.data["during"] == 100
    assert ev.data["rate_before_per_min"] == pytest.approx(1.0, abs=0.1)
    assert "30 of 30 baseline minutes" in ev.data["coverage"]


async def test_collection_gap_is_not_a_jump(loki_server: FakeLoki, client: httpx.AsyncClient) -> None:
    """Logs collected for only 5 of 30 baseline minutes: the same per-minute rate in the window is no jump."""
    for app in ("cart", "checkout", "payments"):
        _steady(loki_server, app, f"INFO {app} ok", B0 + 25 * MIN, 15)
    _steady(loki_server, "cart", "ERROR cart redis timeout", B0 + 25 * MIN, 15, per_min=3)
    deps = _deps(loki_server, client, _config())
    found = await scope_log_shifts(deps, deps.config.services, WINDOW, BASELINE)
    assert found["cart"] == []
    # error_shift, dividing by the wall-clock baseline, calls it a jump
    [wall] = await error_shift(deps, deps.config.service("cart"), WINDOW, BASELINE)
    assert wall.data["kind"] == "jump"


async def test_empty_baseline_says_it_cannot_judge(loki_server: FakeLoki, client: httpx.AsyncClient) -> None:
    """With no line of the scope in the baseline, nothing is called new; a no_data item says why."""
    for app in ("cart", "checkout"):
        _steady(loki_server, app, f"INFO {app} ok", W0, 10)
    _steady(loki_server, "checkout", "ERROR checkout failed to reserve stock", W0, 10)
    deps = _deps(loki_server, client, _config())
    found = await scope_log_shifts(deps, deps.config.services, WINDOW, BASELINE)
    [ev] = found["checkout"]
    assert ev.status == "no_data" and ev.kind == "log_shift" and ev.data["kind"] == "unjudged"
    assert "cannot be told new or old" in ev.quote
    assert found["cart"] == []
    [none] = found["payments"]  # not a line of payments anywhere: its selector matches no stream
    assert none.data["error_kind"] == "no_stream"


async def test_limit_hit_is_said(loki_server: FakeLoki, client: httpx.AsyncClient) -> None:
    """When the scope's line limit cuts the window, the items say how many lines were read of how many."""
    _background(loki_server)
    _steady(loki_server, "checkout", "ERROR checkout failed to reserve stock", W0, 10, per_min=3)
    _steady(loki_server, "cart", "ERROR cart panic: nil map", W0 + 7 * MIN + 30 * 10**9, 2, per_min=3)
    deps = _deps(loki_server, client, _config(), SRE_BOT_LOG_LINE_LIMIT=6)  # 3 services: 18 lines a query
    found = await scope_log_shifts(deps, deps.config.services, WINDOW, BASELINE)
    [ev] = found["checkout"]
    assert ev.data["kind"] == "new" and ev.data["during"] == 18
    assert ev.partial == "18 of 30 error lines read in the window (scope line limit 18 hit)"
    [cart] = found["cart"]  # its lines came after the limit: not judged, and said so
    assert cart.status == "no_data" and cart.partial == "0 of 6 error lines read in the window (scope line limit 18 hit)"
    assert found["payments"] == []
    assert {r.param("limit") for r in loki_server.requests_to("/loki/api/v1/query_range") if r.param("limit")} == {"18"}


async def test_custom_selector_gets_its_own_queries(loki_server: FakeLoki, client: httpx.AsyncClient) -> None:
    """A service with its own loki_selector is read with error_shift's queries; the others still share one."""
    _background(loki_server)
    _steady(loki_server, "", "INFO legacy ok", B0, 40, job="legacy-vm")
    _steady(loki_server, "", "ERROR legacy disk full", W0 + MIN, 5, job="legacy-vm")
    deps = _deps(loki_server, client, _config(custom=True))
    found = await scope_log_shifts(deps, deps.config.services, WINDOW, BASELINE)
    [ev] = found["legacy"]
    assert ev.query.startswith('{job="legacy-vm"} |~ ') and ev.data["kind"] == "new"
    assert "scope_query" not in ev.data
    assert found["cart"] == found["checkout"] == found["payments"] == []
    queries = [r.param("query") or "" for r in loki_server.requests_to("/loki/api/v1/query_range")]
    assert sum(q.startswith('{job="legacy-vm"}') for q in queries) == 2
    assert len(queries) == 6


async def test_loki_down_is_an_error_item_per_service(loki_server: FakeLoki, client: httpx.AsyncClient) -> None:
    """A failing Loki gives each service an `error` item naming the failure, not an empty list."""
    loki_server.fail_next(503, "too many outstanding requests", times=10)
    deps = _deps(loki_server, client, _config())
    found = await scope_log_shifts(deps, deps.config.services, WINDOW, BASELINE)
    for name in ("cart", "checkout", "payments"):
        [ev] = found[name]
        assert ev.status == "error" and "too many outstanding requests" in ev.quote


def test_shifts_by_service_empty_baseline_and_active_minutes() -> None:
    """The pure helpers: no verdict against an empty baseline; minutes counted from count samples."""
    assert shifts_by_service({}, {"a": ["ERROR x"] * 5}, before_minutes=0, during_minutes=5) == {}
    found = shifts_by_service({"a": []}, {"a": ["ERROR x 1", "ERROR x 2", "ERROR x 3"], "b": []},
                              before_minutes=10, during_minutes=5)
    assert list(found) == ["a"] and found["a"][0].kind == "new"
    samples = [(60.0, 3.0), (120.0, 0.0), (180.0, 1.0), (180.0, 2.0), (600.0, 1.0)]
    assert active_minutes(samples, 0, 300) == 2.0
