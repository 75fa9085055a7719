"""Nezha spans -> Tempo metrics-generator series: edges, span kinds, buckets, gaps, and a real Prometheus."""

from __future__ import annotations

import csv
import gzip
import json
import math
import re
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from benchmarks._nezha_traces import (
    GRAPH_BUCKETS,
    INTERVAL_S,
    SPAN_BUCKETS,
    edge_latency_openmetrics,
    trace_openmetrics,
)
from sre_bot.config import load_config

T0 = 1_699_999_995  # a multiple of 15 s
NEZHA = Path(__file__).resolve().parents[3] / "shared" / "benchmarks" / "nezha"
CONFIGS = Path(__file__).resolve().parents[2] / "benchmarks" / "nezha"
HEADER = ["TraceID", "SpanID", "ParentID", "PodName", "OperationName", "StartTimeUnixNano", "EndTimeUnixNano",
          "Duration"]
FRONT, CATALOG, CART = "frontend-579b9bff58-t2dbm", "productcatalogservice-668d5f85fb-wckp8", "cartservice-579f59597d-wc2lz"


def _span(trace: str, span: str, parent: str, pod: str, name: str, start: float, seconds: float) -> list[str]:
    s = int(start * 1e9)
    e = s + int(round(seconds * 1e9))
    return [trace, span, parent, pod, name, str(s), str(e), str((e - s) // 1000)]


def _request(i: int, start: float, *, client_s: float = 0.05, server_s: float = 0.03) -> list[list[str]]:
    """One OnlineBoutique-shaped request: frontend root -> frontend client span -> catalog server span -> SQL."""
    t = f"t{i}"
    return [_span(t, f"{t}a", "root", FRONT, "hipstershop.Frontend/Recv.", start, client_s + 0.01),
            _span(t, f"{t}b", f"{t}a", FRONT, "hipstershop.ProductCatalogService/GetProduct", start + 0.001, client_s),
            _span(t, f"{t}c", f"{t}b", CATALOG, "hipstershop.ProductCatalogService/GetProduct", start + 0.002,
                  server_s),
            _span(t, f"{t}d", f"{t}c", CATALOG, "sql.conn.query", start + 0.003, 0.001)]


def _write(day: Path, name: str, rows: list[list[str]]) -> Path:
    path = day / "trace" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        w.writerows(rows)
    return path


def _samples(text: str, name: str, **labels: str) -> list[tuple[int, float]]:
    """(timestamp, value) of the one series `name{labels...}` (every given label must match)."""
    out = []
    for line in text.splitlines():
        m = re.fullmatch(r"([a-z_]+)\{(.*)\} (\S+) (\S+)", line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2)))
        if all(got.get(k) == v for k, v in labels.items()):
            out.append((int(float(m.group(4))), float(m.group(3))))
    return out


def test_cross_service_child_makes_one_edge_with_client_and_server_seconds(tmp_path: Path) -> None:
    """A child span in another service is one request on (parent's service -> child's service), timed both ways."""
    _write(tmp_path, "10_00_trace.csv.gz", [*_request(1, T0 + 1, client_s=0.15, server_s=0.05),
                                           *_request(2, T0 + 2, client_s=0.15, server_s=0.05)])
    ex = trace_openmetrics(tmp_path)
    assert ex.edges == {("frontend", "productcatalogservice"): 2, ("user", "frontend"): 2}
    edge = {"client": "frontend", "server": "productcatalogservice"}
    assert _samples(ex.text, "traces_service_graph_request_total", **edge)[-1] == (T0 + INTERVAL_S, 2)
    # client 0.15 s falls in le=0.2 (not 0.1); server 0.05 s in le=0.1
    assert _samples(ex.text, "traces_service_graph_request_client_seconds_bucket", **edge, le="0.1")[-1][1] == 0
    assert _samples(ex.text, "traces_service_graph_request_client_seconds_bucket", **edge, le="0.2")[-1][1] == 2
    assert _samples(ex.text, "traces_service_graph_request_server_seconds_bucket", **edge, le="0.1")[-1][1] == 2
    assert _samples(ex.text, "traces_service_graph_request_client_seconds_sum", **edge)[-1][1] == pytest.approx(0.3)
    assert _samples(ex.text, "traces_service_graph_request_server_seconds_count", **edge)[-1][1] == 2
    assert "connection_type" not in ex.text.split("client=\"frontend\",server=\"productcatalogservice\"")[1][:30]
    assert _samples(ex.text, "traces_service_graph_request_total", client="user", server="frontend",
                    connection_type="virtual_node")[-1][1] == 2
    assert "traces_service_graph_request_failed_total" not in ex.text  # no span status in Nezha
    assert len(GRAPH_BUCKETS) == 8 and GRAPH_BUCKETS[-1] == 12.8 and SPAN_BUCKETS[-1] == 16.384


