"""EDA without a rulebook: the settings it needs, the source's other answers (redirect, 5xx, timeout) said plainly
without the credentials, and an executor that refuses a request carrying no prepared event."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

import httpx
import pytest

from sre_bot.actions.eda import run_eda
from sre_bot.backends.eda import EDABackend
from sre_bot.compose import open_deps
from sre_bot.config import Config
from sre_bot.errors import BackendError, BackendTimeout, BackendUnavailable, ConfigError, QueryRejected
from sre_bot.settings import load_settings
from sre_bot.store.records import ActionRequest

TOKEN, SECRET = "tok-never-shown-1234", "sec-never-shown-5678"


@pytest.mark.parametrize("missing", ["SRE_BOT_EDA_TOKEN", "SRE_BOT_EDA_HMAC_SECRET"])
async def test_a_url_without_token_and_secret_stops_the_start(missing: str) -> None:
    """SRE_BOT_EDA_URL with either credential missing is a ConfigError naming both settings."""
    env = {"SRE_BOT_EDA_URL": "http://127.0.0.1:5000/sre-bot", "SRE_BOT_EDA_TOKEN": TOKEN,
           "SRE_BOT_EDA_HMAC_SECRET": SECRET}
    del env[missing]
    with pytest.raises(ConfigError, match="SRE_BOT_EDA_TOKEN and SRE_BOT_EDA_HMAC_SECRET must be too"):
        async with open_deps(load_settings(None, **env), config=Config(), use_llm=False):
            pass


async def test_configured_builds_the_backend_on_the_shared_client() -> None:
    """With all three settings Deps.eda names the source (origin and path only); without the URL it is None."""
    env = {"SRE_BOT_EDA_URL": "http://eda.internal:5000/sre-bot?k=v", "SRE_BOT_EDA_TOKEN": TOKEN,
           "SRE_BOT_EDA_HMAC_SECRET": SECRET}
    async with open_deps(load_settings(None, **env), config=Config(), use_llm=False) as deps:
        assert deps.eda is not None and deps.eda.where == "ansible-rulebook at http://eda.internal:5000/sre-bot"
    async with open_deps(load_settings(None), config=Config(), use_llm=False) as deps:
        assert deps.eda is None


def _backend(handler) -> tuple[EDABackend, httpx.AsyncClient]:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler), timeout=2)
    return EDABackend(client, "http://eda.internal:5000/sre-bot?token=x", token=TOKEN, hmac_secret=SECRET), client


@pytest.mark.parametrize("status, body, error, words", [
    (302, "", BackendError, "answered 302, a redirect (not followed)"),
    (400, "Invalid JSON payload", QueryRejected, "Invalid JSON payload"),
    (503, "rulebook restarting", BackendUnavailable, "answered 503 Service Unavailable: rulebook restarting"),
])
async def test_the_sources_other_answers_are_said_plainly(status: int, body: str, error: type, words: str) -> None:
    """Each status becomes its error with the source's words; the message has no token, secret or query."""
    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"Location": "http://login.example.com/"} if status == 302 else {}
        return httpx.Response(status, text=body, headers=headers)

    backend, client = _backend(handler)
    async with client:
        with pytest.raises(error) as e:
            await backend.send({"source": "sre-bot"}, request_id="r1")
    msg = str(e.value)
    assert words in msg and e.value.status == status
    assert TOKEN not in msg and SECRET not in msg and "token=x" not in msg


async def test_a_timeout_says_the_event_may_have_arrived() -> None:
    """A source that does not answer: BackendTimeout telling the person to check before sending again."""
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    backend, client = _backend(handler)
    async with client:
        with pytest.raises(BackendTimeout, match="the event may still have arrived: check the rulebook's log"):
            await backend.send({"source": "sre-bot"}, request_id="r1")


async def test_the_executor_sends_nothing_without_the_pinned_event() -> None:
    """A request whose arguments carry no event prepared for its own id is refused, and nothing is sent."""
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, text="sre-bot")

    backend, client = _backend(handler)
    env = {"SRE_BOT_EDA_URL": "http://eda.internal:5000/sre-bot", "SRE_BOT_EDA_TOKEN": TOKEN,
           "SRE_BOT_EDA_HMAC_SECRET": SECRET}
    now = datetime(2026, 11, 21, 14, 0, tzinfo=timezone.utc)
    async with client, open_deps(load_settings(None, **env), config=Config(), use_llm=False) as deps:
        deps = replace(deps, eda=backend)
        base = dict(id="req-0000000000000001", action="eda.event", status="executing", risk="high", reversible=False, created_at=now, expires_at=now,
                    requested_by="W111", channel="C111")
        for args in ({"service": "checkout", "cause": "x1", "fix": "y1"},
                     {"service": "checkout", "cause": "x1", "fix": "y1", "event": {"request_id": "another"}}):
            outcome = await run_eda(deps, ActionRequest.model_validate({**base, "args": args}))
            assert not outcome.ok and "no prepared event" in outcome.detail
        assert sent == []
        pinned = {"source": "sre-bot", "request_id": "req-0000000000000001", "service": "checkout"}
        outcome = await run_eda(deps, ActionRequest.model_validate({**base, "args": {"event": pinned},
                                                                   "decided_by": "W222", "decided_at": now}))
        assert outcome.ok and outcome.response["status"] == 200
        [req] = sent
        assert req.headers["authorization"] == f"Bearer {TOKEN}" and req.headers["x-request-id"] == "req-0000000000000001"
        assert req.headers["x-hub-signature-256"].startswith("sha256=") and SECRET not in req.content.decode()
