"""Hand-made OTLP JSON traces for the Tempo tests (the shape of the published sample, ids in base64)."""

from __future__ import annotations

import base64
from typing import Any

__all__ = ["otlp_trace", "b64"]


def b64(hex_id: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_id)).decode()


def otlp_trace(trace_id: str, spans: list[dict[str, Any]]) -> dict[str, Any]:
    """`spans`: dicts with id, parent, service, name, start_ns, end_ns and optional error, kind, attrs."""
    by_service: dict[str, list[dict[str, Any]]] = {}
    for s in spans:
        by_service.setdefault(s["service"], []).append({
            "traceId": b64(trace_id), "spanId": b64(s["id"]),
            **({"parentSpanId": b64(s["parent"])} if s.get("parent") else {}),
            "name": s["name"], "kind": s.get("kind", "SPAN_KIND_SERVER"),
            "startTimeUnixNano": str(s["start_ns"]), "endTimeUnixNano": str(s["end_ns"]),
            "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in (s.get("attrs") or {}).items()],
            "status": {"code": "STATUS_CODE_ERROR", "message": s["error"]} if s.get("error") else {},
        })
    return {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": svc}}]},
        "scopeSpans": [{"scope": {"name": "test"}, "spans": items}]} for svc, items in by_service.items()]}
