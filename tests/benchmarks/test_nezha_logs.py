"""The Nezha log server: the day's CSV rows served over real HTTP in Loki's wire format, read by LokiBackend."""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest

from benchmarks._nezha_logs import load_logs, serve_logs
from sre_bot.backends.loki import LokiBackend
from sre_bot.models import TimeRange

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "loki"
T0 = 1674981742_000_000_000  # 2023-01-29 08:42:22 UTC
POD = "ts-food-service-f5756978c-k8vqf"


def _row(ts: int, pod: str, line: str, container: str = "server") -> list[str]:
    log = json.dumps({"log": line + "\n", "stream": "stdout", "time": "x"})
    return ["2023-01-29T08:42:22Z", str(ts), "33.33.33.116", pod, container, "t", "s", log]


@pytest.fixture
def day(tmp_path: Path) -> Iterator[Path]:
    """A tiny day folder: two overlapping minute files (one row repeated), a normal minute, one garbled row."""
    rows = {
        "log/08_43_log.csv.gz": [_row(T0, POD, "16:42:22 INFO food ok"), _row(T0 + 10**9, POD, "16:42:23 ERROR food failed")],
        "log/08_44_log.csv.gz": [_row(T0 + 10**9, POD, "16:42:23 ERROR food failed"),
                                 _row(T0 + 2 * 10**9, "ts-security-service-7c6d9f8b7-abcde", "sec ok", "ts-security-service")],
        "normal/08_50_log.csv.gz": [_row(T0 + 60 * 10**9, POD, "16:43:22 INFO food ok")],
    }
    for name, body in rows.items():
        path = tmp_path / "d" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(path, "wt", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["Timestamp", "TimeUnixNano", "Node", "PodName", "Container", "TraceID", "SpanID", "Log"])
            w.writerows(body)
    yield tmp_path


def test_rows_become_labelled_sorted_streams(day: Path) -> None:
    """The runtime JSON is stripped to its `log` text, repeats are kept once, app is the pod without its hashes."""
    logs = load_logs(day, "d")
    assert (logs.rows, logs.duplicates, logs.lines) == (5, 1, 4)
    food = next(s for s in logs.streams if s.labels["app"] == "ts-food-service")
    assert food.labels == {"namespace": "trainticket", "app": "ts-food-service", "pod": POD, "container": "server"}
    assert food.lines == ["16:42:22 INFO food ok", "16:42:23 ERROR food failed", "16:43:22 INFO food ok"]
    assert food.ts == sorted(food.ts)


async def test_served_in_loki_wire_format(day: Path) -> None:
    """query_range (limit, direction, start/end, filters, regex selector), a metric query and label values."""
    window = TimeRange(start=datetime.fromtimestamp(T0 / 1e9, timezone.utc),
                       end=datetime.fromtimestamp((T0 + 61 * 10**9) / 1e9, timezone.utc))
    with serve_logs(day, "d") as url:
        async with httpx.AsyncClient(timeout=10) as client:
            loki = LokiBackend(client, url)
            res = await loki.query_range('{namespace="trainticket", app=~"ts-food-service|ts-security-service"}',
                                         window, limit=2, direction="forward")
            assert [ln.line for ln in res.lines] == ["16:42:22 INFO food ok", "16:42:23 ERROR food failed"]
            assert res.limit_hit and res.lines[0].ts_ns == T0
            newest = await loki.query_range('{app="ts-food-service"} |~ "(?i)error"', window)
            assert [ln.line for ln in newest.lines] == ["16:42:23 ERROR food failed"] and not newest.limit_hit
            ending = TimeRange(start=window.start, end=datetime.fromtimestamp((T0 + 60 * 10**9) / 1e9, timezone.utc))
            assert len((await loki.query_range('{app="ts-food-service"}', ending)).lines) == 2  # end is exclusive
            series = await loki.query_range_matrix('sum by (app) (count_over_time({namespace="trainticket"} [60s]))',
                                                   window, 60)
            assert {s.labels["app"]: sum(p.v for p in s.points) for s in series} == {
                "ts-food-service": 3, "ts-security-service": 1}
            assert await loki.label_values("app") == ["ts-food-service", "ts-security-service"]
            assert "container" in await loki.labels()
            body = httpx.get(f"{url}/loki/api/v1/query_range", params={"query": '{app="ts-food-service"}',
                                                                       "start": str(T0), "end": str(T0 + 10**11)}).json()
            assert (await client.get(f"{url}/ready")).status_code == 200
            bad = await client.get(f"{url}/loki/api/v1/query_range", params={"query": '{app="x"} | json'})
            assert bad.status_code == 400 and "parse error" in bad.text
    sample = json.loads((FIXTURES / "query_range_streams.json").read_text())
    assert set(body["data"]) == set(sample["data"]) and set(body["data"]["stats"]) == set(sample["data"]["stats"])
    assert set(body["data"]["result"][0]) == set(sample["data"]["result"][0])


def test_real_day_when_present() -> None:
    """The real 2023-01-29 logs load (every TrainTicket service a stream), when ../shared has them."""
    root = Path(__file__).resolve().parents[2].parent / "shared" / "benchmarks" / "nezha"
    if not (root / "2023-01-29" / "log").is_dir():
        pytest.skip("Nezha logs not present")
    logs = load_logs(root, "2023-01-29")
    assert len(logs.services()) >= 25 and logs.duplicates > 0
    assert not any(ln.endswith("\n") or ln.startswith('{"log"') for s in logs.streams for ln in s.lines[:50])
