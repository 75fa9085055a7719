"""The simulated Alertmanager: alerts shaped like Alertmanager 0.25's, with its filters, and silences."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
import yaml

from sre_bot.backends import AlertmanagerBackend
from sre_bot.errors import NotFound
from sre_bot.sandbox import Sandbox
from tests.backends._shapes import conforms, missing_paths, shape
from tests.sandbox._support import FIXTURES, NOW, fixture


async def _alerts(http: httpx.AsyncClient, sb: Sandbox, *params: tuple[str, str]) -> httpx.Response:
    return await http.get(sb.urls.alertmanager + "/api/v2/alerts", params=list(params))


def _names(body: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return sorted((a["labels"]["alertname"], a["labels"]["service"]) for a in body)


async def test_alerts_have_the_real_structure(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    """Each alert has exactly the fields of Alertmanager's, in its time format, sorted by fingerprint."""
    resp = await _alerts(http, sandbox)
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    real = fixture("alertmanager", "api_v2_alerts_GET.json")
    assert (missing_paths(shape(real), shape(body)), missing_paths(shape(body), shape(real))) == ([], [])
    assert [list(a) for a in body] == [list(real[0])] * len(body)  # the same keys in the same order
    assert [a["fingerprint"] for a in body] == sorted(a["fingerprint"] for a in body)
    checkout = next(a for a in body if a["labels"]["service"] == "checkout")
    assert checkout["startsAt"] == "2026-11-21T14:16:00.000Z" and checkout["updatedAt"] == "2026-11-21T14:35:00.000Z"
    assert checkout["endsAt"] == "2026-11-21T14:39:00.000Z"
    assert checkout["generatorURL"].startswith(sandbox.urls.prometheus + "/graph?g0.expr=sum%28rate%28")
    assert checkout["receivers"] == [{"name": "sre-bot"}]
    assert ("KubePodCrashLooping", "cart") not in _names(body)  # resolved before now


