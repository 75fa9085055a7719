"""PagerDutyBackend and OpsgenieBackend against contract-checked test servers on real TCP: what goes on the wire,
and the 202 / 4xx / 429 / 5xx behaviour each API documents (retry with backoff on 429, 5xx and network errors only)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timezone

import httpx
import jsonschema
import pytest

from sre_bot.backends._retry import RetryPolicy
from sre_bot.backends.opsgenie import AlertBody, OpsgenieBackend
from sre_bot.backends.pagerduty import PagerDutyBackend, TriggerEvent
from sre_bot.errors import BackendError, BackendTimeout, BackendUnavailable, QueryRejected, Unauthorized
from sre_bot.metrics import Metrics
from tests.fakes import free_port
from tests.fakes.paging import (
    FakeOpsgenie,
    FakePagerDuty,
    _spec,
    opsgenie_contract_problems,
    pagerduty_contract_problems,
)

KEY = "0123456789abcdef0123456789abcdef"
OG_KEY = "eb243592-faa2-4ba2-a551-1afdf565c889"
FAST = RetryPolicy(attempts=4, base_s=0.01, cap_s=0.05, total_s=10)
T = datetime(2026, 11, 21, 14, 0, 5, 123000, tzinfo=timezone.utc)


@pytest.fixture
def pd() -> Iterator[FakePagerDuty]:
    with FakePagerDuty({"payments": KEY}) as server:
        yield server


@pytest.fixture
def og() -> Iterator[FakeOpsgenie]:
    with FakeOpsgenie({"payments": OG_KEY}) as server:
        yield server


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as c:
        yield c


def _event(**kw: object) -> TriggerEvent:
    base: dict = dict(dedup_key="sre-bot/inc-1", summary="checkout: incident #1 CRITICAL", source="checkout",
                      severity="critical", timestamp=T, component="checkout", group="payments", class_="bad_deploy",
                      custom_details={"hypotheses": ["checkout: bad deploy (62% calibrated)"]},
                      links=[{"href": "https://slack.com/archives/C1/p1700000000000100", "text": "thread"}],
                      client_url="https://slack.com/archives/C1/p1700000000000100")
    return TriggerEvent(**{**base, **kw})


def test_the_contract_check_accepts_the_specs_own_example_and_catches_mistakes() -> None:
    """The checker passes the spec's example event and flags a missing routing key, a bad severity, an unknown
    field and an acknowledge without dedup_key."""
    example = _spec()["paths"]["/enqueue"]["post"]["requestBody"]["content"]["application/json"]["examples"]
    assert pagerduty_contract_problems(example["event"]["value"]) == []
    bad = {"event_action": "trigger", "payload": {"summary": "x", "source": "y", "severity": "fatal"}, "extra": 1}
    problems = " ".join(pagerduty_contract_problems(bad))
    assert "routing_key" in problems and "fatal" in problems and "extra" in problems
    assert pagerduty_contract_problems({"routing_key": KEY, "event_action": "resolve"}) == [
        "dedup_key is required unless the event is a trigger"]
    assert opsgenie_contract_problems("POST", "/v2/alerts", {}, {}, {"message": "x" * 131})


async def test_trigger_acknowledge_resolve_on_the_wire(pd: FakePagerDuty, client: httpx.AsyncClient) -> None:
    """Each event is POSTed to /v2/enqueue exactly as the spec describes it; 202 keeps PagerDuty's dedup_key and
    the receiver follows the page from triggered to acknowledged to resolved."""
    backend = PagerDutyBackend(client, pd.url, retry=FAST)
    res = await backend.trigger(KEY, _event())
    assert (res.status, res.message, res.dedup_key) == ("success", "Event processed", "sre-bot/inc-1")
    [page] = pd.receiver.pages
    assert page.status == "triggered" and page.team == "payments"
    assert (await backend.acknowledge(KEY, "sre-bot/inc-1")).status == "success"
    assert page.status == "acknowledged"
    await backend.resolve(KEY, "sre-bot/inc-1")
    assert page.status == "resolved"
    assert pd.violations == [] and len(pd.bodies) == 3
    trigger = pd.bodies[0]
    assert trigger["routing_key"] == KEY and trigger["event_action"] == "trigger"
    assert trigger["payload"] == {"summary": "checkout: incident #1 CRITICAL", "source": "checkout",
                                  "severity": "critical", "timestamp": "2026-11-21T14:00:05.123+00:00",
                                  "component": "checkout", "group": "payments", "class": "bad_deploy",
                                  "custom_details": {"hypotheses": ["checkout: bad deploy (62% calibrated)"]}}
    assert trigger["client"] == "sre-bot" and trigger["links"][0]["href"].startswith("https://slack.com/")
    assert pd.bodies[1] == {"routing_key": KEY, "event_action": "acknowledge", "dedup_key": "sre-bot/inc-1"}
    # the 202 answer has the spec's Success shape
    success = _spec()["components"]["responses"]["Success"]["content"]["application/json"]["schema"]
    jsonschema.validate(res.as_dict() | {"dedup_key": res.dedup_key}, success)


async def test_a_long_summary_is_cut_to_1024(pd: FakePagerDuty, client: httpx.AsyncClient) -> None:
    """A summary past 1,024 characters is cut before it is sent, so what was previewed is what arrives."""
    await PagerDutyBackend(client, pd.url, retry=FAST).trigger(KEY, _event(summary="x" * 5000))
    assert len(pd.bodies[0]["payload"]["summary"]) == 1024 and pd.violations == []


async def test_429_then_202_is_one_page(pd: FakePagerDuty, client: httpx.AsyncClient) -> None:
    """A throttled trigger is sent again after a backoff and lands once."""
    pd.respond(429, times=2)
    res = await PagerDutyBackend(client, pd.url, retry=FAST).trigger(KEY, _event())
    assert res.status == "success" and len(pd.bodies) == 3 and len(pd.receiver.pages) == 1


async def test_400_is_not_retried_and_shows_pagerdutys_words(pd: FakePagerDuty, client: httpx.AsyncClient) -> None:
    """A 400 is raised at once (one request) with PagerDuty's own `errors`, and never the routing key."""
    metrics = Metrics()
    wrong = "f" * 32
    with pytest.raises(QueryRejected) as e:
        await PagerDutyBackend(client, pd.url, retry=FAST, metrics=metrics).trigger(wrong, _event())
    assert len(pd.bodies) == 1 and "Invalid routing key" in str(e.value) and wrong not in str(e.value)
    assert e.value.status == 400
    pd.respond(400, {"status": "invalid event", "message": "Event object is invalid",
                     "errors": [f"routing key {KEY} rejected"]})
    with pytest.raises(QueryRejected) as e2:
        await PagerDutyBackend(client, pd.url, retry=FAST).trigger(KEY, _event())
    assert KEY not in str(e2.value) and "<routing key> rejected" in str(e2.value)
    assert metrics.backend_errors.labels("pagerduty", "rejected")._value.get() == 1


