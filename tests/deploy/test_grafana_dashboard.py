"""The Grafana dashboard is well-formed: its structure, a datasource and a query on every panel, and PromQL that
Prometheus's own parser accepts."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.realprom import require_binaries

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "sre-bot-dashboard.json"
DS_REF = {"type": "prometheus", "uid": "${datasource}"}
# What Grafana substitutes before a query reaches Prometheus, for the parse check.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__range": "6h", "$__interval": "1m", "$job": "sre-bot",
                     "$instance": ".*"}


def load() -> dict:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def queries(doc: dict) -> list[tuple[str, str]]:
    return [(f"{p['title']} ({t['refId']})", t["expr"]) for p in doc["panels"] for t in p.get("targets", [])]


def test_dashboard_structure() -> None:
    """Modern schema, a unique uid and title, a `datasource` variable of type prometheus, unique panel ids, and
    panels laid out on the 24-column grid without overlapping."""
    doc = load()
    assert doc["schemaVersion"] >= 38
    assert doc["uid"] == "sre-bot" and doc["title"]
    variables = {v["name"]: v for v in doc["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert {"job", "instance"} <= set(variables)
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for p in doc["panels"]:
        g = p["gridPos"]
        assert g["x"] >= 0 and g["w"] > 0 and g["x"] + g["w"] <= 24, p["title"]
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not mine & cells, f"{p['title']} overlaps another panel"
        cells |= mine


def test_every_panel_has_a_datasource_and_a_query() -> None:
    """Every panel but the row headers reads the `datasource` variable and has at least one PromQL query, each
    target with its own refId and the same datasource."""
    doc = load()
    panels = [p for p in doc["panels"] if p["type"] != "row"]
    assert len(panels) >= 15
    for p in panels:
        assert p["datasource"] == DS_REF, p["title"]
        assert p["targets"], p["title"]
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs)), p["title"]
        for t in p["targets"]:
            assert t["datasource"] == DS_REF, p["title"]
            assert t["expr"].strip(), p["title"]
            assert 'job="$job"' in t["expr"], f"{p['title']}: every query selects the chosen job"
        assert p["description"], p["title"]
    rows = [p for p in doc["panels"] if p["type"] == "row"]
    assert all(not p.get("targets") for p in rows)


def test_dashboard_covers_the_bots_subjects() -> None:
    """There are panels on answers and their latency, backends, the LLM, actions and refusals, and alerts received."""
    text = " ".join(e for _, e in queries(load()))
    for metric in ("sre_bot_requests_total", "sre_bot_request_duration_seconds_bucket",
                   "sre_bot_backend_request_duration_seconds_count", "sre_bot_backend_errors_total",
                   "sre_bot_backend_request_duration_seconds_bucket", "sre_bot_llm_tokens_total",
                   "sre_bot_llm_answers_total", "sre_bot_llm_grounding_removals_total", "sre_bot_actions_total",
                   "sre_bot_action_refusals_total", 'surface="alertmanager"'):
        assert metric in text, metric


@pytest.mark.prometheus
def test_every_query_parses_in_promtool(tmp_path: Path) -> None:
    """Each query, with Grafana's variables filled in, is valid PromQL to `promtool check rules` (as a recording
    rule each)."""
    _, tool = require_binaries()
    rules = []
    for i, (_, expr) in enumerate(queries(load())):
        for var, value in sorted(GRAFANA_VARIABLES.items(), key=lambda kv: -len(kv[0])):
            expr = expr.replace(var, value)
        assert "$" not in expr, expr
        rules.append({"record": f"dashboard:query_{i}", "expr": expr})
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}), encoding="utf-8")
    done = subprocess.run([tool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
