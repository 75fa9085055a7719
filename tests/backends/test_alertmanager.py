"""AlertmanagerBackend: filters on the wire, parsing captured v2 samples, and the real Alertmanager binary."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest

from sre_bot.backends.alertmanager import AlertmanagerBackend
from sre_bot.errors import QueryRejected
from sre_bot.metrics import Metrics
from tests.fakes import free_port

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "alertmanager"
WEIRD = 'we"ird\\svc'


def _serving(body: object, seen: list[httpx.Request] | None = None, status: int = 200) -> httpx.AsyncClient:
    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return httpx.Response(status, json=body)

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


async def test_captured_alerts_are_parsed() -> None:
    """The captured GET /api/v2/alerts answer parses into Alerts with state, times, labels and links."""
    body = json.loads((FIXTURES / "api_v2_alerts_GET.json").read_text())
    async with _serving(body) as client:
        alerts = await AlertmanagerBackend(client, "http://am:9093").alerts()
    assert len(alerts) == len(body) == 3
    by_fp = {a.fingerprint: a for a in alerts}
    crash = by_fp["2eb2ddd1492c29c3"]
    assert (crash.name, crash.severity, crash.state) == ("KubePodCrashLooping", "warning", "active")
    assert crash.starts_at == datetime(2026, 11, 21, 5, 57, 9, tzinfo=timezone.utc)
    assert crash.ends_at == datetime(2026, 11, 21, 6, 2, 9, 969000, tzinfo=timezone.utc)
    assert crash.annotations["summary"] == "Pod shop/payment-7d9f8b6c5-x2k4q is crash looping"
    assert by_fp["3614f7f0f1d913d7"].generator_url.startswith("http://prometheus.example.local:9090/graph?")


async def test_filters_are_escaped_matchers() -> None:
    """Matchers go out as repeated filter=label="value" with the value escaped; state flags as booleans."""
    seen: list[httpx.Request] = []
    async with _serving([], seen) as client:
        await AlertmanagerBackend(client, "http://am:9093/").alerts(
            matchers={"service": WEIRD, "severity": "critical"}, silenced=True)
    [req] = seen
    assert req.url.path == "/api/v2/alerts"
    assert req.url.params.get_list("filter") == ['service="we\\"ird\\\\svc"', 'severity="critical"']
    assert (req.url.params["active"], req.url.params["silenced"], req.url.params["inhibited"]) == ("true", "true", "false")


async def test_bad_label_name_and_server_message() -> None:
    """An invalid label name is rejected before any request; a 400 quotes Alertmanager's message."""
    seen: list[httpx.Request] = []
    async with _serving("bad matcher format: x", seen, status=400) as client:
        am = AlertmanagerBackend(client, "http://am:9093")
        with pytest.raises(QueryRejected, match="not a valid label name"):
            await am.alerts(matchers={"bad-name": "x"})
        assert seen == []
        with pytest.raises(QueryRejected, match="bad matcher format: x"):
            await am.alerts(matchers={"a": "b"})


async def test_ping_reads_captured_status() -> None:
    """ping returns versionInfo.version from the captured /api/v2/status answer, and is timed."""
    metrics = Metrics()
    body = json.loads((FIXTURES / "api_v2_status_GET.json").read_text())
    async with _serving(body) as client:
        assert await AlertmanagerBackend(client, "http://am:9093", metrics=metrics).ping() == "0.25.0"
    assert metrics.registry.get_sample_value(
        "sre_bot_backend_request_duration_seconds_count", {"backend": "alertmanager", "operation": "ping"}) == 1


def test_alerts_url_carries_the_filter() -> None:
    """alerts_url links to the UI's alert list filtered by the same escaped matchers."""
    am = AlertmanagerBackend(httpx.AsyncClient(), "https://am.example.com/")
    assert am.alerts_url() == "https://am.example.com/#/alerts"
    url = am.alerts_url({"alertname": "HighErrorRate", "service": WEIRD})
    prefix = "https://am.example.com/#/alerts?filter="
    assert url.startswith(prefix) and '"' not in url and " " not in url
    assert unquote(url[len(prefix):]) == '{alertname="HighErrorRate",service="we\\"ird\\\\svc"}'


@pytest.fixture(scope="module")
def real_alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Alertmanager (Debian `prometheus-alertmanager`) on a free loopback port, with no receivers."""
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if not binary:
        msg = "prometheus-alertmanager not installed (apt-get install -y prometheus-alertmanager)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(msg + "; CI is set, so the real-Alertmanager tests must run", pytrace=False)
        pytest.skip(msg)
    tmp = tmp_path_factory.mktemp("alertmanager")
    (tmp / "am.yml").write_text("route:\n  receiver: none\nreceivers:\n  - name: none\n")
    url = f"http://127.0.0.1:{free_port()}"
    with (tmp / "am.log").open("wb") as log:
        proc = subprocess.Popen([binary, f"--config.file={tmp / 'am.yml'}", f"--storage.path={tmp / 'data'}",
                                 f"--web.listen-address={url[7:]}", "--cluster.listen-address=", "--log.level=warn"],
                                stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"alertmanager did not start:\n{(tmp / 'am.log').read_text()}")
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


async def test_real_alertmanager_filters(real_alertmanager: str) -> None:
    """Against real Alertmanager, an escaped matcher selects exactly the alert whose label has `"` and `\\`."""
    now = datetime.now(timezone.utc)
    posted = [{"labels": {"alertname": "HighErrorRate", "service": svc, "severity": "critical"},
               "annotations": {"summary": f"{svc} errors"}, "startsAt": (now - timedelta(minutes=5)).isoformat(),
               "generatorURL": "http://prom/graph?g0.expr=up"} for svc in (WEIRD, 'we"ird', "checkout")]
    async with httpx.AsyncClient(timeout=5) as client:
        (await client.post(f"{real_alertmanager}/api/v2/alerts", json=posted)).raise_for_status()
        am = AlertmanagerBackend(client, real_alertmanager)
        assert (await am.ping()).startswith("0.")
        [alert] = await am.alerts(matchers={"service": WEIRD})
        assert alert.labels["service"] == WEIRD and alert.state in ("active", "unprocessed")
        assert alert.annotations == {"summary": f"{WEIRD} errors"}
        assert {a.labels["service"] for a in await am.alerts(matchers={"alertname": "HighErrorRate"})} == {
            WEIRD, 'we"ird', "checkout"}
        assert await am.alerts(matchers={"service": ".*"}) == []
