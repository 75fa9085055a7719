"""The simulated Loki: stream selectors, line filters, metric queries, labels, in Loki's wire format."""

from __future__ import annotations

import httpx
import pytest

from sre_bot.sandbox import Sandbox
from sre_bot.sandbox.logql import LogQLError, parse_logql
from tests.backends._shapes import missing_paths, shape
from tests.sandbox._support import ANCHOR, fixture

NS = 10**9
CHECKOUT = '{namespace="shop", app="checkout"}'


def _same_shape(real: object, ours: object, optional: frozenset[str] = frozenset({"$.warnings"})) -> None:
    missing = [p for p in missing_paths(shape(real), shape(ours)) if p not in optional]
    assert (missing, missing_paths(shape(ours), shape(real))) == ([], [])


async def _get(http: httpx.AsyncClient, sb: Sandbox, path: str, **params: object) -> httpx.Response:
    return await http.get(sb.urls.loki + path, params={k: str(v) for k, v in params.items()})


async def _lines(http: httpx.AsyncClient, sb: Sandbox, query: str, minutes: int = 30,
                 **params: object) -> list[tuple[str, dict[str, str], str]]:
    body = (await _get(http, sb, "/loki/api/v1/query_range", query=query, start=int((ANCHOR - minutes * 60) * NS),
                       end=int(ANCHOR * NS), **params)).json()
    return [(ts, s["stream"], line) for s in body["data"]["result"] for ts, line in s["values"]]


