"""EDABackend against the real ansible-rulebook webhook source: a signed event is received and recorded by the
rulebook's playbook; a wrong HMAC secret or token is refused by the source, said plainly, and nothing is recorded."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from sre_bot.backends.eda import EDABackend, event_body, signature
from sre_bot.errors import BackendUnavailable, Unauthorized
from tests.eda.conftest import SECRET, TOKEN, Rulebook
from tests.fakes import free_port


async def send_marker(rb: Rulebook) -> str:
    """A correctly signed marker event: once it is recorded, everything sent before it would have been too."""
    mid = f"marker-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(timeout=10) as client:
        await EDABackend(client, rb.url, token=TOKEN, hmac_secret=SECRET).send(
            {"source": "test-marker", "request_id": mid}, request_id=mid)
    return mid


async def recorded_before_marker(rb: Rulebook) -> list[dict]:
    """The events recorded before a fresh marker (the rulebook runs its playbooks in order)."""
    mid = await send_marker(rb)
    for _ in range(600):
        got = rb.events()
        ids = [e["payload"].get("request_id") for e in got]
        if mid in ids:
            return got[:ids.index(mid)]
        await asyncio.sleep(0.1)
    raise AssertionError(f"the marker was never recorded:\n{rb.tail()}")


async def test_a_signed_event_is_received_and_recorded_by_the_playbook(rulebook: Rulebook) -> None:
    """The source answers 200 with its endpoint; the playbook records the payload as sent and the request id header."""
    before = len(rulebook.events())
    event = {"source": "sre-bot", "request_id": "r-backend-1", "service": "checkout", "cause": "connection_pool_exhausted",
             "fix": "restart_deployment", "note": "naïve – ünïcode"}
    async with httpx.AsyncClient(timeout=10) as client:
        result = await EDABackend(client, rulebook.url, token=TOKEN, hmac_secret=SECRET).send(
            event, request_id="r-backend-1")
    assert (result.status, result.body) == (200, "sre-bot")
    [got] = rulebook.wait_for(before + 1)[before:]
    assert (got["payload"], got["endpoint"]) == (event, "sre-bot")
    headers = {k.lower(): v for k, v in got["headers"].items()}
    assert headers["x-request-id"] == "r-backend-1" and headers["x-hub-signature-256"].startswith("sha256=")
    assert "authorization" not in headers  # the source drops it before the rulebook sees the event


@pytest.mark.parametrize("token, secret, words", [
    (TOKEN, "not-the-secret", "HMAC verification failed"),
    ("not-the-token", SECRET, "Invalid authorization token"),
])
async def test_a_wrong_secret_or_token_is_refused_and_nothing_runs(rulebook: Rulebook, token: str, secret: str,
                                                                   words: str) -> None:
    """The source refuses (401, its own words) and the error names the settings, never the token or secret."""
    async with httpx.AsyncClient(timeout=10) as client:
        backend = EDABackend(client, rulebook.url, token=token, hmac_secret=secret)
        with pytest.raises(Unauthorized) as e:
            await backend.send({"source": "sre-bot", "request_id": "r-refused"}, request_id="r-refused")
    msg = str(e.value)
    assert e.value.status == 401 and words in msg and "SRE_BOT_EDA_HMAC_SECRET" in msg
    assert token not in msg and secret not in msg and rulebook.url.split("/sre-bot")[0] in msg
    assert all(ev["payload"].get("request_id") != "r-refused" for ev in await recorded_before_marker(rulebook))


async def test_the_signature_is_what_the_source_computes() -> None:
    """The header is `sha256=` + hex HMAC-SHA256 of the exact body bytes, as ansible-rulebook's source checks."""
    pytest.importorskip("ansible_rulebook")
    import hashlib
    import hmac

    body = event_body({"b": 1, "a": "é"})
    assert body == b'{"a":"\\u00e9","b":1}'
    assert signature("s3cret", body) == "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()


async def test_nothing_listening_is_said_plainly() -> None:
    """A source that is down: BackendUnavailable naming where, with the OS's reason."""
    port = free_port()
    async with httpx.AsyncClient(timeout=5) as client:
        with pytest.raises(BackendUnavailable, match=rf"ansible-rulebook at http://127.0.0.1:{port}/hook "
                                                     r"unreachable \(connection refused\)"):
            await EDABackend(client, f"http://127.0.0.1:{port}/hook?x=1", token="t", hmac_secret="s").send(
                {"source": "sre-bot"}, request_id="r")
