"""The OpenTelemetry demo's call graph as service-graph series, for the correlation benchmark's "discovered" rows.

Written by hand from the demo's PUBLISHED architecture (opentelemetry-demo 2.x: the service diagram on
opentelemetry.io/docs/demo/architecture/ and the service pages, from the author's knowledge of them, checked against
that page's diagram), never from the ITBench scenarios being scored: their propagations and ground truth are the
answer key. A Prometheus that a
Tempo metrics-generator (or Grafana Alloy, or the collector's servicegraph connector) writes into would hold these
edges once the demo has served traffic for a while:

- `load-generator` (Locust, instrumented) and the browser (`user`, a virtual node: a client Tempo cannot see) call
  `frontend-proxy` (Envoy), which routes to `frontend`, `image-provider`, `flagd-ui` and `flagd` (the flag service's
  browser endpoint).
- `frontend` (Next.js) calls `ad`, `cart`, `checkout`, `currency`, `product-catalog`, `product-reviews`,
  `recommendation` and `shipping`.
- `checkout` calls `cart`, `currency`, `email`, `payment`, `product-catalog` and `shipping`, and publishes orders on
  Kafka; `accounting` and `fraud-detection` consume them (a producer/consumer pair: Tempo draws it as checkout →
  accounting and checkout → fraud-detection, `connection_type="messaging_system"`).
- `shipping` calls `quote`; `recommendation` and `product-reviews` call `product-catalog`; `product-reviews` also
  calls the `llm` service.
- Databases (client spans with `db.*` attributes; the node named by `peer.service`/`server.address`,
  `connection_type="database"`): `cart` → `valkey-cart`; `accounting` and `product-reviews` → `postgresql`.
- Feature flags: `ad`, `cart`, `checkout`, `payment`, `product-catalog`, `recommendation`, `fraud-detection` and
  `flagd-ui` evaluate flags over gRPC at `flagd`.

The Istio Bookinfo sample (two of the ITBench scenarios run it) is written the way Istio's standard metrics show it:
`istio_requests_total{reporter="source", source_workload, destination_workload}` with its published call graph
(productpage → details, productpage → reviews v1–v3, reviews v2/v3 → ratings; the ingress gateway calls
productpage).

The series are counters sampled every 15 s, ending at `end`, in OpenMetrics (for `promtool tsdb
create-blocks-from openmetrics`, i.e. `tests.realprom.prometheus_server`). Demo names are the demo's own
`service.name`s; `to_alert_name` maps them to the names the benchmark's alerts use.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

__all__ = ["OTEL_DEMO_EDGES", "BOOKINFO_EDGES", "openmetrics", "to_alert_name", "demo_edges"]

# (client, server, connection_type); connection_type "" is a direct request (Tempo leaves the label empty)
OTEL_DEMO_EDGES: tuple[tuple[str, str, str], ...] = (
    ("user", "frontend-proxy", ""),
    ("load-generator", "frontend-proxy", ""),
    ("frontend-proxy", "frontend", ""),
    ("frontend-proxy", "image-provider", ""),
    ("frontend-proxy", "flagd-ui", ""),
    ("frontend-proxy", "flagd", ""),
    ("frontend", "ad", ""),
    ("frontend", "cart", ""),
    ("frontend", "checkout", ""),
    ("frontend", "currency", ""),
    ("frontend", "product-catalog", ""),
    ("frontend", "product-reviews", ""),
    ("frontend", "recommendation", ""),
    ("frontend", "shipping", ""),
    ("checkout", "cart", ""),
    ("checkout", "currency", ""),
    ("checkout", "email", ""),
    ("checkout", "payment", ""),
    ("checkout", "product-catalog", ""),
    ("checkout", "shipping", ""),
    ("checkout", "accounting", "messaging_system"),
    ("checkout", "fraud-detection", "messaging_system"),
    ("shipping", "quote", ""),
    ("recommendation", "product-catalog", ""),
    ("product-reviews", "product-catalog", ""),
    ("product-reviews", "llm", ""),
    ("cart", "valkey-cart", "database"),
    ("accounting", "postgresql", "database"),
    ("product-reviews", "postgresql", "database"),
    *((svc, "flagd", "") for svc in ("ad", "cart", "checkout", "payment", "product-catalog", "recommendation",
                                     "fraud-detection", "flagd-ui")),
)

# (source_workload, destination_workload) as Istio's source reporter labels them
BOOKINFO_EDGES: tuple[tuple[str, str], ...] = (
    ("istio-ingressgateway", "productpage-v1"),
    ("productpage-v1", "details-v1"),
    ("productpage-v1", "reviews-v1"),
    ("productpage-v1", "reviews-v2"),
    ("productpage-v1", "reviews-v3"),
    ("reviews-v2", "ratings-v1"),
    ("reviews-v3", "ratings-v1"),
)

STEP_S = 15


def _rate(client: str, server: str) -> float:
    """A steady, made-up request rate per edge (requests/s), so the counters are not all alike."""
    return 1.0 + (sum(map(ord, client + server)) % 20) / 4


def _series(name: str, labels: dict[str, str], rate: float, start: int, end: int) -> list[str]:
    text = name + "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"
    return [f"{text} {rate * (t - start):g} {t}" for t in range(start, end + 1, STEP_S)]


def openmetrics(end: int, *, minutes: int = 120, failed: bool = True) -> str:
    """Both graphs as OpenMetrics counters over the `minutes` before `end` (unix seconds), ending with `# EOF`:
    Tempo's `traces_service_graph_request_total` (and `…_failed_total`, flat zero) for the demo, Istio's
    `istio_requests_total` for Bookinfo."""
    start = end - minutes * 60
    lines = ["# TYPE traces_service_graph_request counter"]
    for c, s, ct in OTEL_DEMO_EDGES:
        lines += _series("traces_service_graph_request_total", {"client": c, "server": s, "connection_type": ct},
                         _rate(c, s), start, end)
    if failed:
        lines.append("# TYPE traces_service_graph_request_failed counter")
        for c, s, ct in OTEL_DEMO_EDGES:
            lines += _series("traces_service_graph_request_failed_total",
                             {"client": c, "server": s, "connection_type": ct}, 0.0, start, end)
    lines.append("# TYPE istio_requests counter")
    for c, s in BOOKINFO_EDGES:
        lines += _series("istio_requests_total", {"reporter": "source", "source_workload": c,
                                                  "destination_workload": s, "response_code": "200"},
                         _rate(c, s), start, end)
    return "\n".join(lines) + "\n# EOF\n"


def to_alert_name(name: str, known: Callable[[str], str | None]) -> str:
    """A discovered node's name as the alerts spell it: `known(name)` (the benchmark's spelling of a service its
    alerts name, or None), else the same with an Istio workload's version suffix dropped (`details-v1` → `details`,
    unless `productpage-v1` itself is a known name), else the name unchanged."""
    for candidate in (name, re.sub(r"-v\d+$", "", name)):
        found = known(candidate)
        if found:
            return found
    return name


def demo_edges(pairs: Iterable[tuple[str, str]], known: Callable[[str], str | None]) -> list[tuple[str, str]]:
    """(client, server) pairs in the alerts' spelling, without self-loops (reviews-v2 → reviews-v1 both map to
    `reviews`), sorted and unique."""
    out = {(to_alert_name(c, known), to_alert_name(s, known)) for c, s in pairs}
    return sorted((c, s) for c, s in out if c != s)
