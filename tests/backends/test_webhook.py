"""WebhookBackend against the fake webhook receiver: what goes on the wire, answers, and each kind of failure."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from sre_bot.backends.webhook import WebhookBackend, WebhookResult
from sre_bot.errors import BackendError, BackendTimeout, BackendUnavailable, NotFound, QueryRejected, Unauthorized
from sre_bot.metrics import Metrics
from tests.fakes import free_port
from tests.fakes.webhook import FakeWebhook

SECRET = "/hooks/T000/B000/s3cr3t?token=abc123"


@pytest.fixture
def hook() -> Iterator[FakeWebhook]:
    with FakeWebhook() as server:
        yield server


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as c:
        yield c


async def test_post_sends_json_and_headers(hook: FakeWebhook, client: httpx.AsyncClient) -> None:
    """A POST carries the body as JSON and the given headers; the answer's status, text and JSON come back."""
    result = await WebhookBackend(client).call("restart-checkout", hook.url + SECRET, body={"service": "checkout"},
                                               headers={"X-Token": "t0k"})
    assert result == WebhookResult(status=200, body='{"job": 1}', json={"job": 1})
    [got] = hook.received
    assert (got.method, got.path, got.query) == ("POST", "/hooks/T000/B000/s3cr3t", {"token": "abc123"})
    assert got.json == {"service": "checkout"} and got.header("X-Token") == "t0k"
    assert got.header("Content-Type") == "application/json"


async def test_put_without_body(hook: FakeWebhook, client: httpx.AsyncClient) -> None:
    """PUT is allowed; with no body nothing is sent, and a non-JSON answer has json None."""
    hook.respond(201, "created")
    result = await WebhookBackend(client).call("hook", hook.url + "/x", method="PUT")
    assert (result.status, result.body, result.json) == (201, "created", None)
    assert hook.received[0].method == "PUT" and hook.received[0].body == b""


async def test_long_answer_is_cut(hook: FakeWebhook, client: httpx.AsyncClient) -> None:
    """The body kept is at most 2,000 characters; the JSON is parsed from the whole answer."""
    hook.respond(200, {"log": "x" * 5000})
    result = await WebhookBackend(client).call("hook", hook.url + "/x", body=[1, 2])
    assert len(result.body) == 2000 and result.json == {"log": "x" * 5000}


@pytest.mark.parametrize("status, kind", [(500, BackendUnavailable), (503, BackendUnavailable), (404, NotFound),
                                          (401, Unauthorized), (403, Unauthorized), (400, QueryRejected)])
async def test_error_status_is_raised_without_the_secret(hook: FakeWebhook, client: httpx.AsyncClient, status: int,
                                                         kind: type[BackendError]) -> None:
    """A status >= 400 raises the matching error, quoting the answer and naming the hook, but not the URL's secret."""
    hook.respond(status, {"message": "job queue full"})
    with pytest.raises(kind, match="job queue full") as info:
        await WebhookBackend(client).call("restart-checkout", hook.url + SECRET)
    text = str(info.value)
    assert "Webhook 'restart-checkout'" in text and (hook.url in text or status == 400)
    assert "s3cr3t" not in text and "abc123" not in text
    assert (info.value.backend, info.value.operation, info.value.status) == ("webhook", "restart-checkout", status)


async def test_redirect_is_not_followed(hook: FakeWebhook, client: httpx.AsyncClient) -> None:
    """A 302 (a login page in front of the hook) is an error naming only where it points; it is not followed."""
    hook.respond(302, "", headers={"Location": "https://sso.example.com/login?rd=s3cr3t"})
    with pytest.raises(BackendError, match=r"302 Found, redirecting to https://sso.example.com;") as info:
        await WebhookBackend(client).call("hook", hook.url + "/x")
    assert "s3cr3t" not in str(info.value) and info.value.status == 302
    assert len(hook.received) == 1


async def test_connection_refused(client: httpx.AsyncClient) -> None:
    """Nothing listening is BackendUnavailable saying so, counted in metrics under the hook's name."""
    metrics = Metrics()
    with pytest.raises(BackendUnavailable, match="connection refused"):
        await WebhookBackend(client, metrics=metrics).call("hook", f"http://127.0.0.1:{free_port()}/x")
    assert metrics.registry.get_sample_value(
        "sre_bot_backend_errors_total", {"backend": "webhook", "kind": "unavailable"}) == 1
    assert metrics.registry.get_sample_value(
        "sre_bot_backend_request_duration_seconds_count", {"backend": "webhook", "operation": "hook"}) == 1


async def test_timeout_per_call(hook: FakeWebhook, client: httpx.AsyncClient) -> None:
    """`timeout` overrides the client's; a timeout says the hook may still have run (it did receive the call)."""
    hook.respond(200, {"job": 9}, delay=2)
    with pytest.raises(BackendTimeout, match=r"within 0.2s \(read timeout\); it may still have run"):
        await WebhookBackend(client).call("hook", hook.url + "/x", body={}, timeout=0.2)
    assert len(hook.received) == 1


async def test_bad_method_and_url(client: httpx.AsyncClient) -> None:
    """Only POST and PUT are allowed; a URL without a scheme is BackendUnavailable, not a crash."""
    with pytest.raises(ValueError, match="POST or PUT"):
        await WebhookBackend(client).call("hook", "http://x", method="GET")  # type: ignore[arg-type]
    with pytest.raises(BackendUnavailable, match="Webhook 'hook'"):
        await WebhookBackend(client).call("hook", "example.com/no-scheme")
