"""Issue 14, item 7: every malformed request to `/slack/events` gets a 4xx and exactly one warning line, never a 500
or a traceback. Unsigned requests are refused with 401 before anything is parsed; signed ones whose body Bolt or a
listener could not read get 400 with the reason. Each request goes over a real socket to the real Bolt app."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import urlencode

import pytest

from sre_bot.slack.action_blocks import APPROVE, REJECT_MODAL
from sre_bot.slack.feedback_blocks import REAL_CAUSE_MODAL
from tests.fakes import free_port
from tests.fakes.slack_api import FakeSlack
from tests.hardening._slack_support import assert_no_traceback, json_log, log_lines  # noqa: F401
from tests.harness import SECRET, BotUnderTest, running_bot
from tests.slack_signing import FORM, JSON, app_mention, block_actions, sign, slash_command, view_submission

DEEP = 100_000


def _form(payload: Any) -> str:
    return urlencode({"payload": json.dumps(payload)})


def _click(**changes: Any) -> str:
    payload = block_actions(APPROVE, "req:digest").json()
    payload.update(changes)
    return _form(payload)


def _mention(**changes: Any) -> str:
    envelope = app_mention().json()
    envelope["event"].update(changes)
    return json.dumps(envelope)


def _view(callback_id: str, private_metadata: str, values: dict[str, Any] | None = None) -> str:
    return view_submission(callback_id, private_metadata=private_metadata, values=values).text


def _command_without(field: str) -> str:
    fields = dict(slash_command(text="killswitch status").json())
    del fields[field]
    return urlencode(fields)


# (name, body, content type, timestamp header, signature header or None to sign correctly)
UNSIGNED: list[tuple[str, bytes, str, str, str | None]] = [
    ("timestamp abc", b"token=x&command=%2Fsre", FORM, "abc", None),
    ("timestamp empty", b"token=x&command=%2Fsre", FORM, "", None),
    ("timestamp 1e10", b"token=x&command=%2Fsre", FORM, "1e10", None),
    ("timestamp negative", b"token=x&command=%2Fsre", FORM, "-5", None),
    ("timestamp with a plus sign", b"token=x&command=%2Fsre", FORM, "+{now}", None),
    ("timestamp in Arabic digits", b"token=x&command=%2Fsre", FORM, "\u0661\u0667\u0660\u0660", None),
    ("timestamp huge", b"token=x&command=%2Fsre", FORM, "9" * 40, None),
    ("stale timestamp", b"token=x&command=%2Fsre", FORM, "{stale}", None),
    ("no signature", b"token=x&command=%2Fsre", FORM, "{now}", ""),
    ("wrong signature", b"token=x&command=%2Fsre", FORM, "{now}", "v0=" + "0" * 64),
    ("signature not hex", b"token=x&command=%2Fsre", FORM, "{now}", "v0=" + "z" * 64),
    ("signature non-ASCII", b"token=x&command=%2Fsre", FORM, "{now}", "v0=\u00e9\u00e9"),
    ("JSON content type, not JSON", b"{bad", JSON, "{now}", "v0=" + "1" * 64),
    ("payload={bad", b"payload={bad", FORM, "{now}", "v0=" + "2" * 64),
    ("deep JSON", b"[" * DEEP + b"]" * DEEP, JSON, "{now}", "v0=" + "3" * 64),
    ("not UTF-8", b"\xff\xfe\xfd", JSON, "{now}", None),
]

SIGNED: list[tuple[str, str, str]] = [
    ("JSON content type, not JSON", "{bad", JSON),
    ("payload={bad", "payload={bad", FORM),
    ("deep JSON", '{"type": "event_callback", "x": ' + "[" * DEEP + "]" * DEEP + "}", JSON),
    ("deep payload", urlencode({"payload": "[" * DEEP + "]" * DEEP}), FORM),
    ("payload 60 objects deep", _form(json.loads('{"a": ' * 60 + "1" + "}" * 60) | {"type": "block_actions"}),
     FORM),
    ("a JSON array", "[1, 2]", JSON),
    ("a JSON string", '"hello"', JSON),
    ("type is a number", '{"type": 5}', JSON),
    ("actions not a list", _click(actions="approve"), FORM),
    ("actions empty", _click(actions=[]), FORM),
    ("an action not an object", _click(actions=[5]), FORM),
    ("action value a number", _click(actions=[{"action_id": APPROVE, "value": 5}]), FORM),
    ("user a string", _click(user="W111"), FORM),
    ("container a list", _click(container=[]), FORM),
    ("authorizations a number", _click(authorizations=5), FORM),
    ("enterprise a number", _click(enterprise=5), FORM),
    ("event a string", json.dumps(app_mention().json() | {"event": "app_mention"}), JSON),
    ("mention without a channel", _mention(channel=None), JSON),
    ("mention text a list", _mention(text=["help"]), JSON),
    ("private_metadata a list", _view(REJECT_MODAL, "[1]"), FORM),
    ("private_metadata not JSON", _view(REJECT_MODAL, "{bad"), FORM),
    ("private_metadata with a number", _view(REAL_CAUSE_MODAL, '{"answer_id": 7}'), FORM),
    ("view state value a number", _view(REAL_CAUSE_MODAL, '{"answer_id": "a1"}',
                                        {"real_cause": {"real_cause_text": {"value": 42}}}), FORM),
    ("view a string", _form(view_submission(REJECT_MODAL).json() | {"view": "x"}), FORM),
    ("command without response_url", _command_without("response_url"), FORM),
    ("command without user_id", _command_without("user_id"), FORM),
    ("response_url not a URL", slash_command(text="status checkout", response_url="5").text, FORM),
    ("response_url not http", slash_command(text="help", response_url="javascript:alert(1)").text, FORM),
    ("NUL in a command", slash_command(text="killswitch\x00on").text, FORM),
    ("unpaired surrogate", json.dumps(app_mention().json() | {"event_id": "\ud800"}), JSON),
]


async def _post(bot: BotUnderTest, body: bytes, content_type: str, timestamp: str,
                signature: str | None) -> int:
    now = int(time.time())
    ts = timestamp.replace("{now}", str(now)).replace("{stale}", str(now - 400))
    if signature is None:
        signature = sign(SECRET, ts, body.decode("utf-8", "replace"))
    headers = {"Content-Type": content_type.encode(), "X-Slack-Request-Timestamp": ts.encode(),
               "X-Slack-Signature": signature.encode()}  # bytes: a header may carry UTF-8, as an attacker sends it
    return (await bot.http.post("/slack/events", content=body, headers=headers)).status_code


def _check(name: str, status: int, expected: int, lines: list[dict[str, Any]],
           caplog: pytest.LogCaptureFixture) -> list[str]:
    problems = []
    if status != expected:
        problems.append(f"{name}: status {status}, expected {expected}")
    warnings = [line for line in lines if line.get("level") == "warning"]
    if [w.get("event") for w in warnings] != ["Slack request refused"]:
        problems.append(f"{name}: warning lines {warnings}")
    try:
        assert_no_traceback(lines, caplog)
    except AssertionError as e:
        problems.append(f"{name}: {e}")
    return problems


async def test_unsigned_or_badly_signed_requests_get_401_and_one_warning(
        fake_slack: FakeSlack, json_log: None, capsys: pytest.CaptureFixture[str],  # noqa: F811
        caplog: pytest.LogCaptureFixture) -> None:
    """Bad timestamps (abc, empty, 1e10, …), bad or missing signatures and unparseable bodies without a valid
    signature are refused with 401 before parsing: one warning line each, no traceback, nothing sent to Slack."""
    problems: list[str] = []
    async with running_bot(fake_slack, incidents=False) as bot:
        log_lines(capsys)
        for name, body, ctype, ts, signature in UNSIGNED:
            caplog.clear()
            status = await _post(bot, body, ctype, ts, signature)
            problems += _check(name, status, 401, log_lines(capsys), caplog)
    assert problems == []
    assert [c.method for c in fake_slack.calls() if c.method != "auth.test"] == []


async def test_signed_malformed_bodies_get_400_with_the_reason_and_one_warning(
        fake_slack: FakeSlack, json_log: None, capsys: pytest.CaptureFixture[str],  # noqa: F811
        caplog: pytest.LogCaptureFixture) -> None:
    """Correctly signed bodies of the wrong shape (actions not a list, event a string, bad private_metadata,
    100,000-deep nesting, NUL, …) get 400 and one warning line; no listener runs, no traceback, nothing stored."""
    problems: list[str] = []
    async with running_bot(fake_slack, incidents=False) as bot:
        log_lines(capsys)
        for name, text, ctype in SIGNED:
            caplog.clear()
            status = await _post(bot, text.encode(), ctype, "{now}", None)
            problems += _check(name, status, 400, log_lines(capsys), caplog)
        audit = await bot.deps.store.latest(10)
    assert problems == []
    assert [c.method for c in fake_slack.calls() if c.method != "auth.test"] == [] and audit == []


async def test_an_oversized_body_gets_413_and_one_warning(
        fake_slack: FakeSlack, json_log: None, capsys: pytest.CaptureFixture[str],  # noqa: F811
        caplog: pytest.LogCaptureFixture) -> None:
    """A body over 1 MiB, signed or not, is refused with 413 and one warning line."""
    body = slash_command(text="status " + "x" * (2**20)).text
    async with running_bot(fake_slack, incidents=False) as bot:
        log_lines(capsys)
        status = await _post(bot, body.encode(), FORM, "{now}", None)
        problems = _check("oversized", status, 413, log_lines(capsys), caplog)
    assert problems == []


async def test_a_command_mentioning_payload_is_answered(fake_slack: FakeSlack) -> None:
    """`/sre query payload_bytes_total` reaches the command listener (Bolt's parser took any form body containing
    "payload" for an interactivity payload, and the command got no listener)."""
    async with running_bot(fake_slack, incidents=False) as bot:
        resp = await bot.post(slash_command(text="query payload_bytes_total", response_url=fake_slack.response_url()))
        [reply] = await fake_slack.wait_for("response_url")
    assert resp.status_code == 200 and "Looking" in resp.text
    assert "not configured" in str(reply.args)


async def test_a_reply_that_cannot_be_delivered_is_one_warning(
        fake_slack: FakeSlack, json_log: None, capsys: pytest.CaptureFixture[str],  # noqa: F811
        caplog: pytest.LogCaptureFixture) -> None:
    """When the command's response_url does not answer, the reply is lost with one warning line, not a traceback."""
    dead = f"http://127.0.0.1:{free_port()}/commands/T111/1/x"
    async with running_bot(fake_slack, incidents=False) as bot:
        log_lines(capsys)
        resp = await bot.post(slash_command(text="status checkout", response_url=dead))
        lines: list[dict[str, Any]] = []
        for _ in range(100):
            lines += log_lines(capsys)
            if any(line.get("event") == "command answered" for line in lines):
                break
            await asyncio.sleep(0.05)
    warnings = [line.get("event") for line in lines if line.get("level") == "warning"]
    assert resp.status_code == 200 and warnings == ["reply not delivered to the command's response_url"]
    assert_no_traceback(lines, caplog)
