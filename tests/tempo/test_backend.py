"""TempoBackend against the wire-format Tempo server and httpx.MockTransport: requests, parsing, errors."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from sre_bot.backends.tempo import TempoBackend, parse_otlp, span_id_hex, traceql_string
from sre_bot.errors import BackendTimeout, BackendUnavailable, NotFound, QueryRejected, Unauthorized
from sre_bot.models import TimeRange
from sre_bot.sandbox.traceql import SpanView, compile_traceql
from sre_bot.tools.traces import traceql_for
from tests.fakes import free_port
from tests.tempo._traces import otlp_trace
from tests.tempo.fake_tempo import FIXTURES, FakeTempo, fixture_trace

NOW = datetime(2022, 7, 20, 14, 30, tzinfo=timezone.utc)
WINDOW = TimeRange.ending(NOW, timedelta(hours=1))
T0 = int((NOW - timedelta(minutes=10)).timestamp()) * 10**9
FIXTURE_ID = "e8b6dff9f8d44b28f1b22bc3bd2f6768"  # the published sample's traceId, base64 "6Lbf+fjUSyjxsivDvS9naA=="


def _slow_trace() -> dict:
    return otlp_trace("0af7651916cd43dd8448eb211c80319c", [
        dict(id="b7ad6b7169203331", service="checkout", name="POST /checkout", start_ns=T0, end_ns=T0 + 2_410_000_000),
        dict(id="00f067aa0ba902b7", parent="b7ad6b7169203331", service="checkout", name="SELECT payments",
             kind="SPAN_KIND_CLIENT", start_ns=T0 + 100_000_000, end_ns=T0 + 2_000_000_000,
             attrs={"db.system": "postgresql", "db.statement": "SELECT * FROM payments"}, error="timeout"),
    ])


@pytest.fixture
def tempo() -> Iterator[FakeTempo]:
    with FakeTempo(tenant="team-a", token="s3cret") as server:
        yield server


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as c:
        yield c


def _backend(client: httpx.AsyncClient, server: FakeTempo) -> TempoBackend:
    return TempoBackend(client, server.url, org_id="team-a", token="s3cret")


async def test_search_sends_traceql_window_limit_spss_and_credentials(tempo, client):
    """The search carries q, start/end in Unix seconds, limit, spss, X-Scope-OrgID and the bearer token."""
    tid = tempo.add(_slow_trace())
    q = traceql_for("checkout")
    [hit] = await _backend(client, tempo).search(q, WINDOW, limit=7, spss=2)
    [req] = tempo.requests_to("/api/search")
    assert req.param("q") == q and (req.param("limit"), req.param("spss")) == ("7", "2")
    assert req.param("start") == str(int(WINDOW.start.timestamp()))
    assert req.param("end") == str(int(WINDOW.end.timestamp()) + 1)
    assert req.header("X-Scope-OrgID") == "team-a" and req.header("Authorization") == "Bearer s3cret"
    assert hit.trace_id == tid and hit.root_service == "checkout" and hit.duration_ms == 2410
    assert hit.error and hit.root_name == "POST /checkout"


async def test_a_quote_in_a_service_name_cannot_break_out_of_the_string(tempo, client):
    """`checkout" || true || "` stays one string: Tempo finds no such service instead of every trace."""
    tempo.add(_slow_trace())
    name = 'checkout" || status = error || resource.service.name = "x'
    q = traceql_for(name)
    assert q.count('"') == 2 + name.count('"') and '\\"' in q
    assert await _backend(client, tempo).search(q, WINDOW) == []
    view = SpanView("x", "error", "server", 1, {"service.name": name}, {})
    assert compile_traceql(q)(view) and not compile_traceql(q)(view.__class__("x", "error", "server", 1,
                                                                               {"service.name": "checkout"}, {}))
    assert traceql_string('a\\b"\n') == '"a\\\\b\\"\\n"'


async def test_bad_traceql_is_rejected_with_tempos_message(tempo, client):
    """A 400 from Tempo becomes QueryRejected quoting the parser's message."""
    with pytest.raises(QueryRejected, match=r"Tempo rejected the request \(400 Bad Request\): invalid TraceQL "
                                            r"query: parse error at line 1"):
        await _backend(client, tempo).search("{ status = ", WINDOW)


async def test_wrong_tenant_or_token_is_unauthorized(tempo, client):
    """Without the right X-Scope-OrgID or token Tempo answers 401: Unauthorized, saying to check the token."""
    with pytest.raises(Unauthorized, match="check the token"):
        await TempoBackend(client, tempo.url, org_id="team-b", token="s3cret").search("{ }", WINDOW)
    with pytest.raises(Unauthorized):
        await TempoBackend(client, tempo.url, org_id="team-a", token="wrong").search("{ }", WINDOW)


async def test_5xx_and_refused_connection_are_unavailable(tempo, client):
    """A 503 and a port nobody listens on both say Tempo is unavailable, with the reason."""
    tempo.fail_next(503, "too many outstanding requests")
    with pytest.raises(BackendUnavailable, match="too many outstanding requests"):
        await _backend(client, tempo).search("{ }", WINDOW)
    with pytest.raises(BackendUnavailable, match="connection refused"):
        await TempoBackend(client, f"http://127.0.0.1:{free_port()}").search("{ }", WINDOW)


async def test_timeout_is_said_with_the_limit():
    """A Tempo that does not answer in time is a BackendTimeout naming the timeout."""
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler), timeout=3) as c:
        with pytest.raises(BackendTimeout, match="did not answer within 3s"):
            await TempoBackend(c, "http://tempo:3200").search("{ }", WINDOW)


