"""Links to where evidence came from: Grafana Explore for PromQL/LogQL/TraceQL (when GRAFANA_URL is set); a trace
without Grafana links to Tempo's own API (`/api/v2/traces/<id>`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote

from .models import TimeRange

__all__ = ["Links"]


@dataclass(frozen=True)
class Links:
    grafana_url: str | None = None
    prometheus_uid: str = "prometheus"
    loki_uid: str = "loki"
    tempo_uid: str = "tempo"
    tempo_url: str | None = None

    def grafana_explore(self, query: str, window: TimeRange, *, datasource: str) -> str | None:
        """A Grafana Explore URL for `query` over `window`; `datasource` is "prometheus" or "loki"."""
        if not self.grafana_url:
            return None
        uid = self.prometheus_uid if datasource == "prometheus" else self.loki_uid
        pane = {
            "datasource": uid,
            "queries": [{"refId": "A", "expr": query, "datasource": {"type": datasource, "uid": uid}}],
            "range": {
                "from": str(int(window.start.timestamp() * 1000)),
                "to": str(int(window.end.timestamp() * 1000)),
            },
        }
        panes = quote(json.dumps({"a": pane}, separators=(",", ":")), safe="")
        return f"{self.grafana_url.rstrip('/')}/explore?schemaVersion=1&orgId=1&panes={panes}"

    def trace(self, trace_id: str, window: TimeRange | None = None) -> str | None:
        """Where a person opens one trace: Grafana Explore's Tempo pane when configured, else Tempo's API."""
        if self.grafana_url:
            return self._tempo_pane(trace_id, window, query_type="traceql")
        if self.tempo_url:
            return f"{self.tempo_url.rstrip('/')}/api/v2/traces/{quote(trace_id, safe='')}"
        return None

    def traceql(self, query: str, window: TimeRange) -> str | None:
        """A TraceQL search in Grafana Explore (None without GRAFANA_URL: Tempo has no search page of its own)."""
        return self._tempo_pane(query, window, query_type="traceql") if self.grafana_url else None

    def _tempo_pane(self, query: str, window: TimeRange | None, *, query_type: str) -> str:
        assert self.grafana_url
        pane: dict[str, object] = {
            "datasource": self.tempo_uid,
            "queries": [{"refId": "A", "queryType": query_type, "query": query,
                         "datasource": {"type": "tempo", "uid": self.tempo_uid}}],
        }
        if window is not None:
            pane["range"] = {"from": str(int(window.start.timestamp() * 1000)),
                             "to": str(int(window.end.timestamp() * 1000))}
        panes = quote(json.dumps({"a": pane}, separators=(",", ":")), safe="")
        return f"{self.grafana_url.rstrip('/')}/explore?schemaVersion=1&orgId=1&panes={panes}"
