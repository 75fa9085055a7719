"""`/sre query` in the sandbox: bad PromQL gets Prometheus's own parse error, valid PromQL the simulator does not know
gets no series (and a warning saying why), as a real Prometheus 2.42 answers."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import httpx
import pytest

from sre_bot.sandbox import Sandbox
from sre_bot.sandbox.query_table import syntax_error
from sre_bot.services.commands import run_command
from tests.evaluation._support import bot_on
from tests.realprom import prometheus_server, require_binaries
from tests.sandbox._support import ANCHOR, FIXTURES, fixture

# (query, the error Prometheus 2.42 gives on /api/v1/query_range), captured from the real binary; None: it parses.
REAL = [
    ("sum(rate(foo[5m])", "1:18: parse error: unclosed left parenthesis"),
    ("sum(rate(foo[5m])))", "1:20: parse error: unexpected right parenthesis ')'"),
    (")", "1:2: parse error: unexpected right parenthesis ')'"),
    ('foo{a="b"', "1:10: parse error: unexpected end of input inside braces"),
    ('foo{a="b}', "1:7: parse error: unterminated quoted string"),
    ("foo{a='b}", "1:7: parse error: unterminated quoted string"),
    ('foo{a="b\\"}', "1:7: parse error: unterminated quoted string"),
    ('"abc', "1:1: parse error: unterminated quoted string"),
    ("foo `bar", "1:5: parse error: unterminated raw string"),
    ("foo[5m", "1:7: parse error: unclosed left bracket"),
    ('foo{a="b"}[5m]]', "1:15: parse error: unexpected right bracket ']'"),
    ("foo]", "1:4: parse error: unexpected right bracket ']'"),
    ("foo}", "1:4: parse error: unexpected character: '}'"),
    ('foo{a="b"}}', "1:11: parse error: unexpected character: '}'"),
    ('sum(foo{a="x"]', "1:14: parse error: unexpected character inside braces: ']'"),
    ("foo{(}", "1:5: parse error: unexpected character inside braces: '('"),
    ("sum(foo[5m)", '1:11: parse error: unexpected ")" in subquery or range, expected ":" or "]"'),
    ("foo[5m(", '1:7: parse error: unexpected "(" in subquery or range, expected ":" or "]"'),
    ("((foo)", "1:7: parse error: unclosed left parenthesis"),
    ("abc(def", "1:8: parse error: unclosed left parenthesis"),
    ("sum(", "1:5: parse error: unclosed left parenthesis"),
    ("sum(rate(foo[5m]))\n+ bar)", "2:7: parse error: unexpected right parenthesis ')'"),
    ("frobnicate(foo)", '1:1: parse error: unknown function with name "frobnicate"'),
    ("Rate(foo[5m])", '1:1: parse error: unknown function with name "Rate"'),
    ("sort_by_label(foo)", '1:1: parse error: unknown function with name "sort_by_label"'),
    ("", "1:1: parse error: no expression found in input"),
    ("   ", "1:1: parse error: no expression found in input"),
    ('foo{a=~"x"}', None),
    ("rate(foo[5m])", None),
    ("histogram_quantile(0.9, sum by (le) (rate(foo_bucket[5m])))", None),
    ("Sum(foo)", None),
    ("sum BY (x) (foo)", None),
    ("sum(foo) without(a)", None),
    ("foo and (bar)", None),
    ("foo > bool (bar)", None),
    ("foo / on(a) group_left(b) (bar)", None),
    ("foo @ start()", None),
    ("foo # comment (", None),
    ('label_replace(up, "a", "$1", "job", "(.*)")', None),
    ('foo{a="(" , b="]"}', None),
    ("foo{a='\\''}", None),
    ("holt_winters(foo[5m], 0.5, 0.5)", None),
    ("count_values(\"x\", foo)", None),
    ("{__name__=~\".+\"}", None),
]
SCOPE_HEAD = 'sum by (service) (rate(http_requests_total{service=~"cart|catalog|checkout|'


@pytest.mark.parametrize("query, error", REAL)
def test_syntax_error_says_what_prometheus_says(query: str, error: str | None) -> None:
    """The light check gives Prometheus 2.42's message and position for each captured bad query, none for good."""
    assert syntax_error(query) == error


async def _get(http: httpx.AsyncClient, base: str, path: str, query: str) -> httpx.Response:
    params = {"query": query, "start": str(ANCHOR - 600), "end": str(ANCHOR), "step": "60"}
    if path.endswith("/query"):
        params = {"query": query, "time": str(ANCHOR)}
    return await http.get(base + path, params=params)