def test_span_kinds_follow_the_service_boundaries(tmp_path: Path) -> None:
    """Root and callee spans are SERVER, the caller's span into another service CLIENT, the rest INTERNAL."""
    _write(tmp_path, "10_00_trace.csv.gz", _request(1, T0 + 1))
    text = trace_openmetrics(tmp_path).text
    kinds = {(m[0], m[1]): m[2] for m in re.findall(
        r'traces_spanmetrics_calls_total\{service="([^"]+)",span_name="([^"]+)",span_kind="([^"]+)",'
        r'status_code="STATUS_CODE_UNSET"\}', text)}
    assert kinds == {
        ("frontend", "hipstershop.Frontend/Recv."): "SPAN_KIND_SERVER",
        ("frontend", "hipstershop.ProductCatalogService/GetProduct"): "SPAN_KIND_CLIENT",
        ("productcatalogservice", "hipstershop.ProductCatalogService/GetProduct"): "SPAN_KIND_SERVER",
        ("productcatalogservice", "sql.conn.query"): "SPAN_KIND_INTERNAL",
    }
    lat = _samples(text, "traces_spanmetrics_latency_bucket", service="productcatalogservice",
                   span_name="sql.conn.query", le="0.002")
    assert lat[-1][1] == 1


def test_minutes_without_a_file_are_a_gap_and_counters_resume_without_going_back(tmp_path: Path) -> None:
    """Two files 5 minutes apart: no sample in between, the count goes on from where it stopped."""
    _write(tmp_path, "10_00_trace.csv.gz", [*_request(1, T0 + 1), *_request(2, T0 + 50)])
    _write(tmp_path, "10_05_trace.csv.gz", [*_request(3, T0 + 301), *_request(4, T0 + 302)])
    ex = trace_openmetrics(tmp_path)
    pts = _samples(ex.text, "traces_service_graph_request_total", client="frontend", server="productcatalogservice")
    times = [t for t, _ in pts]
    assert not [t for t in times if T0 + 4 * INTERVAL_S < t < T0 + 300]
    values = [v for _, v in pts]
    assert values == sorted(values) and values[-1] == 4
    assert dict(pts)[T0 + 300] == 2  # the block after the gap starts from the count before it
    assert times == sorted(times) and len(set(times)) == len(times)
    assert ex.blocks == 2


def test_a_series_first_seen_later_starts_at_zero_at_its_block_start(tmp_path: Path) -> None:
    """An edge that appears only in the second file gets a 0 sample first, so rate() counts its first requests."""
    cart = [_span("x", "xa", "root", FRONT, "hipstershop.Frontend/Recv.", T0 + 301, 0.02),
            _span("x", "xb", "xa", FRONT, "hipstershop.CartService/GetCart", T0 + 301.001, 0.01),
            _span("x", "xc", "xb", CART, "hipstershop.CartService/GetCart", T0 + 301.002, 0.005)]
    _write(tmp_path, "10_00_trace.csv.gz", _request(1, T0 + 1))
    _write(tmp_path, "10_05_trace.csv.gz", [*_request(2, T0 + 300), *cart])
    pts = _samples(trace_openmetrics(tmp_path).text, "traces_service_graph_request_total", client="frontend",
                   server="cartservice")
    assert pts[0] == (T0 + 300, 0) and pts[-1][1] == 1