async def test_filter_matchers(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    """`filter` takes equality and regex matchers, quoted or not, all of which must match."""
    body = (await _alerts(http, sandbox, ("filter", 'service="checkout"'))).json()
    assert _names(body) == [("HighErrorRate", "checkout")]
    body = (await _alerts(http, sandbox, ("filter", "alertname=HighErrorRate"),
                          ("filter", 'severity!="critical"'))).json()
    assert _names(body) == [("HighErrorRate", "frontend")]
    body = (await _alerts(http, sandbox, ("filter", 'service=~"payments-.*"'))).json()
    assert _names(body) == [("DBConnectionPoolExhausted", "payments-db"), ("HighLatency", "payments-api"),
                            ("PaymentsErrorBudgetBurn", "payments-api")]


@pytest.mark.parametrize("params, expected", [
    ((), {"DBConnectionPoolExhausted", "HighLatency", "HighErrorRate", "PaymentsErrorBudgetBurn",
          "CatalogCacheHitRateLow"}),
    ((("silenced", "false"),), {"DBConnectionPoolExhausted", "HighLatency", "HighErrorRate",
                                "PaymentsErrorBudgetBurn"}),
    ((("inhibited", "false"), ("silenced", "false")), {"DBConnectionPoolExhausted", "HighLatency", "HighErrorRate"}),
    ((("active", "false"),), {"PaymentsErrorBudgetBurn", "CatalogCacheHitRateLow"}),
    ((("receiver", "pager.*"),), set()),
])
async def test_state_filters(sandbox: Sandbox, http: httpx.AsyncClient, params: tuple[tuple[str, str], ...],
                             expected: set[str]) -> None:
    """active, silenced, inhibited and receiver select alerts as Alertmanager does."""
    body = (await _alerts(http, sandbox, *params)).json()
    assert {a["labels"]["alertname"] for a in body} == expected


async def test_suppressed_alerts_say_why(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    """A silenced alert lists its silence; an inhibited one lists the fingerprint of the alert inhibiting it."""
    body = (await _alerts(http, sandbox)).json()
    by_name = {a["labels"]["alertname"]: a for a in body if a["labels"]["alertname"] != "HighErrorRate"}
    assert by_name["CatalogCacheHitRateLow"]["status"]["state"] == "suppressed"
    assert len(by_name["CatalogCacheHitRateLow"]["status"]["silencedBy"]) == 1
    inhibited = by_name["PaymentsErrorBudgetBurn"]["status"]
    assert inhibited["inhibitedBy"] == [by_name["DBConnectionPoolExhausted"]["fingerprint"]]


async def test_bad_filter_and_status(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    """A bad matcher is a 400 with a JSON string body; /api/v2/status has Alertmanager's structure."""
    resp = await _alerts(http, sandbox, ("filter", "service"))
    assert resp.status_code == 400 and resp.json() == "bad matcher format: service"
    assert (await _alerts(http, sandbox, ("active", "maybe"))).status_code == 400
    status = (await http.get(sandbox.urls.alertmanager + "/api/v2/status")).json()
    real = fixture("alertmanager", "api_v2_status_GET.json")
    assert (missing_paths(shape(real), shape(status)), missing_paths(shape(status), shape(real))) == ([], [])
    assert (await http.get(sandbox.urls.alertmanager + "/-/ready")).status_code == 200


# -- silences -------------------------------------------------------------------------------------------------------

def _silence(**matchers: str) -> dict[str, Any]:
    return {"matchers": [{"name": k, "value": v, "isRegex": False, "isEqual": True} for k, v in matchers.items()],
            "startsAt": "2026-11-21T14:30:00.000Z", "endsAt": "2026-11-21T16:35:00.000Z", "createdBy": "sre-bot",
            "comment": "rolling back checkout"}


async def test_silence_suppresses_matching_alerts_until_expired(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    """A posted silence marks exactly its alerts suppressed (silencedBy its id) until it is deleted."""
    am = sandbox.urls.alertmanager
    resp = await http.post(am + "/api/v2/silences", json=_silence(service="checkout", alertname="HighErrorRate"))
    assert resp.status_code == 200
    sid = resp.json()["silenceID"]
    body = (await _alerts(http, sandbox, ("filter", "alertname=HighErrorRate"))).json()
    status = {a["labels"]["service"]: a["status"] for a in body}
    assert status["checkout"] == {"inhibitedBy": [], "silencedBy": [sid], "state": "suppressed"}
    assert status["frontend"]["state"] == "active"
    assert ("HighErrorRate", "checkout") not in _names((await _alerts(http, sandbox, ("silenced", "false"))).json())
    assert (await http.delete(f"{am}/api/v2/silence/{sid}")).status_code == 200
    assert (await http.delete(f"{am}/api/v2/silence/{sid}")).status_code == 200  # expiring twice is fine
    assert ("HighErrorRate", "checkout") in _names((await _alerts(http, sandbox, ("silenced", "false"))).json())
    assert [o["op"] for o in sandbox.world.operations] == ["create_silence", "expire_silence", "expire_silence"]


async def test_silence_reads_back_in_the_spec_shape(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    """GET /api/v2/silence/{id} is a gettableSilence (its start clamped to now, as Alertmanager does), expired once
    deleted."""
    am = sandbox.urls.alertmanager
    sid = (await http.post(am + "/api/v2/silences", json=_silence(service="cart"))).json()["silenceID"]
    got = (await http.get(f"{am}/api/v2/silence/{sid}")).json()
    spec = yaml.safe_load((FIXTURES / "alertmanager" / "api_v2_openapi.yaml").read_text())
    assert conforms(got, spec["definitions"]["gettableSilence"], spec["definitions"]) == []
    assert (got["id"], got["status"], got["startsAt"]) == (sid, {"state": "active"}, "2026-11-21T14:35:00.000Z")
    assert got["matchers"] == [{"isEqual": True, "isRegex": False, "name": "service", "value": "cart"}]
    await http.delete(f"{am}/api/v2/silence/{sid}")
    assert (await http.get(f"{am}/api/v2/silence/{sid}")).json()["status"] == {"state": "expired"}


@pytest.mark.parametrize("body, status, message", [
    ({**_silence(service="x"), "matchers": []}, 422,
     {"code": 612, "message": "matchers in body should have at least 1 items"}),
    ({**_silence(service="x"), "endsAt": "2026-11-21T14:00:00Z"}, 400,
     "Failed to create silence: start time must be before end time"),
    ({**_silence(service="x"), "startsAt": "2026-11-21T13:00:00Z", "endsAt": "2026-11-21T14:00:00Z"}, 400,
     "Failed to create silence: end time can't be in the past"),
    (_silence(service=""), 400, "silence invalid: at least one matcher must not match the empty string"),
])
async def test_bad_silences_are_refused(sandbox: Sandbox, http: httpx.AsyncClient, body: dict[str, Any], status: int,
                                        message: object) -> None:
    """Invalid silences get Alertmanager's status and message, and change nothing."""
    resp = await http.post(sandbox.urls.alertmanager + "/api/v2/silences", json=body)
    assert (resp.status_code, resp.json()) == (status, message)
    assert sandbox.world.silences == {}


async def test_unknown_silence_ids(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    """An unknown id is 404 on GET and 500 "silence not found" on DELETE (as Alertmanager 0.25); not a uuid is 422."""
    am, unknown = sandbox.urls.alertmanager, "00000000-0000-4000-a000-000000000000"
    assert (await http.get(f"{am}/api/v2/silence/{unknown}")).status_code == 404
    gone = await http.delete(f"{am}/api/v2/silence/{unknown}")
    assert (gone.status_code, gone.json()) == (500, "silence not found")
    assert (await http.delete(f"{am}/api/v2/silence/nope")).status_code == 422


async def test_backend_silences_the_sandbox(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    """AlertmanagerBackend creates, reads and expires a silence in the sandbox, as `sre-bot demo` will."""
    am = AlertmanagerBackend(http, sandbox.urls.alertmanager)
    sid = await am.create_silence({"service": "checkout"}, starts_at=NOW, ends_at=NOW + timedelta(hours=1),
                                  created_by="sre-bot", comment="rollback in progress")
    assert (await am.get_silence(sid))["comment"] == "rollback in progress"
    assert [a.name for a in await am.alerts(matchers={"service": "checkout"})] == []
    await am.expire_silence(sid)
    assert [a.name for a in await am.alerts(matchers={"service": "checkout"})] == ["HighErrorRate"]
    with pytest.raises(NotFound):
        await am.expire_silence("00000000-0000-4000-a000-000000000000")