async def test_bad_promql_gets_the_real_bad_data_envelope(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    """Bad PromQL: HTTP 400, the fixture's envelope, the parse error (prefixed on /query only, as 2.42 does)."""
    raw = (FIXTURES / "prometheus" / "api_v1_query_error_bad_data.txt").read_text()
    real = json.loads(raw.splitlines()[0])
    assert re.search(r"HTTP 400", raw)
    for query, error in REAL:
        if error is None:
            continue
        instant = await _get(http, sandbox.urls.prometheus, "/api/v1/query", query)
        ranged = await _get(http, sandbox.urls.prometheus, "/api/v1/query_range", query)
        for resp in (instant, ranged):
            assert resp.status_code == 400 and resp.headers["content-type"].startswith("application/json")
            assert set(resp.json()) == set(real) and resp.json()["errorType"] == "bad_data"
        assert instant.json()["error"] == f'invalid parameter "query": {error}'
        assert ranged.json()["error"] == error


async def test_valid_promql_it_does_not_know_gets_no_series_and_a_warning(sandbox: Sandbox,
                                                                          http: httpx.AsyncClient) -> None:
    """Valid PromQL with no simulated series: HTTP 200, an empty result shaped like Prometheus's, and a `warnings`
    entry naming the simulator, an example query it answers and the metric names it has."""
    real = fixture("prometheus", "api_v1_query_range_matrix_up.json")
    for path, kind in (("/api/v1/query", "vector"), ("/api/v1/query_range", "matrix")):
        for query in ('rate(http_requests_total{service="checkout"}[1m])', "nonexistent_metric",
                      'sum by (service) (rate(http_requests_total{service=~"checkout|cart"}[5m]))'):
            resp = await _get(http, sandbox.urls.prometheus, path, query)
            body = resp.json()
            assert resp.status_code == 200 and body["data"] == {"resultType": kind, "result": []}
            assert set(body) == set(real) | {"warnings"}
            (warning,) = body["warnings"]
            assert "sre-bot sandbox simulator" in warning and "not a real Prometheus" in warning
            assert 'sum(rate(http_requests_total{service="frontend"}[5m]))' in warning and SCOPE_HEAD in warning
            assert "http_requests_total" in warning and "container_cpu_usage_seconds_total" in warning
    known = sandbox.config.signal_queries(sandbox.config.service("checkout"))[0].query
    body = (await _get(http, sandbox.urls.prometheus, "/api/v1/query_range", known)).json()
    assert body["data"]["result"] and "warnings" not in body  # a query it knows: series, no warning
    body = (await _get(http, sandbox.urls.prometheus, "/api/v1/query", "up")).json()
    assert len(body["data"]["result"]) == 6 and "warnings" not in body


async def test_sre_query_in_the_sandbox_is_honest() -> None:
    """Through the bot: bad PromQL is a gap quoting Prometheus's parse error, unknown valid PromQL is no data with
    the simulator's warning (what it does answer), a known query answers series."""
    async with bot_on("checkout-bad-deploy") as (_, deps):
        bad = await run_command(deps, "query sum(rate(foo[5m]) 30m", None)
        (ev,) = bad.evidence
        assert ev.status == "error" and "unclosed left parenthesis" in ev.quote
        assert any("unclosed left parenthesis" in g for g in bad.gaps)
        unknown = await run_command(deps, "query rate(foo[5m]) 30m", None)
        (ev,) = unknown.evidence
        assert ev.status == "no_data" and not unknown.gaps
        assert "\nPrometheus warns: sre-bot sandbox simulator: no series for this query" in ev.quote
        assert "http_requests_total" in ev.quote and ev.data["warnings"] == [ev.quote.split("warns: ", 1)[1]]
        known = await run_command(deps, 'query sum(rate(http_requests_total{service="checkout"}[5m])) 30m', None)
        (ev,) = known.evidence
        assert ev.status == "ok" and ev.quote.startswith("{} last ") and "warns" not in ev.quote


def _real(base: str, path: str, query: str) -> tuple[int, dict[str, Any]]:
    params = {"query": query, "start": "0", "end": "600", "step": "60"} if path.endswith("range") else {
        "query": query, "time": "600"}
    try:
        with urllib.request.urlopen(f"{base}{path}?{urllib.parse.urlencode(params)}", timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.mark.prometheus
async def test_the_simulator_and_a_real_prometheus_agree(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    """Every captured query, on both endpoints: the same status and the same error text as the real binary (whose
    only sample lies years away from the asked times, so valid queries find nothing there either)."""
    require_binaries()
    with prometheus_server("# TYPE other gauge\nother 1 1000000000\n# EOF\n") as base:
        for query, _ in REAL:
            for path in ("/api/v1/query", "/api/v1/query_range"):
                status, body = _real(base, path, query)
                ours = await _get(http, sandbox.urls.prometheus, path, query)
                assert ours.status_code == status, (path, query)
                assert ours.json().get("error") == body.get("error"), (path, query)
                if status == 200:
                    assert ours.json()["data"]["result"] == body["data"]["result"] == []


async def test_the_backend_hands_on_prometheus_warnings(sandbox: Sandbox) -> None:
    """`query_range_warned` returns the body's `warnings` beside the series; none for a query the simulator knows."""
    from datetime import timedelta

    from sre_bot.backends import PrometheusBackend
    from sre_bot.models import TimeRange
    from tests.sandbox._support import NOW

    prom = PrometheusBackend(sandbox.urls.prometheus, timeout=5)
    window = TimeRange.ending(NOW, timedelta(hours=1))
    try:
        series, warnings = await prom.query_range_warned("rate(foo[5m])", window)
        assert series == [] and len(warnings) == 1 and warnings[0].startswith("sre-bot sandbox simulator")
        known = sandbox.config.signal_queries(sandbox.config.service("checkout"))[1].query
        series, warnings = await prom.query_range_warned(known, window)
        assert warnings == [] and [s.values for s in series] == [s.values for s in await prom.query_range(known, window)]
    finally:
        prom.close()
