"""Every metric the alert rules and the Grafana dashboard read is one the bot really serves on /metrics."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
import yaml

from sre_bot.metrics import Metrics
from tests.deploy.promql import SCRAPE_SERIES, TARGET_LABELS, label_names, metric_names
from tests.fakes.slack_api import FakeSlack
from tests.harness import running_bot

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "sre-bot-rules.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "sre-bot-dashboard.json"
_SUFFIXES = {"counter": ("", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created"),
             "gauge": ("",), "summary": ("", "_count", "_sum", "_created")}


def rule_exprs() -> list[tuple[str, str]]:
    doc = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [(r.get("alert") or r["record"], r["expr"]) for g in doc["groups"] for r in g["rules"]]


def dashboard_exprs() -> list[tuple[str, str]]:
    doc = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    found = [(p["title"], t["expr"]) for p in doc["panels"] for t in p.get("targets", [])]
    for v in doc["templating"]["list"]:
        if v["type"] == "query":
            q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            found.append((f"variable {v['name']}", q))
    return found


def served_names(exposition: str) -> set[str]:
    """Sample names a scrape of this exposition can hold, from its `# TYPE` lines (a labelled metric that has not
    been used yet has no sample lines, but has its TYPE line from the start)."""
    names = set()
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", exposition, re.M):
        names.update(name + s for s in _SUFFIXES.get(kind, ("",)))
    return names


@pytest.fixture
async def scraped(fake_slack: FakeSlack) -> str:
    """The body of GET /metrics from the real bot (real web app, real TCP)."""
    async with running_bot(fake_slack, incidents=False) as bot:
        resp = await bot.http.get("/metrics")
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/plain")
        return resp.text


def test_extractor_finds_names_and_skips_functions_labels_and_numbers() -> None:
    """The PromQL name extractor keeps metric names and drops functions, label names, keywords and numbers."""
    assert metric_names('sum by (job, le) (rate(a_total{job="x", kind=~"b|c"}[5m])) / on (job) group_left '
                        'sum(rate(b_count[$__rate_interval] offset 1h)) > 2e6 and bool up') == {"a_total", "b_count",
                                                                                               "up"}
    assert metric_names('histogram_quantile(0.9, sum by (le) (rate(x_bucket{a="{b}"}[10m])))') == {"x_bucket"}
    assert metric_names('absent(up{job="sre-bot"})') == {"up"}
    assert metric_names('label_values(up{job="$job"}, instance)') == {"up"}
    assert metric_names("sum(rate(c_total[1m])) * 60") == {"c_total"}


def test_label_extractor_finds_matchers_and_groupings() -> None:
    """The label extractor reads matcher names and grouping lists, not label values or metric names."""
    assert label_names('sum by (job, le) (rate(a_total{kind=~"b|c", outcome!="x{y}"}[5m])) / on (job) b') == {
        "job", "le", "kind", "outcome"}
    assert label_names('label_values(up{job="$job"}, instance)') == {"job"}


def bot_labels() -> dict[str, set[str]]:
    """Label names of each sample name the bot's registry serves. prometheus_client lists a labelled metric's
    label names only once it has a child, so each family gets one child here (placeholder values)."""
    m = Metrics()
    families = [getattr(m, f.name) for f in dataclasses.fields(m) if f.name != "registry"]  # every family it has
    for family in families:
        child = family.labels(*["x"] * len(family._labelnames))  # private, but there is no public accessor
        (child.observe if hasattr(child, "observe") else child.inc)(1)
    labels: dict[str, set[str]] = {}
    for family in m.registry.collect():
        for sample in family.samples:
            labels.setdefault(sample.name, set()).update(sample.labels)
    return labels


def test_the_bot_serves_its_documented_metrics(scraped: str) -> None:
    """The scrape lists the metric families of sre_bot/metrics.py (a sanity check of what the next tests use)."""
    names = served_names(scraped)
    assert "sre_bot_requests_total" in names
    assert "sre_bot_backend_request_duration_seconds_bucket" in names


@pytest.mark.parametrize("source", ["rules", "dashboard"])
def test_every_metric_referenced_is_served(scraped: str, source: str) -> None:
    """Every metric name in the alert rules / the dashboard's queries is served by the bot (or is `up`)."""
    served = served_names(scraped) | SCRAPE_SERIES
    exprs = rule_exprs() if source == "rules" else dashboard_exprs()
    assert exprs
    unknown = {}
    for where, expr in exprs:
        names = metric_names(expr)
        assert names, f"{where}: no metric name found in {expr!r}"
        if names - served:
            unknown[where] = sorted(names - served)
    assert not unknown, f"metrics the bot does not serve: {unknown}"


@pytest.mark.parametrize("source", ["rules", "dashboard"])
def test_every_label_referenced_exists_on_its_metrics(source: str) -> None:
    """Every label an expression matches on or groups by is a label of one of its metrics (or `job`/`instance`,
    which the scrape adds), so a misspelt label cannot silently select nothing."""
    labels = bot_labels()
    assert set(labels) >= {"sre_bot_requests_total", "sre_bot_request_duration_seconds_bucket"}
    exprs = rule_exprs() if source == "rules" else dashboard_exprs()
    wrong = {}
    for where, expr in exprs:
        known = set(TARGET_LABELS)
        for name in metric_names(expr):
            known |= labels.get(name, set())
        if label_names(expr) - known:
            wrong[where] = sorted(label_names(expr) - known)
    assert not wrong, f"labels the metrics do not have: {wrong}"
