"""Issue 14 item 10: a body `POST /alertmanager` accepts is one both stores keep. A NUL or a lone surrogate in a label,
a key or an annotation is replaced by U+FFFD and the alert kept (and said in the log); NaN and Infinity are kept as
strings; nesting deeper than 64 levels is a 400 that says so. Never a 503 that Alertmanager would retry forever,
never a 500 — on SQLite and on PostgreSQL, through the real endpoint and on into an incident."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sre_bot.alert_payloads import fingerprint, parse_webhook
from sre_bot.config import parse_config
from tests.fakes.slack_api import FakeSlack
from tests.hardening._alert_wire import capture_logs
from tests.harness import running_bot
from tests.incidents._storm import CHANNEL, eventually
from tests.store.conftest import pg_url, postgres_available, sqlite_url  # noqa: F401  (fixtures)

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "alertmanager"
TOKEN = "am-webhook-token"
AUTH = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
CONFIG = parse_config({"services": [{"name": "payment"}],
                       "incidents": {"channel": CHANNEL, "every": "1s", "investigate": False}})
FFFD = "\ufffd"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_db(request: pytest.FixtureRequest) -> str:
    """A fresh database URL: a SQLite file, then a PostgreSQL schema (the store tests' fixtures)."""
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))


def _crashloop(status: str = "firing") -> dict[str, Any]:
    name = "webhook_v4_01_firing_crashloop.json" if status == "firing" else "webhook_v4_05_resolved_crashloop.json"
    return json.loads((FIXTURES / name).read_text())


def _text(body: dict[str, Any], **replace: str) -> bytes:
    """The body as JSON text, with each placeholder string `"@name@"` replaced by raw JSON text."""
    text = json.dumps(body)
    for name, raw in replace.items():
        text = text.replace(f'"@{name}@"', raw)
    return text.encode()


async def _rows(bot: Any) -> list[Any]:
    return [b for _, _, b in await bot.deps.store.inbox_pending(limit=1000)]


async def _incident_alerts(bot: Any) -> list[Any]:
    out = []
    for summary in await bot.deps.store.incidents.listing(open_only=False):
        out.extend(await bot.deps.store.incidents.alerts(summary.key))
    return out


async def test_a_nul_in_a_label_is_replaced_and_the_alert_kept_through_to_its_incident(fake_slack: FakeSlack,
                                                                                        store_db: str) -> None:
    """A pod label with a NUL (as Alertmanager would send it, with its own fingerprint) is stored with U+FFFD in its
    place, the log says so, and the alert opens an incident that its resolved notification later closes."""
    firing, resolved = _crashloop(), _crashloop("resolved")
    pod = firing["alerts"][0]["labels"]["pod"]
    for body in (firing, resolved):
        body["alerts"][0]["labels"]["pod"] = "@pod@"
        body["alerts"][0]["fingerprint"] = fingerprint({**body["alerts"][0]["labels"], "pod": pod + "\x00x"})
    async with running_bot(fake_slack, config=CONFIG, SRE_BOT_ALERTMANAGER_TOKEN=TOKEN,
                           SRE_BOT_DB_URL=store_db) as bot:
        with capture_logs() as logs:
            r = await bot.http.post("/alertmanager", content=_text(firing, pod=json.dumps(pod + "\x00x")),
                                    headers=AUTH)
        assert r.status_code == 200, r.text
        [warning] = [e for e in logs.entries if e["event"] == "alert notification stored with changes"]
        assert any("alerts[0].labels.pod: 1 NUL character in the value replaced by U+FFFD" in c
                   for c in warning["changes"]), warning
        assert not logs.tracebacks()

        async def settled() -> bool:
            return not await bot.deps.store.inbox_pending() and not await bot.deps.store.incidents.to_publish()

        await eventually(settled, what="the firing notification in an incident")
        [alert] = await _incident_alerts(bot)
        assert alert.event.labels["pod"] == f"{pod}{FFFD}x"
        r = await bot.http.post("/alertmanager", content=_text(resolved, pod=json.dumps(pod + "\x00x")),
                                headers=AUTH)
        assert r.status_code == 200, r.text
        await eventually(settled, what="the resolved notification")
        [one] = await bot.deps.store.incidents.listing(open_only=False)
        assert one.incident.resolved and len(await _incident_alerts(bot)) == 1


@pytest.mark.parametrize("case", ["label key", "annotation", "extra field", "surrogate pair kept"])
async def test_nul_and_lone_surrogates_anywhere_are_replaced_and_stored(fake_slack: FakeSlack, store_db: str,
                                                                        case: str) -> None:
    """A NUL in a label name, a lone surrogate in an annotation or in a field the bot does not read: 200, stored with
    U+FFFD, the row parses back; a proper surrogate pair (an emoji written as two escapes) is kept unchanged."""
    body = _crashloop()
    alert = body["alerts"][0]
    raw: dict[str, str] = {}
    if case == "label key":
        alert["labels"] = {**alert["labels"], "@key@": "k"}
        text = _text(body).replace(b'"@key@"', b'"team\\u0000name"')
        expect = ("labels", f"team{FFFD}name", "k")
    elif case == "annotation":
        alert["annotations"]["summary"] = "@s@"
        raw = {"s": '"crash \\ud800 loop \\udfff"'}
        expect = ("annotations", "summary", f"crash {FFFD} loop {FFFD}")
    elif case == "extra field":
        body["x-sender"] = {"note": "@n@"}
        raw = {"n": '"a\\u0000b\\ud83d"'}
        expect = ("x-sender", "note", f"a{FFFD}b{FFFD}")
    else:
        alert["annotations"]["summary"] = "@s@"
        raw = {"s": '"fire \\ud83d\\udd25"'}
        expect = ("annotations", "summary", "fire \U0001f525")
    if case != "label key":
        text = _text(body, **raw)
    async with running_bot(fake_slack, incidents=False, SRE_BOT_ALERTMANAGER_TOKEN=TOKEN,
                           SRE_BOT_DB_URL=store_db) as bot:
        with capture_logs() as logs:
            r = await bot.http.post("/alertmanager", content=text, headers=AUTH)
        assert r.status_code == 200, r.text
        [stored] = await _rows(bot)
        where, key, value = expect
        container = stored["alerts"][0] if where in ("labels", "annotations") else stored
        assert container[where][key] == value
        parse_webhook(stored)  # the stored row parses
        changed = [e for e in logs.entries if e["event"] == "alert notification stored with changes"]
        assert bool(changed) == (case != "surrogate pair kept")
        assert not logs.tracebacks()


