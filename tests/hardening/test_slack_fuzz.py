"""Issue 14, "Done means": a property-based (Hypothesis) fuzz of `/slack/events` on the real running bot.

Slash commands, mention events and interactivity payloads (button clicks, modal submissions) are generated valid,
then corrupted (a field deleted or replaced by any JSON value, unicode and control characters, 60 to 100,000 levels
of nesting, 1 MiB of padding, raw bytes) and sent over a real socket, signed correctly or not at all or badly.
Whatever arrives: no 5xx, no traceback in the bot's log (structlog's JSON lines and the standard library's records),
the process still answers `/healthz` and a real `/sre help`, and the store holds nothing half-written (every
pending approval request has its Slack message). Deterministic (`derandomize=True`), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sre_bot.slack.action_blocks import APPROVE, REJECT, REJECT_MODAL, UNDO
from sre_bot.slack.feedback_blocks import FEEDBACK_NO, FEEDBACK_YES, REAL_CAUSE_MODAL
from sre_bot.slack.runbook_blocks import RUN_RUNBOOK
from tests.actions._support import config
from tests.fakes import free_port
from tests.fakes.slack_api import BOT_USER_ID, FakeSlack
from tests.hardening._slack_support import assert_no_traceback, json_log, log_lines  # noqa: F401
from tests.harness import SECRET, BotUnderTest, running_bot
from tests.slack_signing import FORM, JSON, app_mention, block_actions, slash_command, view_submission
from tests.store.conftest import pg_url, postgres_available, sqlite_url, store_url  # noqa: F401

EXAMPLES = 200  # per database: about 10 s each on a shared 2-core machine
T = TypeVar("T")

# ---- what people and Slack send ------------------------------------------------------------------------------

VERBS = ["help", "status", "query", "logs", "deploys", "run", "actions", "audit", "killswitch", "incidents",
         "incident", "runbook", "accuracy", "autonomy", "stauts", ""]
WORDS = st.one_of(
    st.sampled_from(["checkout", "payments", "on", "off", "status", "all", "list", "alertmanager.silence",
                     "argocd.rollback", "alertname=HighErrorRate", "duration=99999999999w", "comment=\"x y\"",
                     "to_history_id=99999999999999999999", "2147483648", "²", "-1", "0", "999999999d", "30m",
                     "since 0001-01-01T00:00+14:00", "since 14:05", "<!channel>", "&gt;", "payload", "\"unclosed",
                     "up > 0", "1e10", "NaN", "🔥", "\u202e", "\x7f", "٣"]),
    st.text(max_size=12),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
)
COMMAND_TEXT = st.builds(lambda verb, words: " ".join([verb, *words]).strip(), st.sampled_from(VERBS),
                         st.lists(WORDS, max_size=4))
ACTION_IDS = st.sampled_from([APPROVE, REJECT, UNDO, FEEDBACK_YES, FEEDBACK_NO, RUN_RUNBOOK, "unknown_action"])
BUTTON_VALUES = st.one_of(st.sampled_from(["", "req:digest", "a" * 40 + ":" + "b" * 64, "db-connection-pool|checkout",
                                           "nope|", "|"]), st.text(max_size=20))
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
USERS = st.sampled_from(["W111", "W222", "W333", "", "U\u00e9"])


@dataclass(frozen=True)
class Request:
    """One request to send: its body, content type, and how it is signed."""

    body: bytes
    content_type: str
    signing: str  # "good", "none", "wrong", "stale", "bad-timestamp"
    timestamp: str = ""


def _command(fake: FakeSlack) -> st.SearchStrategy[dict[str, Any]]:
    response_urls = st.one_of(st.sampled_from([fake.response_url(n) for n in "abc"]),
                              st.sampled_from(["5", "ftp://x/y", "javascript:alert(1)", f"http://127.0.0.1:{free_port()}/x",
                                               ""]))
    return st.builds(lambda text, user, url: slash_command(text=text, user_id=user or "W111", response_url=url).json(),
                     COMMAND_TEXT, USERS, response_urls)


def _mention() -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(lambda text, user: app_mention(f"<@{BOT_USER_ID}> {text}", user=user or "W222").json(),
                     COMMAND_TEXT | st.text(max_size=40), USERS)


def _click() -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(lambda action, value, user: block_actions(action, value, user=user or "W222").json(),
                     ACTION_IDS, BUTTON_VALUES, USERS)


def _modal() -> st.SearchStrategy[dict[str, Any]]:
    metadata = st.one_of(st.just(json.dumps({"value": "req:digest", "channel": "C111", "ts": "1.2"})),
                         st.just(json.dumps({"answer_id": "a1"})), st.text(max_size=20),
                         JSON_VALUES.map(json.dumps))
    values = st.one_of(st.just({"reason": {"reason_text": {"value": "bad deploy"}}}),
                       st.just({"real_cause": {"real_cause_text": {"value": "the database"}}}),
                       st.dictionaries(st.text(max_size=6), st.dictionaries(st.text(max_size=6), JSON_VALUES,
                                                                             max_size=2), max_size=2))
    return st.builds(lambda cb, meta, vals: view_submission(cb, private_metadata=meta, values=vals).json(),
                     st.sampled_from([REJECT_MODAL, REAL_CAUSE_MODAL, "other_modal"]), metadata, values)


@st.composite
def _corrupted(draw: st.DrawFn, payload: dict[str, Any]) -> dict[str, Any]:
    """`payload` with up to three changes: a field (top level or one level down) deleted or given any value."""
    out = json.loads(json.dumps(payload))
    for _ in range(draw(st.integers(0, 3))):
        target = out
        nested = [k for k, v in out.items() if isinstance(v, dict) and v]
        if nested and draw(st.booleans()):
            target = out[draw(st.sampled_from(sorted(nested)))]
        key = draw(st.sampled_from(sorted(target)))
        if draw(st.booleans()):
            del target[key]
        else:
            target[key] = draw(JSON_VALUES)
        if not target:
            break
    return out


_DEEP = "\u2063deep\u2063"  # a marker replaced in the encoded body (json.dumps itself would recurse too deep)


def _deepen(encoded: str, depth: int) -> str:
    return encoded.replace(json.dumps(_DEEP), "[" * depth + '"deep"' + "]" * depth)


_ONE_IN = {n: st.integers(0, 10 * n - 1).map(lambda i, n=n: i % n == n - 1) for n in (3, 10, 25)}  # odds 1:n


@st.composite
def _request(draw: st.DrawFn, fake: FakeSlack) -> Request:
    kind = draw(st.sampled_from(["command", "mention", "click", "modal", "raw"]))
    if kind == "raw":
        body = draw(st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode),
                              st.just(b"payload={bad"), st.just(b"{bad"), st.just(b"[" * 100_000 + b"]" * 100_000)))
        ctype = draw(st.sampled_from([JSON, FORM, "text/plain", ""]))
    else:
        valid = draw({"command": _command(fake), "mention": _mention(), "click": _click(), "modal": _modal()}[kind])
        payload = draw(_corrupted(valid)) if draw(_ONE_IN[3]) else valid
        depth = draw(st.sampled_from([60, 1_000, 100_000])) if draw(_ONE_IN[10]) else 0  # where a listener reads
        if depth:
            payload["event" if kind == "mention" else "user"] = _DEEP
        if draw(_ONE_IN[25]):  # oversized
            payload["padding"] = "x" * (2**20 + 10)
        if kind == "command":
            body = urlencode({k: _deepen(v if isinstance(v, str) else json.dumps(v), depth)
                              for k, v in payload.items()}).encode()
            ctype = FORM
        elif kind == "mention":
            body, ctype = _deepen(json.dumps(payload), depth).encode(), JSON
        else:
            body, ctype = urlencode({"payload": _deepen(json.dumps(payload), depth)}).encode(), FORM
    signing = draw(st.sampled_from(["good"] * 6 + ["none", "wrong", "stale", "bad-timestamp"]))
    timestamp = draw(st.sampled_from(["abc", "", "1e10", "-1", "+1", "9" * 30, "١٧"])) if signing == "bad-timestamp" \
        else ""
    return Request(body, ctype, signing, timestamp)


def _headers(req: Request) -> dict[str, bytes]:
    """Headers as Slack sends them (HMAC-SHA256 over `v0:{timestamp}:` and the raw bytes), or spoiled."""
    if req.signing == "none":
        return {"Content-Type": req.content_type.encode()}
    now = int(time.time())
    ts = {"stale": str(now - 600), "bad-timestamp": req.timestamp}.get(req.signing, str(now))
    secret = SECRET + ("-wrong" if req.signing == "wrong" else "")
    digest = hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + req.body, hashlib.sha256).hexdigest()
    return {"Content-Type": req.content_type.encode(), "X-Slack-Request-Timestamp": ts.encode(),
            "X-Slack-Signature": f"v0={digest}".encode()}


# ---- the bot, in a thread of its own (Hypothesis drives it synchronously) --------------------------------------

@dataclass
class _Running:
    bot: BotUnderTest
    loop: asyncio.AbstractEventLoop

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)


@contextmanager
def _bot_in_thread(fake: FakeSlack, **env: str) -> Iterator[_Running]:
    loop = asyncio.new_event_loop()
    ready, failed = threading.Event(), []
    box: dict[str, Any] = {}

    async def main() -> None:
        try:
            async with running_bot(fake, config=config(), **env) as bot:
                box["bot"], box["stop"] = bot, asyncio.Event()
                ready.set()
                await box["stop"].wait()
                await asyncio.sleep(0.5)  # let acked listeners finish before the bot shuts down
        except BaseException as e:  # surfaced by the test thread
            failed.append(e)
            ready.set()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), name="bot-under-fuzz", daemon=True)
    thread.start()
    assert ready.wait(60) and not failed, failed
    try:
        yield _Running(box["bot"], loop)
    finally:
        loop.call_soon_threadsafe(box["stop"].set)
        thread.join(60)
        loop.close()
    assert not failed, failed


def test_fuzzed_requests_never_get_a_5xx_or_leave_a_traceback(
        store_url: str, json_log: None, capsys: pytest.CaptureFixture[str],  # noqa: F811
        caplog: pytest.LogCaptureFixture) -> None:
    """Hypothesis's commands, events and clicks, corrupted and signed or not: no 5xx, no traceback, the bot still
    answers, and no approval request is left without its Slack message."""
    statuses: list[int] = []
    with FakeSlack.running() as fake, _bot_in_thread(fake, SRE_BOT_DB_URL=store_url) as running, \
            httpx.Client(base_url=running.bot.url, timeout=30) as http:

        @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
        @given(_request(fake))
        def one(req: Request) -> None:
            status = http.post("/slack/events", content=req.body, headers=_headers(req)).status_code
            statuses.append(status)
            assert status < 500, (status, req)
            if req.signing != "good":
                assert status in (401, 413), (status, req)

        one()
        time.sleep(2)  # the listeners acked first and work after
        assert http.get("/healthz").status_code == 200
        help_body = slash_command(text="help", response_url=fake.response_url("help")).text.encode()
        helped = http.post("/slack/events", content=help_body, headers=_headers(Request(help_body, FORM, "good")))
        requests = running.run(running.bot.deps.store.recent(1000))
        audit = running.run(running.bot.deps.store.latest(1000))
    assert helped.status_code == 200 and "/sre status" in helped.text
    assert all(r.message_ts for r in requests if r.status == "pending"), [r for r in requests if not r.message_ts]
    assert all(a.kind and a.summary for a in audit)
    assert {200, 400, 401} <= set(statuses)  # the generator reached every gate
    assert_no_traceback(log_lines(capsys), caplog)