async def test_5xx_every_time_is_an_error_after_a_few_tries(pd: FakePagerDuty, client: httpx.AsyncClient) -> None:
    """A PagerDuty answering 503 on every try is BackendUnavailable after `attempts` sends, saying so."""
    pd.respond(503, times=10)
    with pytest.raises(BackendUnavailable) as e:
        await PagerDutyBackend(client, pd.url, retry=FAST).trigger(KEY, _event())
    assert len(pd.bodies) == 4 and "503" in str(e.value) and "after 4 tries" in str(e.value)
    assert pd.receiver.pages == []


async def test_retry_after_is_honoured_up_to_the_cap(pd: FakePagerDuty, client: httpx.AsyncClient) -> None:
    """A Retry-After is waited for (capped), and the whole call stays within the policy's total time."""
    pd.respond(429, headers={"Retry-After": "30"})
    start = time.monotonic()
    await PagerDutyBackend(client, pd.url, retry=RetryPolicy(base_s=0.01, cap_s=0.2, total_s=5)).trigger(KEY,
                                                                                                         _event())
    assert 0.2 <= time.monotonic() - start < 3
    pd.respond(503, times=10)
    start = time.monotonic()
    with pytest.raises(BackendUnavailable):
        await PagerDutyBackend(client, pd.url, retry=RetryPolicy(attempts=10, base_s=0.3, cap_s=0.3,
                                                                 total_s=0.5)).trigger(KEY, _event())
    assert time.monotonic() - start < 1.5  # no wait starts that would end past the total


async def test_other_statuses_are_errors_not_retried(pd: FakePagerDuty, client: httpx.AsyncClient) -> None:
    """403 and a redirect are errors at once (the spec lists no retry for them)."""
    pd.respond(403, {"status": "forbidden", "message": "Forbidden"})
    with pytest.raises(Unauthorized):
        await PagerDutyBackend(client, pd.url, retry=FAST).trigger(KEY, _event())
    pd.respond(302, {"status": "moved", "message": "moved"}, headers={"Location": "https://login.example.com/"})
    with pytest.raises(BackendError) as e:
        await PagerDutyBackend(client, pd.url, retry=FAST).trigger(KEY, _event())
    assert "302" in str(e.value) and len(pd.bodies) == 2


async def test_unreachable_is_retried_then_unavailable(client: httpx.AsyncClient) -> None:
    """Connection refused on every try: BackendUnavailable naming PagerDuty, after the tries."""
    with pytest.raises(BackendUnavailable) as e:
        await PagerDutyBackend(client, f"http://127.0.0.1:{free_port()}", retry=FAST).trigger(KEY, _event())
    assert "PagerDuty" in str(e.value) and "connection refused" in str(e.value) and "after 4 tries" in str(e.value)


