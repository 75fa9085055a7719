"""The OpenMetrics export: valid for promtool, and consistent with the sandbox's own signal values."""

from __future__ import annotations

import math
import os
import re
import shutil
import statistics
import subprocess
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from sre_bot.sandbox import Scenario, World, sandbox_config, to_openmetrics
from sre_bot.sandbox.openmetrics import BUCKETS, fit_lognormal
from tests.sandbox._support import ANCHOR, NOW

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+) (\S+)$')
MIN = 60.0


@pytest.fixture(scope="module")
def export(scenario: Scenario) -> str:
    return to_openmetrics(scenario, start=NOW - timedelta(hours=1), end=NOW, step=timedelta(seconds=15))


def _series(text: str) -> dict[tuple[str, str], list[tuple[float, float]]]:
    out: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for line in text.splitlines():
        if not line.startswith("#"):
            m = _SAMPLE.match(line)
            assert m, line
            out[(m.group(1), m.group(2) or "")].append((float(m.group(4)), float(m.group(3))))
    return out


def _rate(points: list[tuple[float, float]], t: float, window: float = 300.0) -> float:
    inside = [(ts, v) for ts, v in points if t - window <= ts <= t]
    return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])


def _histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """Prometheus's linear interpolation inside the bucket holding rank q * total."""
    buckets = sorted(buckets)
    rank, prev_le, prev_c = q * buckets[-1][1], 0.0, 0.0
    for le, c in buckets:
        if c >= rank:
            return prev_le if math.isinf(le) else prev_le + (le - prev_le) * (rank - prev_c) / (c - prev_c)
        prev_le, prev_c = le, c
    return prev_le


def test_export_is_well_formed(export: str) -> None:
    """Each family is typed once, counters end in _total and never decrease, timestamps increase, text ends # EOF."""
    assert export.endswith("# EOF\n")
    types = re.findall(r"^# TYPE (\S+) (\S+)$", export, flags=re.M)
    assert len(types) == len({name for name, _ in types}) == 6
    assert ("http_requests", "counter") in types and ("http_request_duration_seconds", "histogram") in types
    cumulative = {f + "_total" for f, kind in types if kind == "counter"}
    cumulative |= {f + suffix for f, kind in types if kind == "histogram" for suffix in ("_bucket", "_count", "_sum")}
    series = _series(export)
    for (name, labels), points in series.items():
        times = [t for t, _ in points]
        assert times == sorted(set(times)), name
        if name in cumulative:
            assert all(b[1] >= a[1] for a, b in zip(points, points[1:], strict=False)), (name, labels)
    assert {n for n, _ in series} - cumulative == {"container_memory_working_set_bytes", "pg_stat_activity_count", "up"}
    assert len(series[("http_requests_total", '{code="500",namespace="shop",service="checkout"}')]) == 241


def test_counters_and_histograms_match_the_signals(export: str, world: World) -> None:
    """rate() of the counters and histogram_quantile of the buckets give the sandbox's values."""
    series = _series(export)
    ok = series[("http_requests_total", '{code="200",namespace="shop",service="payments-api"}')]
    err = series[("http_requests_total", '{code="500",namespace="shop",service="payments-api"}')]
    for t in (ANCHOR - 40 * MIN, ANCHOR):  # before the incident, and on its plateau
        avg = statistics.mean(world.value("payments-api", "request_rate", t - k * 15) for k in range(20))
        total = _rate(ok, t) + _rate(err, t)
        assert total == pytest.approx(avg, rel=0.03)
        ratio = statistics.mean(world.value("payments-api", "error_ratio", t - k * 15) for k in range(20))
        assert _rate(err, t) / total == pytest.approx(ratio, rel=0.2)
        buckets = []
        for le in [*BUCKETS, math.inf]:
            key = f'le="{"+Inf" if math.isinf(le) else format(le, "g")}"'
            labels = next(lab for (n, lab) in series if n.endswith("_bucket") and key in lab and "payments-api" in lab)
            buckets.append((le, _rate(series[("http_request_duration_seconds_bucket", labels)], t)))
        for q, sig in ((0.95, "latency_p95"), (0.99, "latency_p99")):
            want = statistics.mean(world.value("payments-api", sig, t - k * 15) for k in range(20))
            assert _histogram_quantile(q, buckets) == pytest.approx(want, rel=0.2), (q, t)


def test_fit_lognormal_recovers_the_percentiles() -> None:
    """The fitted log-normal has the asked p95 and p99."""
    mu, sigma = fit_lognormal(0.2, 0.5)
    assert math.exp(mu + 1.6448536 * sigma) == pytest.approx(0.2)
    assert math.exp(mu + 2.3263479 * sigma) == pytest.approx(0.5)


@pytest.mark.prometheus
def test_promtool_accepts_the_export(export: str, tmp_path: Path) -> None:
    """`promtool tsdb create-blocks-from openmetrics` builds blocks from the export."""
    promtool = shutil.which("promtool")
    if not promtool:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("promtool is not installed (apt-get install -y prometheus); CI is set")
        pytest.skip("promtool is not installed (apt-get install -y prometheus)")
    (tmp_path / "history.om").write_text(export)
    done = subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", str(tmp_path / "history.om"),
                           str(tmp_path / "data")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert list((tmp_path / "data").iterdir())


_TOLERANCE = {"request_rate": 0.1, "error_ratio": 0.25, "latency_p95": 0.3, "latency_p99": 0.3, "cpu": 0.1,
              "memory": 0.02, "db_connections": 0.05}


@pytest.mark.prometheus
def test_real_prometheus_answers_the_bots_queries_like_the_sandbox(scenario: Scenario, real_prometheus) -> None:
    """Backfilled into a real Prometheus, the export answers the bot's signal queries as the sandbox does."""
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0) - timedelta(minutes=1)
    url = real_prometheus(to_openmetrics(scenario, start=now - timedelta(minutes=90), end=now))
    world, config, end = World(scenario, now), sandbox_config(scenario), now.timestamp()
    checked = 0
    for svc in config.services:
        for rs in config.signal_queries(svc):
            if not world.has(svc.name, rs.name):
                continue
            resp = httpx.get(f"{url}/api/v1/query_range", params={
                "query": rs.query, "start": end - 75 * MIN, "end": end, "step": 60}, timeout=10)
            (series,) = resp.json()["data"]["result"]
            got = {float(t): float(v) for t, v in series["values"]}
            for lo, hi in ((-70, -30), (-15, 0)):  # steady before the incident, and its plateau
                ts = [t for t in got if end + lo * MIN <= t <= end + hi * MIN]
                real = statistics.mean(got[t] for t in ts)
                ours = statistics.mean(world.value(svc.name, rs.name, t) for t in ts)
                assert real == pytest.approx(ours, rel=_TOLERANCE[rs.name]), (svc.name, rs.name, lo)
            checked += 1
    assert checked == 33
