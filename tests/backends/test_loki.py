"""LokiBackend against the fake Loki server and httpx.MockTransport: wire format, ordering, headers, errors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from sre_bot.backends.loki import LokiBackend
from sre_bot.errors import BackendError, BackendTimeout, BackendUnavailable, QueryRejected, Unauthorized
from sre_bot.metrics import Metrics
from sre_bot.models import TimeRange
from tests.fakes import free_port
from tests.fakes.loki import FakeLoki

NOW = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)
WINDOW = TimeRange.ending(NOW, timedelta(hours=1))
T0 = 1740830000 * 10**9  # 11:53:20, inside WINDOW
SEL = '{namespace="shop"}'


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as c:
        yield c


def _mock(handler) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def _fill(loki: FakeLoki) -> None:
    loki.push({"namespace": "shop", "app": "checkout"}, [(T0 + 1, "checkout a"), (T0 + 4, "checkout b error")])
    loki.push({"namespace": "shop", "app": "payment"}, [(T0 + 2, "payment a error"), (T0 + 3, "payment b")])
    loki.push({"namespace": "other", "app": "x"}, [(T0 + 5, "elsewhere error")])


async def test_request_carries_nanosecond_strings(loki_server: FakeLoki, client: httpx.AsyncClient) -> None:
    """start/end are sent as exact Unix-nanosecond strings, with limit and direction."""
    await LokiBackend(client, loki_server.url).query_range(SEL, WINDOW, limit=7, direction="forward")
    [req] = loki_server.requests_to("/loki/api/v1/query_range")
    assert req.param("end") == "1740830400123456000"
    assert req.param("start") == "1740826800123456000"
    assert (req.param("limit"), req.param("direction"), req.param("query")) == ("7", "forward", SEL)


async def test_lines_merge_across_streams_newest_first(loki_server: FakeLoki, client: httpx.AsyncClient) -> None:
    """Backward results interleave streams newest first, each line keeping its stream's labels and exact ns time."""
    _fill(loki_server)
    result = await LokiBackend(client, loki_server.url).query_range(SEL, WINDOW)
    assert [ln.line for ln in result.lines] == ["checkout b error", "payment b", "payment a error", "checkout a"]
    assert [ln.ts_ns for ln in result.lines] == [T0 + 4, T0 + 3, T0 + 2, T0 + 1]
    assert result.lines[1].labels == {"namespace": "shop", "app": "payment"}
    assert result.lines[0].time == datetime.fromtimestamp(T0 // 10**9, timezone.utc)
    assert not result.limit_hit and result.limit == 500
    forward = await LokiBackend(client, loki_server.url).query_range(SEL, WINDOW, direction="forward")
    assert [ln.ts_ns for ln in forward.lines] == [T0 + 1, T0 + 2, T0 + 3, T0 + 4]


async def test_limit_hit_when_lines_equal_limit(loki_server: FakeLoki, client: httpx.AsyncClient) -> None:
    """limit_hit is set exactly when as many lines come back as were asked for, keeping the newest."""
    _fill(loki_server)
    loki = LokiBackend(client, loki_server.url)
    two = await loki.query_range(SEL, WINDOW, limit=2)
    assert two.limit_hit and [ln.ts_ns for ln in two.lines] == [T0 + 4, T0 + 3]
    assert (await loki.query_range(SEL, WINDOW, limit=4)).limit_hit
    assert not (await loki.query_range(SEL, WINDOW, limit=5)).limit_hit


async def test_line_filters_and_escaping(loki_server: FakeLoki, client: httpx.AsyncClient) -> None:
    """escape_line_filter quotes text so a `"` and `\\` in it are matched literally."""
    tricky = 'path "C:\\tmp" failed'
    loki_server.push({"namespace": "shop"}, [(T0, tricky), (T0 + 1, "path C:tmp failed")])
    assert LokiBackend.escape_line_filter('a"b\\c') == '"a\\"b\\\\c"'
    loki = LokiBackend(client, loki_server.url)
    got = await loki.query_range(f"{SEL} |= {LokiBackend.escape_line_filter(tricky)}", WINDOW)
    assert [ln.line for ln in got.lines] == [tricky]
    regex = await loki.query_range(f'{SEL} |~ "(?i)FAILED" != "C:tmp"', WINDOW)
    assert [ln.line for ln in regex.lines] == [tricky]


async def test_headers_org_id_and_token(loki_server: FakeLoki, client: httpx.AsyncClient) -> None:
    """X-Scope-OrgID and a bearer token are sent when configured, and not otherwise."""
    await LokiBackend(client, loki_server.url, org_id="tenant-1", token="tok").labels()
    await LokiBackend(client, loki_server.url).labels()
    with_, without = loki_server.requests
    assert with_.header("X-Scope-OrgID") == "tenant-1" and with_.header("Authorization") == "Bearer tok"
    assert without.header("X-Scope-OrgID") is None and without.header("Authorization") is None


async def test_missing_tenant_is_unauthorized(client: httpx.AsyncClient) -> None:
    """A multi-tenant Loki's 401 "no org id" becomes Unauthorized quoting Loki."""
    with FakeLoki(tenant="t1") as loki:
        with pytest.raises(Unauthorized, match="no org id"):
            await LokiBackend(client, loki.url).ping()
        assert await LokiBackend(client, loki.url, org_id="t1").ping() == "ok"


async def test_parse_error_body_is_quoted(loki_server: FakeLoki, client: httpx.AsyncClient) -> None:
    """Loki's plain-text 400 body becomes the QueryRejected message."""
    with pytest.raises(QueryRejected, match=r"parse error at line 1, col 12: syntax error: unexpected IDENTIFIER, expecting STRING") as info:
        await LokiBackend(client, loki_server.url).query_range("{namespace=shop}", WINDOW)
    assert info.value.operation == "query_range"


async def test_server_error_is_unavailable_with_body(loki_server: FakeLoki, client: httpx.AsyncClient) -> None:
    """A 5xx answer is BackendUnavailable carrying Loki's text and counted by kind."""
    metrics = Metrics()
    loki_server.fail_next(503, "too many outstanding requests")
    with pytest.raises(BackendUnavailable, match="503 Service Unavailable: too many outstanding requests"):
        await LokiBackend(client, loki_server.url, metrics=metrics).query_range(SEL, WINDOW)
    assert metrics.registry.get_sample_value(
        "sre_bot_backend_errors_total", {"backend": "loki", "kind": "unavailable"}) == 1


async def test_unreachable_and_timeout(client: httpx.AsyncClient) -> None:
    """Connection refused and timeouts name Loki's URL and the cause."""
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(BackendUnavailable, match=rf"Loki at {url} unreachable \(connection refused\)"):
        await LokiBackend(client, url).ping()

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    async with _mock(slow) as mock:
        with pytest.raises(BackendTimeout, match="did not answer within 5s \\(read timeout\\)"):
            await LokiBackend(mock, "http://loki").query_range(SEL, WINDOW)


async def test_wrong_result_type_is_rejected(loki_server: FakeLoki, client: httpx.AsyncClient) -> None:
    """A metric query sent to query_range (or a log query to query_range_matrix) is QueryRejected, saying which to use."""
    _fill(loki_server)
    loki = LokiBackend(client, loki_server.url)
    with pytest.raises(QueryRejected, match="query_range_matrix"):
        await loki.query_range(f"count_over_time({SEL}[5m])", WINDOW)
    with pytest.raises(QueryRejected, match="use query_range"):
        await loki.query_range_matrix(SEL, WINDOW, 60)


async def test_matrix_counts(loki_server: FakeLoki, client: httpx.AsyncClient) -> None:
    """count_over_time comes back as series with float-second timestamps and numeric values."""
    _fill(loki_server)
    series = await LokiBackend(client, loki_server.url).query_range_matrix(
        f'sum by (app) (count_over_time({SEL} |= "error" [5m]))', WINDOW, 60)
    assert {s.labels["app"]: max(s.values) for s in series} == {"checkout": 1, "payment": 1}
    assert all(WINDOW.start.timestamp() <= p.t <= WINDOW.end.timestamp() for s in series for p in s.points)
    [req] = loki_server.requests_to("/loki/api/v1/query_range")
    assert req.param("step") == "60"


async def test_matrix_drops_nan_and_inf() -> None:
    """NaN and Inf samples are dropped, and a series left empty goes with them."""
    body = {"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"a": "1"}, "values": [[1700000000, "NaN"], [1700000060.5, "2"], [1700000120, "+Inf"]]},
        {"metric": {"a": "2"}, "values": [[1700000000, "NaN"]]}]}}
    async with _mock(lambda r: httpx.Response(200, json=body)) as mock:
        [s] = await LokiBackend(mock, "http://loki").query_range_matrix("x", WINDOW, 60)
    assert s.labels == {"a": "1"} and [(p.t, p.v) for p in s.points] == [(1700000060.5, 2.0)]