async def test_streams_answer_has_lokis_shape(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    """A log query answers streams with nanosecond string timestamps and Loki's stats object."""
    resp = await _get(http, sandbox, "/loki/api/v1/query_range", query=CHECKOUT, limit=20,
                      start=int((ANCHOR - 600) * NS), end=int(ANCHOR * NS))
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    _same_shape(fixture("loki", "query_range_streams.json"), body)
    assert missing_paths(shape(fixture("loki", "docs_query_range_streams.json")), shape(body)) == []
    values = [v for s in body["data"]["result"] for v in s["values"]]
    assert len(values) == 20 and all(isinstance(ts, str) and len(ts) == 19 for ts, _ in values)
    assert {s["stream"]["app"] for s in body["data"]["result"]} == {"checkout"}
    assert set(body["data"]["result"][0]["stream"]) == {"app", "container", "job", "namespace", "pod", "stream"}
    assert body["data"]["stats"]["summary"]["totalEntriesReturned"] == 20


async def test_limit_and_direction(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    """`limit` caps the newest lines (backward, the default) or the oldest (forward), across streams."""
    newest = await _lines(http, sandbox, CHECKOUT, limit=50)
    oldest = await _lines(http, sandbox, CHECKOUT, limit=50, direction="forward")
    everything = await _lines(http, sandbox, CHECKOUT, limit=5000)
    stamps = sorted(int(ts) for ts, _, _ in everything)
    assert sorted(int(ts) for ts, _, _ in newest) == stamps[-50:]
    assert sorted(int(ts) for ts, _, _ in oldest) == stamps[:50]
    assert len(everything) < 5000


async def test_line_filters(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    """|=, !=, |~ and !~ filter lines like Loki's (regex unanchored, `(?i)` honoured)."""
    timeouts = await _lines(http, sandbox, CHECKOUT + ' |= "timeout calling payments-api"', limit=5000)
    assert timeouts and all("timeout calling payments-api" in line for _, _, line in timeouts)
    errors = await _lines(http, sandbox, CHECKOUT + ' |~ "(?i)(ERROR|exception)" != "order placed"', limit=5000)
    assert errors and all("level=error" in line and "order placed" not in line for _, _, line in errors)
    no_errors = await _lines(http, sandbox, CHECKOUT + ' !~ "level=(error|warn)"', limit=5000)
    assert no_errors and not any("level=error" in line or "level=warn" in line for _, _, line in no_errors)
    raw = await _lines(http, sandbox, '{app="payments-api"} |= `within 5000ms`', limit=10)
    assert len(raw) == 10 and all("could not obtain connection from pool within 5000ms" in line for _, _, line in raw)


async def test_selectors_match_labels(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    """Stream selectors match labels exactly (or by anchored regex); a pod matcher selects one pod's lines."""
    pod = sandbox.world.pods("payments-api")[0]
    lines = await _lines(http, sandbox, f'{{namespace="shop", pod="{pod}"}}', limit=100)
    assert lines and {s["pod"] for _, s, _ in lines} == {pod}
    apps = {s["app"] for _, s, _ in await _lines(http, sandbox, '{app=~"payments-.*"}', minutes=5, limit=5000)}
    assert apps == {"payments-api", "payments-db"}
    assert await _lines(http, sandbox, '{namespace="elsewhere"}') == []


async def test_error_template_appears_at_onset(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    """The pool-exhaustion template is absent before the incident and dominant after it."""
    q = '{app="payments-api"} |= "could not obtain connection"'
    before = (await _get(http, sandbox, "/loki/api/v1/query_range", query=q, limit=5000,
                         start=int((ANCHOR - 3 * 3600) * NS), end=int((ANCHOR - 25 * 60) * NS))).json()
    assert before["data"]["result"] == []
    assert len(await _lines(http, sandbox, q, minutes=20, limit=5000)) > 1000


async def test_metric_queries_answer_matrices(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    """count_over_time and rate, with sum by, answer Loki's matrix format with float-second timestamps."""
    q = 'sum by (app) (count_over_time({namespace="shop"} |= "level=error" [5m]))'
    body = (await _get(http, sandbox, "/loki/api/v1/query_range", query=q, start=ANCHOR - 3600, end=ANCHOR,
                       step=300)).json()
    _same_shape(fixture("loki", "query_range_matrix.json"), body)
    by_app = {r["metric"]["app"]: r["values"] for r in body["data"]["result"]}
    assert set(by_app) == {"checkout"}  # the only logfmt service with error lines in the last hour
    assert by_app["checkout"][-1][0] == ANCHOR and float(by_app["checkout"][-1][1]) > 100
    rate = (await _get(http, sandbox, "/loki/api/v1/query", time=ANCHOR,
                       query='sum(rate({app="payments-db"} |= "too many clients" [1m]))')).json()
    (item,) = rate["data"]["result"]
    assert rate["data"]["resultType"] == "vector" and item["metric"] == {} and 0.1 < float(item["value"][1]) < 1.0


@pytest.mark.parametrize("query, params, message", [
    ('{app="checkout"', {}, "parse error at line 1"),
    ('{app="checkout"} | json', {}, "sre-bot sandbox simulator supports"),
    ('{app=~".*"}', {}, "queries require at least one regexp or equality matcher"),
    ("topk(3, rate({app=\"x\"}[1m]))", {}, "parse error at line 1, col 1"),
    (CHECKOUT, {"limit": 6000}, "max entries limit per query exceeded"),
    (CHECKOUT, {"direction": "sideways"}, "invalid direction"),
    (CHECKOUT, {"start": int(ANCHOR * NS), "end": int((ANCHOR - 60) * NS)}, "end timestamp must not be before"),
])
async def test_errors_are_plain_text_400(sandbox: Sandbox, http: httpx.AsyncClient, query: str,
                                         params: dict[str, object], message: str) -> None:
    """Unparseable or unsupported queries and bad parameters get plain-text 400s like Loki's."""
    resp = await _get(http, sandbox, "/loki/api/v1/query_range", query=query, **params)
    assert resp.status_code == 400 and resp.headers["content-type"].startswith("text/plain")
    assert message in resp.text


async def test_labels_label_values_and_ready(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    """Label names and values answer like Loki's; pods of the old and new revisions are both listed."""
    labels = (await _get(http, sandbox, "/loki/api/v1/labels")).json()
    _same_shape(fixture("loki", "labels.json"), labels)
    assert "app" in labels["data"] and "namespace" in labels["data"]
    apps = (await _get(http, sandbox, "/loki/api/v1/label/app/values")).json()
    _same_shape(fixture("loki", "docs_label_values.json"), apps)
    assert apps["data"] == sorted(s.name for s in sandbox.world.services)
    pods = (await _get(http, sandbox, "/loki/api/v1/label/pod/values", start=int((ANCHOR - 3600) * NS))).json()["data"]
    w = sandbox.world
    assert set(w.pods("checkout", ANCHOR - 1800)) | set(w.pods("checkout", ANCHOR)) <= set(pods)
    assert (await _get(http, sandbox, "/ready")).text == "ready\n"


def test_logql_parser_shapes() -> None:
    """The parser reads selectors, filters and nested aggregations; it names what it does not support."""
    q = parse_logql('sum without (pod) (rate({app="a", ns!~"x|y"} |= "e" !~ `\\d+` [90s]))')
    assert q.op == "sum" and q.without == ("pod",) and q.inner.range_s == 90  # type: ignore[union-attr]
    assert [m.op for m in q.inner.inner.matchers] == ["=", "!~"]  # type: ignore[union-attr]
    with pytest.raises(LogQLError, match="expecting a range"):
        parse_logql('count_over_time({app="a"})')
