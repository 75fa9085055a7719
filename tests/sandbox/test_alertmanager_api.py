"""The simulated Alertmanager: alerts shaped like Alertmanager 0.25's, with its filters."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from sre_bot.sandbox import Sandbox
from tests.backends._shapes import missing_paths, shape
from tests.sandbox._support import fixture


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