def test_edge_latency_gauges_split_columns_by_known_services(tmp_path: Path) -> None:
    """source_50/destination_50 columns become {client, server, reporter} gauges; an empty cell is NaN."""
    for reporter, v in (("source", "0.75"), ("destination", "")):
        (tmp_path / f"{reporter}_50.csv").write_text(
            "time,timestamp,checkoutservice_paymentservice,frontend_x_y\n"
            f"2022-08-22 03:51:20.021338403 +0000 UTC m=+0.527292383,1661140280,{v},1\n", encoding="utf-8")
    text, n = edge_latency_openmetrics(tmp_path, {"checkoutservice", "paymentservice", "frontend"})
    assert n == 2
    assert ('nezha_edge_latency_p50_seconds{client="checkoutservice",server="paymentservice",reporter="source"} '
            '0.75 1661140280.021') in text
    assert 'reporter="destination"} NaN' in text and "frontend_x_y" not in text


def test_the_benchmark_configs_load_as_a_user_would_write_them() -> None:
    """Both configs load with the bot's loader; TrainTicket gets no star topology, OnlineBoutique the edge gauges."""
    ob = load_config(CONFIGS / "onlineboutique.yml", required=True)
    tt = load_config(CONFIGS / "trainticket.yml", required=True)
    for cfg in (ob, tt):
        assert not cfg.builtin_signals
        assert set(cfg.all_signals) == {"request_rate", "latency_p95", "latency_p99", "cpu", "memory"}
        assert all("nezha_" in s.query for s in cfg.all_signals.values())
        assert cfg.call_graph.builtin
    assert len(tt.services) == 46
    assert {k: v for k, v in tt.dependencies().items() if v} == {"ts-ui-dashboard": ["ts-gateway-service"]}
    assert [e.latency_client for e in ob.call_graph.edges] == [
        'avg by (client, server) (nezha_edge_latency_p50_seconds{reporter="source"})']
    assert len(ob.dependencies()["frontend"]) == 7


def _query(url: str, q: str, at: float) -> dict[tuple[str, str], float]:
    with urllib.request.urlopen(f"{url}/api/v1/query?" + urllib.parse.urlencode({"query": q, "time": at})) as r:
        body = json.load(r)
    return {(s["metric"]["client"], s["metric"]["server"]): float(s["value"][1]) for s in body["data"]["result"]}


@pytest.mark.prometheus
def test_a_real_prometheus_reads_the_edge_rates_back(tmp_path: Path, real_prometheus) -> None:
    """Backfilled with promtool, `sum by (client, server) (rate(...request_total[1m]))` gives the edge's rate."""
    rows = [r for i in range(24) for r in _request(i, T0 + 1 + i * 5)]  # 24 requests over 2 minutes: 0.2/s
    _write(tmp_path, "10_00_trace.csv.gz", rows)
    ex = trace_openmetrics(tmp_path)
    url = real_prometheus(ex.text + "# EOF\n")
    rates = _query(url, "sum by (client, server) (rate(traces_service_graph_request_total[1m]))", T0 + 90)
    assert rates[("frontend", "productcatalogservice")] == pytest.approx(0.2, rel=0.35)
    assert rates[("user", "frontend")] == pytest.approx(0.2, rel=0.35)
    p50 = _query(url, "histogram_quantile(0.5, sum by (le, client, server) "
                      "(rate(traces_service_graph_request_server_seconds_bucket[1m])))", T0 + 90)
    assert 0 < p50[("frontend", "productcatalogservice")] <= 0.1
    gap = _query(url, "sum by (client, server) (rate(traces_service_graph_request_total[1m]))", T0 + 600)
    assert gap == {}


@pytest.mark.skipif(not (NEZHA / "2022-08-22" / "trace").is_dir(), reason="Nezha data not present")
def test_a_real_onlineboutique_minute_gives_the_known_call_graph() -> None:
    """One real minute of OnlineBoutique spans: the edges of dependency.csv, and no orphan spans."""
    day = NEZHA / "2022-08-22"
    ex = trace_openmetrics(day, files=[day / "trace" / "03_53_trace.csv.gz"])
    edges = {e for e in ex.edges if e[0] != "user"}
    assert ("frontend", "productcatalogservice") in edges and ("checkoutservice", "paymentservice") in edges
    assert ex.orphans == 0 and ex.spans > 20_000
    assert all(not math.isnan(v) for _, v in _samples(ex.text, "traces_service_graph_request_total"))