async def test_a_silent_server_times_out(pd: FakePagerDuty) -> None:
    """A trigger the server never answers ends within the policy's total time as BackendTimeout."""
    import socket
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    try:
        async with httpx.AsyncClient(timeout=0.3) as slow:
            with pytest.raises(BackendTimeout):
                await PagerDutyBackend(slow, f"http://127.0.0.1:{sock.getsockname()[1]}",
                                       retry=RetryPolicy(attempts=2, base_s=0.01, total_s=2)).trigger(KEY, _event())
    finally:
        sock.close()


async def test_opsgenie_create_acknowledge_close(og: FakeOpsgenie, client: httpx.AsyncClient) -> None:
    """Create, acknowledge and close by alias as the Alert API describes them, with `GenieKey` auth; 202 answers
    keep Opsgenie's requestId, and the receiver follows the alert."""
    backend = OpsgenieBackend(client, og.url, retry=FAST)
    body = AlertBody(alias="sre-bot/inc-1", message="checkout: #1 " + "x" * 200, description="long " * 5000,
                     priority="P1", tags=["sre-bot", "team:payments"] + [f"t{i}" for i in range(30)],
                     details={"hypothesis_1": "checkout: bad deploy (62% calibrated)"}, entity="checkout")
    res = await backend.create(OG_KEY, body)
    assert res.status == "Request will be processed" and res.dedup_key == "sre-bot/inc-1" and res.request_id
    await backend.acknowledge(OG_KEY, "sre-bot/inc-1")
    [alert] = og.receiver.alerts
    assert alert.acknowledged and alert.status == "open" and alert.priority == "P1"
    await backend.close(OG_KEY, "sre-bot/inc-1")
    assert alert.status == "closed"
    assert og.violations == []
    sent = og.bodies[0]
    assert len(sent["message"]) == 130 and len(sent["description"]) == 15000 and len(sent["tags"]) == 20
    acks = [r for r in og.requests if r.path.endswith("/acknowledge")]
    assert acks[0].param("identifierType") == "alias" and acks[0].header("Authorization") == f"GenieKey {OG_KEY}"
    assert acks[0].raw_path == "/v2/alerts/sre-bot%2Finc-1/acknowledge"


async def test_opsgenie_errors(og: FakeOpsgenie, client: httpx.AsyncClient) -> None:
    """401 and 422 are raised at once with Opsgenie's words (never the key); 429 then 202 is one alert; 500 on every
    try is BackendUnavailable after the tries."""
    backend = OpsgenieBackend(client, og.url, retry=FAST)
    with pytest.raises(Unauthorized) as e:
        await backend.create("wrong-key", AlertBody(alias="a", message="m"))
    assert "Could not authenticate" in str(e.value) and "wrong-key" not in str(e.value) and len(og.bodies) == 1
    with pytest.raises(QueryRejected) as e2:
        await backend.create(OG_KEY, {"alias": "a", "message": "m", "priority": "P9"})
    assert "priority: should be one of [ P1, P2, P3, P4, P5 ]" in str(e2.value) and len(og.bodies) == 2
    og.respond(429)
    await backend.create(OG_KEY, AlertBody(alias="a", message="m"))
    assert len(og.receiver.alerts) == 1 and len(og.bodies) == 4
    og.respond(500, times=10)
    with pytest.raises(BackendUnavailable):
        await backend.close(OG_KEY, "a")
    assert len(og.bodies) == 8 and og.receiver.alerts[0].status == "open"


def test_error_bodies_match_the_specs_error_schema() -> None:
    """The receiver's 400 answers have the shape of the spec's Error response."""
    from sre_bot.sandbox.pagerduty_api import PagerDutyReceiver
    error = _spec()["components"]["responses"]["Error"]["content"]["application/json"]["schema"]
    receiver = PagerDutyReceiver({"t": KEY})
    for raw in (b"not json", b"{}", json.dumps({"routing_key": "short", "event_action": "trigger"}).encode(),
                json.dumps({"routing_key": KEY, "event_action": "trigger", "payload": {}}).encode(),
                json.dumps({"routing_key": KEY, "event_action": "resolve"}).encode()):
        status, body = receiver.handle(raw)
        assert status == 400
        jsonschema.validate(body, error)
    assert receiver.pages == []


async def test_repeats_with_one_dedup_key_update_one_page(pd: FakePagerDuty, client: httpx.AsyncClient) -> None:
    """Two triggers with the same dedup key (two people asking, or a retry after a timeout) are one page; after a
    resolve, a new trigger opens a new one."""
    backend = PagerDutyBackend(client, pd.url, retry=FAST)
    await backend.trigger(KEY, _event())
    await backend.trigger(KEY, _event(summary="checkout: still failing"))
    [page] = pd.receiver.pages
    assert len(page.events) == 2 and page.summary == "checkout: still failing"
    await backend.resolve(KEY, "sre-bot/inc-1")
    await backend.trigger(KEY, _event())
    assert [p.status for p in pd.receiver.pages] == ["resolved", "triggered"] and pd.violations == []
