"""`POST /alertmanager` on the real server: Alertmanager's own captured bodies accepted and stored before the 200;
wrong credentials, bad JSON, wrong versions and oversized bodies refused with the reason, nothing stored."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from tests.fakes.slack_api import FakeSlack
from tests.harness import running_bot

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "alertmanager"
CAPTURED = sorted(p.name for p in FIXTURES.glob("webhook_v4_*.json"))
TOKEN = "am-webhook-token"


def _bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode(),
            "Content-Type": "application/json"}


@pytest.mark.parametrize("name", CAPTURED)
async def test_captured_bodies_are_stored_before_the_200(fake_slack: FakeSlack, name: str) -> None:
    """Each body Alertmanager really sent (firing, partly resolved, resolved) is accepted and in the inbox."""
    raw = (FIXTURES / name).read_bytes()
    async with running_bot(fake_slack, incidents=False, SRE_BOT_ALERTMANAGER_TOKEN=TOKEN) as bot:
        resp = await bot.http.post("/alertmanager", content=raw, headers=_bearer())
        assert resp.status_code == 200, resp.text
        body = json.loads(raw)
        assert resp.json() == {"status": "ok", "stored": 1, "alerts": len(body["alerts"])}
        [(_, _, stored)] = await bot.deps.store.inbox_pending()
        assert stored == body


async def test_basic_auth_works_too(fake_slack: FakeSlack) -> None:
    raw = (FIXTURES / CAPTURED[0]).read_bytes()
    async with running_bot(fake_slack, incidents=False, SRE_BOT_ALERTMANAGER_USER="am",
                           SRE_BOT_ALERTMANAGER_PASSWORD="pw") as bot:
        assert (await bot.http.post("/alertmanager", content=raw, headers=_basic("am", "pw"))).status_code == 200
        assert (await bot.http.post("/alertmanager", content=raw, headers=_basic("am", "nope"))).status_code == 401
        assert (await bot.http.post("/alertmanager", content=raw, headers=_bearer())).status_code == 401


async def test_refusals_say_why_and_store_nothing(fake_slack: FakeSlack) -> None:
    """401 without or with a wrong credential; 400 for bad JSON, a wrong version or a bad alert; 413 too big."""
    good = json.loads((FIXTURES / CAPTURED[0]).read_text())
    async with running_bot(fake_slack, incidents=False, SRE_BOT_ALERTMANAGER_TOKEN=TOKEN,
                           SRE_BOT_ALERTMANAGER_MAX_BYTES=str(2**16)) as bot:
        post = bot.http.post
        r = await post("/alertmanager", json=good)
        assert r.status_code == 401 and "WWW-Authenticate" in r.headers
        assert (await post("/alertmanager", json=good, headers=_bearer("wrong"))).status_code == 401
        r = await post("/alertmanager", content=b"{not json", headers=_bearer())
        assert r.status_code == 400 and "not valid JSON" in r.json()["error"]
        r = await post("/alertmanager", json={**good, "version": "3"}, headers=_bearer())
        assert r.status_code == 400 and "unsupported webhook version '3'" in r.json()["error"]
        bad_alert = {**good, "alerts": [{**good["alerts"][0], "startsAt": "yesterday-ish"}]}
        r = await post("/alertmanager", json=bad_alert, headers=_bearer())
        assert r.status_code == 400 and "alerts[0]" in r.json()["error"]
        big = {**good, "alerts": good["alerts"] * 200}
        r = await post("/alertmanager", json=big, headers=_bearer())
        assert r.status_code == 413 and "SRE_BOT_ALERTMANAGER_MAX_BYTES" in r.json()["error"]
        assert await bot.deps.store.inbox_pending() == []


async def test_without_a_configured_credential_the_endpoint_is_off(fake_slack: FakeSlack) -> None:
    """No token and no basic auth configured: 403 saying how to turn it on; nothing stored."""
    async with running_bot(fake_slack) as bot:
        r = await bot.http.post("/alertmanager", content=(FIXTURES / CAPTURED[0]).read_bytes(), headers=_bearer())
        assert r.status_code == 403 and "SRE_BOT_ALERTMANAGER_TOKEN" in r.json()["error"]
        assert await bot.deps.store.inbox_pending() == []
