"""Issue 14, "Done means": Hypothesis against the real `POST /alertmanager` on loopback (SQLite, then PostgreSQL).

Malformed, oversized, deeply nested, wrong-typed and unicode bodies (NUL, lone surrogates, NaN, invalid UTF-8,
mutated captures), with a good, wrong, missing or garbled credential, sent as Content-Length or chunked in several
writes: never a 5xx, no traceback in the log, the server still answers afterwards, and nothing half-written — each
200 added exactly one inbox row that parses back to the alerts it answered with, each refusal added none.
Derandomized, with no example database, so CI runs the same examples every time.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sre_bot.alert_json import decode_body
from sre_bot.alert_payloads import parse_webhook
from sre_bot.errors import UsageError
from tests.fakes.slack_api import FakeSlack
from tests.hardening._alert_wire import BotThread, capture_logs, send_raw
from tests.store.conftest import pg_url, postgres_available, sqlite_url  # noqa: F401  (fixtures)

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "alertmanager"
CAPTURED = [p.read_bytes() for p in sorted(FIXTURES.glob("webhook_v4_*.json"))]
TOKEN = "am-webhook-token"
LIMIT = 2**16
EXAMPLES = 150


@pytest.fixture(params=["sqlite", "postgresql"])
def store_db(request: pytest.FixtureRequest) -> str:
    """A fresh database URL: a SQLite file, then a PostgreSQL schema (the store tests' fixtures)."""
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))


# -- what a sender might put in a body ----------------------------------------------------------------------------

_chars = st.one_of(st.characters(), st.sampled_from(["\x00", "\ud800", "\udbff", "\udc00", "\ufffd", "\U0001f525",
                                                     "\\", '"', "\u2028", "\x7f", "\xff"]))
_text = st.text(alphabet=_chars, max_size=24)
_scalar = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | _text
_json = st.recursive(_scalar, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
                     max_leaves=10)
_times = st.sampled_from(["2026-11-21T05:57:09Z", "0001-01-01T00:00:00Z", "2026-11-21T05:57:09.123456789+02:00",
                          "9999-12-31T23:59:59Z", "0000-01-01T00:00:00Z", "2026-13-45T99:99:99Z"]) | _text
_names = st.sampled_from(["alertname", "service", "namespace", "pod", "severity", "instance"]) | _text


