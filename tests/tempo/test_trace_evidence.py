"""Trace evidence (`tools/traces.py`), the investigation's trace items and the model's trace tools, against the
wire-format Tempo server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from sre_bot.backends.tempo import TempoBackend
from sre_bot.clock import frozen_clock
from sre_bot.config import Config, ServiceConfig
from sre_bot.deps import Deps
from sre_bot.investigation import Hypothesis, Investigation
from sre_bot.links import Links
from sre_bot.llm.toolbox import ToolContext, parse_call, tool_definitions
from sre_bot.models import Evidence, TimeRange
from sre_bot.services.answer import investigation_reply
from sre_bot.services.trace_evidence import add_trace_evidence
from sre_bot.settings import load_settings
from sre_bot.tools.traces import one_trace, slow_and_failed_traces
from tests.fakes import free_port
from tests.tempo._traces import otlp_trace
from tests.tempo.fake_tempo import FakeTempo

NOW = datetime(2026, 11, 21, 14, 35, tzinfo=timezone.utc)
WINDOW = TimeRange.ending(NOW, timedelta(hours=1))
T0 = int((NOW - timedelta(minutes=20)).timestamp()) * 10**9
SLOW_ID = "3f2a9c0116cd43dd8448eb211c80319c"
FAILED_ID = "0000000000000000a1b2c3d4e5f60718"


def _slow() -> dict:
    """checkout → payments-api → payments-db: 2.41 s, the SELECT 78% of it, failed."""
    return otlp_trace(SLOW_ID, [
        dict(id="1000000000000001", service="checkout", name="POST /checkout", start_ns=T0, end_ns=T0 + 2_410_000_000),
        dict(id="1000000000000002", parent="1000000000000001", service="checkout", name="GET /cart",
             kind="SPAN_KIND_CLIENT", start_ns=T0 + 10_000_000, end_ns=T0 + 60_000_000),  # concurrent, off path
        dict(id="1000000000000003", parent="1000000000000001", service="payments-api", name="POST /pay",
             start_ns=T0 + 10_000_000, end_ns=T0 + 2_400_000_000),
        dict(id="1000000000000004", parent="1000000000000003", service="payments-db", name="SELECT payments",
             kind="SPAN_KIND_CLIENT", start_ns=T0 + 400_000_000, end_ns=T0 + 2_280_000_000,
             attrs={"db.system": "postgresql", "db.statement": "SELECT * FROM payments WHERE id = $1"},
             error="canceling statement due to statement timeout"),
    ])


def _failed() -> dict:
    return otlp_trace(FAILED_ID, [
        dict(id="2000000000000001", service="checkout", name="POST /checkout", start_ns=T0 + 5 * 10**9,
             end_ns=T0 + 5 * 10**9 + 80_000_000, error="upstream 503"),
    ])


@pytest.fixture
def tempo() -> Iterator[FakeTempo]:
    with FakeTempo() as server:
        server.add(_slow())
        server.add(_failed())
        yield server


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as c:
        yield c


def _deps(client: httpx.AsyncClient | None, url: str | None, *, grafana: str | None = None) -> Deps:
    cfg = Config(services=[ServiceConfig(name="checkout"), ServiceConfig(name="payments-api")])
    return Deps(settings=load_settings(None), config=cfg, clock=frozen_clock(NOW),
                links=Links(grafana_url=grafana, tempo_url=url),
                tempo=TempoBackend(client, url) if client is not None and url else None)


async def test_slow_and_failed_traces_quote_the_dominant_span(tempo, client):
    """The slowest trace: its duration, the dominant span's share, its kind and error; then the failed one."""
    items = await slow_and_failed_traces(_deps(client, tempo.url), "checkout", WINDOW)
    assert [e.data["trace_id"] for e in items] == [SLOW_ID, FAILED_ID]
    slow = items[0]
    assert slow.status == "ok" and slow.source == "tempo" and slow.kind == "trace"
    assert slow.quote.startswith("trace 3f2a9c01…: 2.41 s, 78% in `payments-db` `SELECT payments` (db), status error: "
                                 "canceling statement due to statement timeout")
    assert "db statement: SELECT * FROM payments WHERE id = $1" in slow.quote
    assert "checkout POST /checkout → payments-api POST /pay → payments-db SELECT payments" in slow.quote
    assert "GET /cart" not in slow.quote  # concurrent and shorter: not on the path
    assert slow.extra_urls == {"Tempo": f"{tempo.url}/api/v2/traces/{SLOW_ID}"}
    assert "2 trace(s) of checkout failed or ran over 500ms" in (slow.partial or "")
    assert items[1].data["error"] and "status error: upstream 503" in items[1].quote
    [search] = tempo.requests_to("/api/search")
    assert search.param("q") == '{ resource.service.name = "checkout" && (status = error || duration > 500ms) }'