async def test_trace_by_id_parses_the_published_otlp_sample(tempo, client):
    """The published trace (base64 ids, kind and status names, ns strings) parses into 15 spans, 3 failed."""
    tid = tempo.add(fixture_trace())
    assert tid == FIXTURE_ID
    trace = await _backend(client, tempo).trace(tid, WINDOW)
    assert len(trace.spans) == 15 and len(trace.errors()) == 3
    root = next(s for s in trace.spans if s.parent_id is None)
    assert (root.service, root.name, root.kind, root.span_id) == ("mythical-requester", "requester", "client",
                                                                   "9007fea484554ad7")
    assert root.start_ns == 1658325672496201216
    [req] = tempo.requests_to(f"/api/v2/traces/{tid}")
    assert req.param("start") and req.header("X-Scope-OrgID") == "team-a"


async def test_trace_falls_back_to_v1_on_an_old_tempo(client):
    """When /api/v2/traces is a 404 page (an old Tempo), the v1 route answers with the OTLP body itself."""
    with FakeTempo(v1_only=True) as old:
        tid = old.add(_slow_trace())
        trace = await TempoBackend(client, old.url).trace(tid)
        assert len(trace.spans) == 2
        assert [r.path for r in old.requests] == [f"/api/v2/traces/{tid}", f"/api/traces/{tid}"]


async def test_unknown_trace_and_bad_id(tempo, client):
    """A trace Tempo does not have is NotFound (one request); a non-hex id is refused before any request."""
    with pytest.raises(NotFound, match="trace not found"):
        await _backend(client, tempo).trace("0af7651916cd43dd8448eb211c80319d")
    assert len(tempo.requests) == 1
    with pytest.raises(NotFound, match="not a trace id"):
        await _backend(client, tempo).trace("../../etc/passwd")
    assert len(tempo.requests) == 1


async def test_tag_values(tempo, client):
    """Service names come from /api/v2/search/tag/resource.service.name/values; a bad tag is refused locally."""
    tempo.add(fixture_trace())
    tempo.add(_slow_trace())
    backend = _backend(client, tempo)
    assert await backend.services(WINDOW) == ["checkout", "mythical-requester", "mythical-server"]
    assert tempo.requests[-1].path == "/api/v2/search/tag/resource.service.name/values"
    with pytest.raises(ValueError):
        await backend.tag_values("a b/../c")


async def test_malformed_answers_are_backend_errors():
    """A 200 that is not JSON, or spans without times, is an error naming Tempo, never a crash."""
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/search":
            return httpx.Response(200, text="<html>login</html>")
        return httpx.Response(200, json={"trace": {"resourceSpans": [{"scopeSpans": [{"spans": [{"spanId": "AA=="}]}]}]}})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as c:
        backend = TempoBackend(c, "http://tempo:3200")
        with pytest.raises(Exception, match="Tempo at http://tempo:3200 sent an unexpected search response"):
            await backend.search("{ }", WINDOW)
        with pytest.raises(Exception, match="unexpected trace response: bad span"):
            await backend.trace("0af7651916cd43dd8448eb211c80319c")


def test_ids_hex_or_base64():
    """OTLP ids: 16/32 hex digits stay as they are (lowercased); base64 is decoded to hex."""
    assert span_id_hex("6Lbf+fjUSyjxsivDvS9naA==") == FIXTURE_ID
    assert span_id_hex("B7AD6B7169203331") == "b7ad6b7169203331"
    assert span_id_hex(None) == ""
    trace = parse_otlp("x", {"batches": [{"resource": {}, "instrumentationLibrarySpans": [{"spans": [
        {"spanId": "b7ad6b7169203331", "startTimeUnixNano": 5, "endTimeUnixNano": 9, "kind": 2,
         "status": {"code": 2}}]}]}]})
    assert trace.spans[0].kind == "server" and trace.spans[0].error and trace.spans[0].service == "unknown"


def _doc_json_after(marker: str) -> dict:
    """The JSON printed after `marker` in Tempo's published HTTP API page."""
    text = (FIXTURES / "http-api.md").read_text()
    start = text.index("{", text.index(marker))
    end = text.index("```", start)
    return json.loads(text[start:end])


async def test_published_samples_parse_and_the_fake_answers_in_their_shape(tempo, client):
    """Contract: the docs' search and tag-values samples parse; the fake's answers have the same keys and types."""
    sample = _doc_json_after("--data-urlencode 'tags=service.name=cartservice'")
    values = _doc_json_after("api/v2/search/tag/.service.name/values")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=sample if request.url.path == "/api/search" else values)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as c:
        hits = await TempoBackend(c, "http://tempo:3200").search("{ }", None)
        assert [(h.trace_id, h.root_service, h.duration_ms) for h in hits] == [
            ("0" * 16 + "d6e9329d67b6146a", "frontend", 611), ("0" * 16 + "1b1ba462b409200d", "frontend", 611)]
        assert "shop-backend" in await TempoBackend(c, "http://tempo:3200").services()
    tempo.add(_slow_trace())
    ours = (await client.get(tempo.url + "/api/search", params={"q": "{ }"},
                             headers={"X-Scope-OrgID": "team-a", "Authorization": "Bearer s3cret"})).json()
    for doc, got in zip(sample["traces"][:1], ours["traces"], strict=False):
        assert set(doc) <= set(got)
        assert all(type(doc[k]) is type(got[k]) for k in doc)
    assert re.fullmatch(r"\d+", ours["traces"][0]["startTimeUnixNano"])
    tv = (await client.get(tempo.url + "/api/v2/search/tag/resource.service.name/values",
                           headers={"X-Scope-OrgID": "team-a", "Authorization": "Bearer s3cret"})).json()
    assert set(tv) == set(values) and set(tv["tagValues"][0]) == set(values["tagValues"][0])