async def test_labels_and_values(loki_server: FakeLoki, client: httpx.AsyncClient) -> None:
    """labels and label_values list names and values, sending the window in nanoseconds when given."""
    _fill(loki_server)
    loki = LokiBackend(client, loki_server.url)
    assert await loki.labels(WINDOW) == ["app", "namespace"]
    assert await loki.label_values("app") == ["checkout", "payment", "x"]
    assert loki_server.requests[0].param("start") == "1740826800123456000"
    assert loki_server.requests[1].param("start") is None


async def test_empty_labels_without_data_key() -> None:
    """Loki omits `data` when there are no labels; that is an empty list, not an error."""
    async with _mock(lambda r: httpx.Response(200, json={"status": "success"})) as mock:
        assert await LokiBackend(mock, "http://loki/").labels() == []


async def test_non_json_answer_is_a_backend_error() -> None:
    """A 200 that is not JSON (a proxy's HTML page) is a BackendError naming Loki."""
    async with _mock(lambda r: httpx.Response(200, text="<html>login</html>")) as mock:
        with pytest.raises(BackendError, match="Loki at http://loki sent an unexpected query_range response"):
            await LokiBackend(mock, "http://loki").query_range(SEL, WINDOW)


async def test_metrics_observe_each_call(loki_server: FakeLoki, client: httpx.AsyncClient) -> None:
    """Each call is timed under its operation name."""
    metrics = Metrics()
    loki = LokiBackend(client, loki_server.url, metrics=metrics)
    await loki.query_range(SEL, WINDOW)
    await loki.labels()
    for op in ("query_range", "labels"):
        assert metrics.registry.get_sample_value(
            "sre_bot_backend_request_duration_seconds_count", {"backend": "loki", "operation": op}) == 1
    assert json.loads(json.dumps(loki_server.requests[0].query))["limit"] == ["500"]