async def test_grafana_link_when_configured(tempo, client):
    """With GRAFANA_URL the trace links to Grafana Explore's Tempo pane with the trace id."""
    [e, _] = await slow_and_failed_traces(_deps(client, tempo.url, grafana="https://g.example"), "checkout", WINDOW)
    assert e.url is not None and e.url.startswith("https://g.example/explore?") and SLOW_ID in e.url
    assert set(e.extra_urls) == {"Grafana"}


async def test_not_configured_down_and_nothing_found(tempo, client):
    """No Tempo, Tempo down, and nothing matching are each one plain item: error, error, no_data."""
    [nc] = await slow_and_failed_traces(_deps(None, None), "checkout", WINDOW)
    assert nc.status == "error" and "tempo is not configured (set TEMPO_URL)" in nc.quote
    [down] = await slow_and_failed_traces(_deps(client, f"http://127.0.0.1:{free_port()}"), "checkout", WINDOW)
    assert down.status == "error" and "Tempo at" in down.quote and "unreachable" in down.quote
    [none] = await slow_and_failed_traces(_deps(client, tempo.url), "cart", WINDOW)
    assert none.status == "no_data" and "no failed traces and none slower than 500ms of cart" in none.quote


async def test_a_trace_that_cannot_be_read_is_its_own_gap(tempo, client):
    """When reading one trace fails, it becomes an error item (a gap) and the other trace is still quoted."""
    tempo.broken[FAILED_ID] = (503, "ingester unavailable")
    items = await slow_and_failed_traces(_deps(client, tempo.url), "checkout", WINDOW)
    assert [e.status for e in items] == ["ok", "error"]
    assert "ingester unavailable" in items[1].quote and items[1].label == "checkout trace a1b2c3d4"


async def test_investigation_gets_trace_evidence_beside_the_ranking(tempo, client):
    """The top hypothesis keeps its cause and confidence; its slowest trace is quoted among its first items."""
    engine_items = [Evidence(id=f"prom-{i}", source="prometheus", kind="anomaly", label=f"a{i}", query="q",
                             quote=f"anomaly {i}", service="checkout") for i in range(3)]
    inv = Investigation(question="why is checkout slow?", focus="checkout", window=WINDOW, baseline=WINDOW,
                        summary="likely checkout", hypotheses=[Hypothesis(
                            service="checkout", cause="checkout slowness", cause_kind="latency", confidence=0.8,
                            evidence=engine_items)], checked=["checkout: 5 of 6 signals normal"])
    out = await add_trace_evidence(_deps(client, tempo.url), inv)
    h = out.hypotheses[0]
    assert (h.cause, h.confidence, out.summary) == ("checkout slowness", 0.8, "likely checkout")
    assert h.evidence[:3] == engine_items and h.evidence[3].kind == "trace"
    assert "78% in `payments-db`" in h.evidence[3].quote
    shown = investigation_reply(out).sections[0].evidence
    assert shown[:3] == engine_items and shown[3].kind == "trace"
    assert any("2 slow or failed trace(s) read from Tempo (2 with errors)" in c for c in out.checked)
    assert await add_trace_evidence(_deps(None, None), inv) is inv
    down = await add_trace_evidence(_deps(client, f"http://127.0.0.1:{free_port()}"), inv)
    assert down.hypotheses[0].evidence == engine_items and any("Tempo" in g for g in down.gaps)


