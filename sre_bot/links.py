"""Links to where evidence came from: Grafana Explore for PromQL/LogQL (when GRAFANA_URL is set)."""

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
