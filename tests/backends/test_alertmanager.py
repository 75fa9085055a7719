"""AlertmanagerBackend: filters and silences on the wire, captured v2 samples parsed, and the real Alertmanager."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest

from sre_bot.backends.alertmanager import AlertmanagerBackend
from sre_bot.errors import BackendError, BackendTimeout, BackendUnavailable, NotFound, QueryRejected
from sre_bot.metrics import Metrics
from tests.fakes import free_port
from tests.real_alertmanager import alertmanager

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
    with alertmanager(tmp_path_factory.mktemp("alertmanager")) as url:
        yield url


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


# -- silences -------------------------------------------------------------------------------------------------------

T = datetime(2026, 11, 21, 14, 35, 0, 250000, tzinfo=timezone.utc)


async def test_create_silence_on_the_wire() -> None:
    """create_silence POSTs a postableSilence of exact matchers with RFC 3339 UTC times and returns silenceID."""
    seen: list[httpx.Request] = []
    async with _serving({"silenceID": "7c9d2f1e-0000-4000-a000-000000000001"}, seen) as client:
        sid = await AlertmanagerBackend(client, "http://am:9093").create_silence(
            {"service": WEIRD, "alertname": "HighErrorRate"}, starts_at=T,
            ends_at=T.astimezone(timezone(timedelta(hours=2))) + timedelta(hours=1),
            created_by="sre-bot (approved by dana)", comment="rollback in progress")
    assert sid == "7c9d2f1e-0000-4000-a000-000000000001"
    [req] = seen
    assert (req.method, req.url.path, req.headers["content-type"]) == ("POST", "/api/v2/silences", "application/json")
    assert json.loads(req.content) == {
        "matchers": [{"name": "service", "value": WEIRD, "isRegex": False, "isEqual": True},
                     {"name": "alertname", "value": "HighErrorRate", "isRegex": False, "isEqual": True}],
        "startsAt": "2026-11-21T14:35:00.250Z", "endsAt": "2026-11-21T15:35:00.250Z",
        "createdBy": "sre-bot (approved by dana)", "comment": "rollback in progress"}


async def test_create_silence_is_checked_before_sending() -> None:
    """Bad label names, no matchers, an end before the start and naive times are refused without a request."""
    seen: list[httpx.Request] = []
    async with _serving({}, seen) as client:
        am = AlertmanagerBackend(client, "http://am:9093")
        kw = {"starts_at": T, "ends_at": T + timedelta(hours=1), "created_by": "bot", "comment": "c"}
        with pytest.raises(QueryRejected, match="not a valid label name"):
            await am.create_silence({"bad-name": "x"}, **kw)
        with pytest.raises(QueryRejected, match="at least one matcher"):
            await am.create_silence({}, **kw)
        with pytest.raises(QueryRejected, match="would end .* before it starts"):
            await am.create_silence({"a": "b"}, **{**kw, "ends_at": T - timedelta(minutes=1)})
        with pytest.raises(ValueError, match="timezone-aware"):
            await am.create_silence({"a": "b"}, **{**kw, "starts_at": T.replace(tzinfo=None)})
    assert seen == []


@pytest.mark.parametrize("status, body, kind, match", [
    (400, "silence invalid: at least one matcher must not match the empty string", QueryRejected,
     "creating a silence for {a=\"\"}: .*must not match the empty string"),
    (500, "boom", BackendUnavailable, "answered 500 Internal Server Error: boom"),
    (200, {"id": "x"}, BackendError, "unexpected create_silence response: no silenceID"),
])
async def test_create_silence_errors(status: int, body: object, kind: type[BackendError], match: str) -> None:
    """Alertmanager's refusals are quoted, after what was being done; an answer without silenceID is malformed."""
    async with _serving(body, status=status) as client:
        with pytest.raises(kind, match=match):
            await AlertmanagerBackend(client, "http://am:9093").create_silence(
                {"a": ""}, starts_at=T, ends_at=T + timedelta(hours=1), created_by="bot", comment="c")


async def test_silence_unknown_ids_are_not_found() -> None:
    """A 404 on GET, and Alertmanager 0.25's 500 "silence not found" on DELETE, are both NotFound."""
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(404)
        return httpx.Response(500, json="silence not found")

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        am = AlertmanagerBackend(client, "http://am:9093")
        with pytest.raises(NotFound, match="has no silence 'a/b'") as info:
            await am.get_silence("a/b")
        assert info.value.status == 404
        with pytest.raises(NotFound, match="has no silence"):
            await am.expire_silence("00000000-0000-4000-a000-000000000000")


async def test_silence_timeout_and_refused() -> None:
    """A silence POST that times out says it may exist already; nothing listening is BackendUnavailable."""
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    kw = {"starts_at": T, "ends_at": T + timedelta(hours=1), "created_by": "bot", "comment": "c"}
    async with httpx.AsyncClient(transport=httpx.MockTransport(slow), timeout=3) as client:
        with pytest.raises(BackendTimeout, match="within 3s .*it may still have been created"):
            await AlertmanagerBackend(client, "http://am:9093").create_silence({"a": "b"}, **kw)
    async with httpx.AsyncClient(timeout=3) as client:
        with pytest.raises(BackendUnavailable, match="connection refused"):
            await AlertmanagerBackend(client, f"http://127.0.0.1:{free_port()}").expire_silence("x")


async def test_real_alertmanager_silences(real_alertmanager: str) -> None:
    """Against real Alertmanager: a silence is created, silences exactly its alert, reads back, and expires (twice)."""
    now = datetime.now(timezone.utc)
    started = (now - timedelta(minutes=1)).isoformat()
    posted = [{"labels": {"alertname": "DiskFull", "service": svc}, "startsAt": started} for svc in ("billing", "ledger")]
    async with httpx.AsyncClient(timeout=5) as client:
        (await client.post(f"{real_alertmanager}/api/v2/alerts", json=posted)).raise_for_status()
        am = AlertmanagerBackend(client, real_alertmanager)
        sid = await am.create_silence({"alertname": "DiskFull", "service": "billing"}, starts_at=now,
                                      ends_at=now + timedelta(hours=1), created_by="sre-bot", comment="test")
        silence = await am.get_silence(sid)
        assert (silence["id"], silence["status"]["state"], silence["createdBy"]) == (sid, "active", "sre-bot")
        assert {(m["name"], m["value"], m["isRegex"], m["isEqual"]) for m in silence["matchers"]} == {
            ("alertname", "DiskFull", False, True), ("service", "billing", False, True)}
        assert [a.labels["service"] for a in await am.alerts(matchers={"alertname": "DiskFull"})] == ["ledger"]
        [billing] = await am.alerts(matchers={"service": "billing"}, silenced=True)
        assert billing.state == "suppressed"
        await am.expire_silence(sid)
        await am.expire_silence(sid)  # expiring an expired silence succeeds
        assert (await am.get_silence(sid))["status"]["state"] == "expired"
        assert len(await am.alerts(matchers={"alertname": "DiskFull"})) == 2
        with pytest.raises(NotFound):
            await am.expire_silence("00000000-0000-4000-a000-000000000000")
        with pytest.raises(NotFound):
            await am.get_silence("00000000-0000-4000-a000-000000000000")
        with pytest.raises(QueryRejected, match="must be of type uuid"):
            await am.get_silence("not-a-uuid")
        with pytest.raises(QueryRejected, match="must not match the empty string"):
            await am.create_silence({"service": ""}, starts_at=now, ends_at=now + timedelta(hours=1),
                                    created_by="sre-bot", comment="test")