async def test_model_tools_offered_only_with_tempo_and_return_evidence(tempo, client):
    """search_traces/get_trace are in the model's tools only when Tempo is configured; they return trace items."""
    with_tempo, without = _deps(client, tempo.url), _deps(None, None)
    names = {d["name"] for d in tool_definitions(with_tempo)}
    assert {"search_traces", "get_trace"} <= names
    assert not {"search_traces", "get_trace"} & {d["name"] for d in tool_definitions(without)}
    inv = Investigation(question="q", window=WINDOW, baseline=WINDOW, summary="s")
    ctx = ToolContext(deps=with_tempo, window=WINDOW, engine=inv, services={"checkout": "checkout"})
    tool, args = parse_call("search_traces", {"service": "checkout", "slower_than_ms": 1000})
    [first, *_] = await tool.run(ctx, args)
    assert first.kind == "trace" and tool.label(args) == "Tempo traces of checkout"
    assert "duration > 1s" in first.query
    tool, args = parse_call("get_trace", {"trace_id": SLOW_ID.upper()})
    [one] = await tool.run(ctx, args)
    assert one.status == "ok" and one.data["dominant_service"] == "payments-db"
    with pytest.raises(Exception, match="trace_id"):
        parse_call("get_trace", {"trace_id": "not-hex"})
    missing = await one_trace(with_tempo, "ffffffffffffffffffffffffffffffff", WINDOW)
    assert missing.status == "error" and "trace not found" in missing.quote


async def test_the_models_quote_of_a_trace_item_is_grounded(tempo, client):
    """A trace item as the model is sent it: a verbatim excerpt is kept, a made-up one is removed."""
    from sre_bot.llm.evidence_text import render_evidence
    from sre_bot.llm.grounding import ground
    from sre_bot.llm.schema import ModelAnswer

    [slow, _] = await slow_and_failed_traces(_deps(client, tempo.url), "checkout", WINDOW)
    rendered = render_evidence([slow], cap_tokens=4000, redact=lambda s: s)

    def answer(text: str) -> ModelAnswer:
        return ModelAnswer.model_validate(dict(summary="payments-db is slow.", hypotheses=[dict(
            service="checkout", cause="slow payments query", confidence=0.6, evidence_ids=[slow.id],
            quotes=[dict(evidence_id=slow.id, text=text)])]))

    services = {"checkout": "checkout", "payments-db": "payments-db"}
    kept = ground(answer("78% in `payments-db` `SELECT payments` (db), status error"), visible=rendered.visible,
                  evidence={slow.id: slow}, services=services)
    assert kept.hypotheses[0].quotes and kept.counts["quotes_removed"] == 0
    made_up = ground(answer("95% in `payments-db` `UPDATE payments`"), visible=rendered.visible,
                     evidence={slow.id: slow}, services=services)
    assert made_up.counts["quotes_removed"] == 1


async def test_a_big_trace_is_worked_out_in_the_analysis_workers(tempo, client):
    """A trace of 3,000 spans (3,000 calls one after another) goes through the worker processes and is quoted."""
    from dataclasses import replace

    from sre_bot.services.offload import Offload

    big_id = "b16b16b16b16b16b16b16b16b16b16b1"
    spans = [dict(id="3000000000000000", service="checkout", name="POST /batch", start_ns=T0,
                  end_ns=T0 + 3000 * 1_000_000)]
    spans += [dict(id=f"3{i:015x}", parent="3000000000000000", service="inventory", name=f"GET /item/{i}",
                   start_ns=T0 + i * 1_000_000, end_ns=T0 + (i + 1) * 1_000_000) for i in range(1, 3000)]
    tempo.add(otlp_trace(big_id, spans))
    offload = Offload(1)
    try:
        deps = replace(_deps(client, tempo.url), offload=offload)
        item = await one_trace(deps, big_id, WINDOW)
    finally:
        offload.close()
    assert item.status == "ok" and item.data["spans"] == 3000
    assert len(item.data["path"]) == 3000 and item.data["critical_path_s"] == 3.0


async def test_traces_report_names_an_unknown_service(tempo, client):
    """`/sre traces nosuch`: nothing found, and the answer says the name is not a configured service."""
    from sre_bot.services.traces import traces_report

    reply = await traces_report(_deps(client, tempo.url), "nosuch", WINDOW)
    assert reply.summary and "`nosuch` is not a configured service; known: checkout, payments-api" in reply.summary
    assert reply.evidence[0].status == "no_data"
