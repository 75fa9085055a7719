"""The simulated Prometheus: the bot's signal queries in Prometheus's wire format, other queries no series."""

from __future__ import annotations

import math

import httpx
import pytest

from sre_bot.sandbox import Sandbox
from sre_bot.sandbox.prometheus_api import normalize_query
from sre_bot.sandbox.wire import prom_time, prom_value
from tests.backends._shapes import missing_paths, shape
from tests.sandbox._support import ANCHOR, fixture


def _same_shape(real: object, ours: object) -> None:
    assert (missing_paths(shape(real), shape(ours)), missing_paths(shape(ours), shape(real))) == ([], [])


async def _get(http: httpx.AsyncClient, sb: Sandbox, path: str, **params: object) -> httpx.Response:
    return await http.get(sb.urls.prometheus + path, params={k: str(v) for k, v in params.items()})


async def test_every_signal_query_of_the_config_is_answered(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    """Each rendered signal query gets a matrix like Prometheus's; signals a service lacks give an empty result."""
    real = fixture("prometheus", "api_v1_query_range_matrix_up.json")
    start, end, step = ANCHOR - 3600, ANCHOR, 60
    answered = 0
    for svc in sandbox.config.services:
        for rs in sandbox.config.signal_queries(svc):
            resp = await _get(http, sandbox, "/api/v1/query_range", query=rs.query, start=start, end=end, step=step)
            body = resp.json()
            assert body["status"] == "success" and body["data"]["resultType"] == "matrix"
            result = body["data"]["result"]
            if not sandbox.world.has(svc.name, rs.name):
                assert result == [], (svc.name, rs.name)
                continue
            answered += 1
            _same_shape(real, body)
            (series,) = result
            assert series["metric"] == {}
            times = [t for t, _ in series["values"]]
            assert times == [start + k * step for k in range(61)]
            assert all(isinstance(v, str) for _, v in series["values"])
            assert float(series["values"][-1][1]) == pytest.approx(sandbox.world.value(svc.name, rs.name, end))
    assert answered == 5 * 6 + 3


async def test_instant_queries_and_up(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    """Instant queries answer vectors like Prometheus's; `up{...}` filters by its matchers."""
    body = (await _get(http, sandbox, "/api/v1/query", query="up")).json()
    _same_shape(fixture("prometheus", "api_v1_query_vector_up.json"), body)
    assert len(body["data"]["result"]) == 6 and body["data"]["result"][0]["value"] == [prom_time(ANCHOR), "1"]
    body = (await _get(http, sandbox, "/api/v1/query", query='up{service=~"payments-.*", job!="payments-db"}')).json()
    assert [r["metric"]["service"] for r in body["data"]["result"]] == ["payments-api"]
    q = sandbox.config.signal_queries(sandbox.config.service("checkout"))[1].query
    body = (await _get(http, sandbox, "/api/v1/query", query=q, time=ANCHOR - 600)).json()
    (item,) = body["data"]["result"]
    assert item["value"][0] == ANCHOR - 600 and float(item["value"][1]) > 0.08
    body = (await _get(http, sandbox, "/api/v1/query", query=q, time=ANCHOR + 3600)).json()
    assert body["data"]["result"] == []  # the future has no data yet


async def test_whitespace_does_not_matter_and_post_form_works(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    """The query is matched with whitespace outside strings ignored, over GET or a POSTed form."""
    q = sandbox.config.signal_queries(sandbox.config.service("payments-api"))[2].query
    spaced = q.replace("(", " ( ").replace(",", " ,\n ")
    assert normalize_query(spaced) == normalize_query(q)
    assert normalize_query('a{x="a b"}') != normalize_query('a{x="ab"}')
    resp = await http.post(sandbox.urls.prometheus + "/api/v1/query_range",
                           data={"query": spaced, "start": str(ANCHOR - 600), "end": str(ANCHOR), "step": "1m"})
    assert resp.status_code == 200 and len(resp.json()["data"]["result"][0]["values"]) == 11


async def test_other_queries_get_no_series_and_a_warning_naming_the_simulator(sandbox: Sandbox,
                                                                            http: httpx.AsyncClient) -> None:
    """A valid query the bot did not render gets no series, as from a Prometheus without that data (HTTP 200), and
    a `warnings` entry saying this is the simulator and what it answers (bad PromQL: tests/sandbox/test_query_honest.py)."""
    for path in ("/api/v1/query", "/api/v1/query_range"):
        resp = await _get(http, sandbox, path, query='rate(http_requests_total{service="checkout"}[1m])',
                          start=ANCHOR - 600, end=ANCHOR, step=60)
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("application/json")
        body = resp.json()
        assert body["status"] == "success" and body["data"]["result"] == []
        (warning,) = body["warnings"]
        assert "sre-bot sandbox simulator" in warning
        assert 'sum(rate(http_requests_total{service="frontend"}[5m]))' in warning


@pytest.mark.parametrize("params, message", [
    ({"start": ANCHOR, "end": ANCHOR - 60, "step": 60}, "end timestamp must not be before start time"),
    ({"start": ANCHOR - 86400, "end": ANCHOR, "step": 1}, "exceeded maximum resolution of 11,000 points"),
    ({"start": ANCHOR - 60, "end": ANCHOR, "step": 0}, "zero or negative query resolution step"),
    ({"start": "yesterday", "end": ANCHOR, "step": 60}, 'invalid parameter "start"'),
    ({"start": ANCHOR - 60, "end": ANCHOR, "step": "soon"}, 'invalid parameter "step"'),
])
async def test_range_parameter_errors(sandbox: Sandbox, http: httpx.AsyncClient, params: dict[str, object],
                                      message: str) -> None:
    """Bad range parameters get Prometheus's own messages."""
    resp = await _get(http, sandbox, "/api/v1/query_range", query="up", **params)
    assert resp.status_code == 400 and message in resp.json()["error"]


async def test_labels_buildinfo_and_ready(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    """Label values, build info and readiness answer like Prometheus."""
    jobs = (await _get(http, sandbox, "/api/v1/label/job/values")).json()
    _same_shape(fixture("prometheus", "api_v1_label_job_values.json"), jobs)
    assert "checkout" in jobs["data"]
    assert (await _get(http, sandbox, "/api/v1/label/namespace/values")).json()["data"] == ["shop"]
    assert (await _get(http, sandbox, "/api/v1/label/nothing/values")).json() == {"status": "success", "data": []}
    _same_shape(fixture("prometheus", "api_v1_labels.json"), (await _get(http, sandbox, "/api/v1/labels")).json())
    info = (await _get(http, sandbox, "/api/v1/status/buildinfo")).json()
    assert set(info["data"]) == set(fixture("prometheus", "api_v1_status_buildinfo.json")["data"])
    assert (await _get(http, sandbox, "/-/ready")).text == "Prometheus Server is Ready.\n"


def test_numbers_are_written_like_prometheus() -> None:
    """Values are Go-formatted strings and timestamps are seconds with millisecond precision."""
    assert [prom_value(v) for v in (0.5, 44187648.0, 1e-05, 1.5e20, math.nan, math.inf, -math.inf)] == [
        "0.5", "44187648", "0.00001", "150000000000000000000", "NaN", "+Inf", "-Inf"]
    assert prom_time(1795240767.0) == 1795240767 and prom_time(1795240787.9794) == 1795240787.979