async def test_nan_and_infinity_are_kept_as_strings(fake_slack: FakeSlack, store_db: str) -> None:
    """NaN, Infinity, -Infinity and 1e400 (beyond a double) in fields the bot does not read: 200 and stored as the
    strings they were written as, on both stores; the log lists each change."""
    body = _crashloop()
    body["value"] = "@nan@"
    body["alerts"][0]["x-values"] = ["@inf@", "@minf@", "@big@", 1.5]
    text = _text(body, nan="NaN", inf="Infinity", minf="-Infinity", big="1e400")
    async with running_bot(fake_slack, incidents=False, SRE_BOT_ALERTMANAGER_TOKEN=TOKEN,
                           SRE_BOT_DB_URL=store_db) as bot:
        with capture_logs() as logs:
            r = await bot.http.post("/alertmanager", content=text, headers=AUTH)
        assert r.status_code == 200, r.text
        [stored] = await _rows(bot)
        assert stored["value"] == "NaN"
        assert stored["alerts"][0]["x-values"] == ["Infinity", "-Infinity", "1e400", 1.5]
        [warning] = [e for e in logs.entries if e["event"] == "alert notification stored with changes"]
        assert "value: NaN is not a JSON number; kept as the string 'NaN'" in warning["changes"]
        assert len(warning["changes"]) == 4


async def test_nan_where_a_number_is_required_is_a_400(fake_slack: FakeSlack, store_db: str) -> None:
    """`truncatedAlerts: NaN` is refused with the field named, nothing stored."""
    body = _crashloop()
    body["truncatedAlerts"] = "@nan@"
    async with running_bot(fake_slack, incidents=False, SRE_BOT_ALERTMANAGER_TOKEN=TOKEN,
                           SRE_BOT_DB_URL=store_db) as bot:
        r = await bot.http.post("/alertmanager", content=_text(body, nan="NaN"), headers=AUTH)
        assert r.status_code == 400 and "truncatedAlerts" in r.json()["error"], r.text
        assert await _rows(bot) == []


@pytest.mark.parametrize("depth", [65, 1_001, 100_000])
async def test_deep_nesting_is_a_400_that_says_why(fake_slack: FakeSlack, store_db: str, depth: int) -> None:
    """An extra field nested 65, 1,001 or 100,000 levels deep: 400 naming the limit, nothing stored, no traceback."""
    body = _crashloop()
    body["x-deep"] = "@deep@"
    text = _text(body, deep="[" * depth + "]" * depth)
    async with running_bot(fake_slack, incidents=False, SRE_BOT_ALERTMANAGER_TOKEN=TOKEN,
                           SRE_BOT_DB_URL=store_db) as bot:
        with capture_logs() as logs:
            r = await bot.http.post("/alertmanager", content=text, headers=AUTH)
        assert r.status_code == 400, r.text
        assert "nested deeper than 64 levels" in r.json()["error"]
        assert await _rows(bot) == [] and not logs.tracebacks()
        ok = _crashloop()
        ok["x-deep"] = "@deep@"
        r = await bot.http.post("/alertmanager", content=_text(ok, deep="[" * 60 + "]" * 60), headers=AUTH)
        assert r.status_code == 200, r.text  # within the limit: kept as sent
        [stored] = await _rows(bot)
        assert stored == json.loads(_text(ok, deep="[" * 60 + "]" * 60))


async def test_an_alert_with_the_zero_start_time_costs_no_other_alert_of_its_body(fake_slack: FakeSlack,
                                                                                 store_db: str) -> None:
    """One alert whose `startsAt` is Go's zero time no longer turns the whole body into a 400 (which Alertmanager
    drops): it is stored, the receive time stands in for it, and both alerts of the body reach an incident."""
    body = _crashloop()
    good = body["alerts"][0]
    bad = json.loads(json.dumps(good))
    bad["labels"]["pod"] = good["labels"]["pod"] + "-zero"
    bad["startsAt"] = "0001-01-01T00:00:00Z"
    bad.pop("fingerprint", None)
    body["alerts"] = [good, bad]
    async with running_bot(fake_slack, config=CONFIG, SRE_BOT_ALERTMANAGER_TOKEN=TOKEN,
                           SRE_BOT_DB_URL=store_db) as bot:
        r = await bot.http.post("/alertmanager", content=_text(body), headers=AUTH)
        assert r.status_code == 200, r.text

        async def settled() -> bool:
            return not await bot.deps.store.inbox_pending() and not await bot.deps.store.incidents.to_publish()

        await eventually(settled, what="the notification in an incident")
        pods = sorted(a.event.labels["pod"] for a in await _incident_alerts(bot))
    assert pods == sorted([good["labels"]["pod"], bad["labels"]["pod"]])
    message = parse_webhook(body, received_at=None)
    assert any("zero time" in n for n in message.notes)