def _mostly(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Usually the right type, sometimes any JSON value at all."""
    return st.one_of(good, good, good, _json)


_alert = st.fixed_dictionaries(
    {"status": _mostly(st.sampled_from(["firing", "resolved"])),
     "labels": _mostly(st.dictionaries(_names, _text, min_size=1, max_size=4)),
     "startsAt": _mostly(_times)},
    optional={"endsAt": _mostly(_times), "annotations": _mostly(st.dictionaries(_text, _text, max_size=3)),
              "generatorURL": _mostly(_text), "fingerprint": _mostly(st.just("2eb2ddd1492c29c3") | _text),
              "x-extra": _json})
_good_alert = st.fixed_dictionaries(
    {"status": st.sampled_from(["firing", "resolved"]),
     "labels": st.dictionaries(_names, _text, min_size=1, max_size=4),
     "startsAt": st.sampled_from(["2026-11-21T05:57:09Z", "2026-11-21T05:57:09.123456789+02:00"])},
    optional={"annotations": st.dictionaries(_text, _text, max_size=3), "fingerprint": _text, "x-extra": _json})
_good_webhook = st.fixed_dictionaries({"version": st.just("4"), "alerts": st.lists(_good_alert, max_size=4)},
                                      optional={"groupKey": _text, "commonLabels": st.dictionaries(_names, _text),
                                                "x-extra": _json})
_webhook = st.fixed_dictionaries(
    {"version": _mostly(st.just("4")), "alerts": _mostly(st.lists(_alert, max_size=4))},
    optional={"groupKey": _mostly(_text), "status": _mostly(st.sampled_from(["firing", "resolved"])),
              "receiver": _mostly(_text), "groupLabels": _mostly(st.dictionaries(_names, _text, max_size=3)),
              "commonLabels": _mostly(st.dictionaries(_names, _text, max_size=3)),
              "commonAnnotations": _mostly(st.dictionaries(_text, _text, max_size=3)),
              "externalURL": _mostly(_text), "truncatedAlerts": _mostly(st.integers(0, 10)), "x-extra": _json})


def _encode(value: Any, ascii_only: bool) -> bytes:
    """As a sender would write it: `\\u` escapes, or raw UTF-8 (a lone surrogate then makes invalid UTF-8)."""
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


def _mutate(data: bytes, edits: list[tuple[int, int, int]]) -> bytes:
    out = bytearray(data)
    for pos, op, byte in edits:
        i = pos % (len(out) + 1)
        if op == 0:
            out[i:i] = bytes([byte])
        elif op == 1:
            del out[i:i + 1]
        elif i < len(out):
            out[i] = byte
    return bytes(out)


def _nest(depth: int, opener: str, inner: bytes) -> bytes:
    close = {"[": "]", '{"a":': "}"}[opener]
    return opener.encode() * depth + inner + close.encode() * depth


def _padded(delta: int) -> bytes:
    """A captured body padded to `LIMIT + delta` bytes (a little under, at or over the limit)."""
    body = json.loads(CAPTURED[0])
    body["x-pad"] = ""
    base = len(_encode(body, True))
    body["x-pad"] = "p" * max(0, LIMIT + delta - base)
    return _encode(body, True)


_bodies = st.one_of(
    st.builds(_encode, _good_webhook, st.booleans()),
    st.builds(_encode, _good_webhook, st.booleans()),
    st.builds(_encode, _webhook, st.booleans()),
    st.builds(_encode, _json, st.booleans()),
    st.binary(max_size=300),
    st.builds(_mutate, st.sampled_from(CAPTURED),
              st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 2), st.integers(0, 255)), min_size=1,
                       max_size=4)),
    st.builds(lambda cut, raw: raw[:cut % len(raw)], st.integers(0, 2000), st.sampled_from(CAPTURED)),
    st.builds(_nest, st.integers(1, 3000), st.sampled_from(["[", '{"a":']),
              st.sampled_from([b"0", CAPTURED[0]])),
    st.builds(_padded, st.integers(-40, 40)),
)
GOOD = f"Bearer {TOKEN}"
_header_text = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
                       max_size=40)
_auth = st.one_of(
    st.just(GOOD), st.just(GOOD),
    st.sampled_from([None, "Bearer not-the-token", "Bearer ", f"Token {TOKEN}", f"Bearer {TOKEN}\xe9",
                     "Basic " + base64.b64encode(b"\xff\xfe:\x00").decode(), "Basic \xff!!"]),
    st.builds(lambda scheme, rest: f"{scheme} {rest}", st.sampled_from(["Bearer", "Basic", "bearer", "Digest"]),
              _header_text),
    st.builds(lambda raw: "Basic " + base64.b64encode(raw).decode(), st.binary(max_size=24)),
)  # the header as sent, or None for no header; only GOOD is the credential
_ctype = st.sampled_from(["application/json", "application/json", "text/plain; charset=latin-1", None,
                          "application/x-www-form-urlencoded"])


def _expected(payload: bytes) -> Any | None:
    """What the bot should store for `payload`, or None when it should refuse it (independently decoded)."""
    if len(payload) > LIMIT:
        return None
    try:
        value = decode_body(payload).value
        parse_webhook(value)
    except UsageError:
        return None
    return value


def _as_json(value: Any) -> Any:
    """`value` with every number as the decimal it is written as: PostgreSQL's jsonb keeps a number's decimal text
    (1.0598939438457907e+17 comes back as the integer 105989394384579070), SQLite keeps Python's float."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if isinstance(value, list):
        return [_as_json(v) for v in value]
    return {k: _as_json(v) for k, v in value.items()}


def _run(fake: FakeSlack, db_url: str) -> None:
    with capture_logs() as logs, BotThread(fake, SRE_BOT_ALERTMANAGER_TOKEN=TOKEN, SRE_BOT_DB_URL=db_url,
                                           SRE_BOT_ALERTMANAGER_MAX_BYTES=str(LIMIT)) as t:
        store = t.bot.deps.store
        statuses: Counter[int] = Counter()

        def rows() -> list[Any]:
            return [b for _, _, b in t.call(store.inbox_pending(limit=10_000))]

        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                         HealthCheck.filter_too_much])
        @given(payload=_bodies, auth=_auth, ctype=_ctype, chunked=st.booleans(), pieces=st.integers(1, 4))
        @example(payload=_padded(1), auth=GOOD, ctype="application/json", chunked=True, pieces=3)
        @example(payload=_nest(100_000, "[", b"0"), auth=GOOD, ctype="application/json", chunked=False, pieces=2)
        @example(payload=b'{"version":"4","alerts":[{"status":"firing","labels":{"a":"\\u0000\\ud800"},'
                         b'"startsAt":"2026-11-21T05:57:09Z","x":NaN}]}',
                 auth=GOOD, ctype="application/json", chunked=False, pieces=2)
        @example(payload=CAPTURED[1], auth=None, ctype="application/json", chunked=False, pieces=1)
        @example(payload=CAPTURED[1], auth="Bearer \xff\xfe", ctype="application/json", chunked=False, pieces=1)
        @example(payload=CAPTURED[1], auth="Basic \xff", ctype="application/json", chunked=False, pieces=1)
        def check(payload: bytes, auth: str | None, ctype: str | None, chunked: bool, pieces: int) -> None:
            before, known = rows(), len(logs.tracebacks())
            resp = t.call(send_raw(t.bot.url, payload, token=None, authorization=auth,
                                   content_type=ctype, chunked=chunked, pieces=pieces, timeout=20))
            after = rows()
            statuses[resp.status] += 1
            assert resp.status < 500, resp
            if auth != GOOD:
                assert resp.status == 401, resp
            expected = _expected(payload) if auth == GOOD else None
            if resp.status == 200:
                assert expected is not None, (payload[:200], resp)
                assert len(after) == len(before) + 1
                stored = after[-1]
                assert _as_json(stored) == _as_json(expected)
                assert len(parse_webhook(stored).alerts) == resp.json()["alerts"]
            else:
                assert expected is None or resp.status == 413, (payload[:200], resp)
                assert after == before, "a refusal left a row"
            assert logs.tracebacks()[known:] == []

        check()
        assert {200, 400, 401, 413} <= set(statuses), statuses  # every path was exercised
        print(f"statuses: {dict(sorted(statuses.items()))}")
        health = t.call(t.bot.http.get("/healthz"))
        assert health.status_code == 200
        ok = t.call(send_raw(t.bot.url, CAPTURED[0], token=TOKEN, pieces=3, pause=0.005))
        assert ok.status == 200, ok
        for body in rows():
            parse_webhook(body)
        assert not logs.tracebacks(), logs.tracebacks()


def test_fuzzed_alertmanager_requests_never_break_the_webhook(store_db: str) -> None:
    """Against SQLite and PostgreSQL: no 5xx, no traceback, still serving, and every stored row whole and parsing."""
    with FakeSlack.running() as fake:
        _run(fake, store_db)
