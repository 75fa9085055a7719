"""Issue 14 item 1: `POST /alertmanager` reads the whole body however it arrives on the socket (several writes with
pauses, chunked transfer encoding in pieces, 3,000 and 10,000 alerts), and refuses one over the limit with a 413
that says what to change, without reading the rest of it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.fakes.slack_api import FakeSlack
from tests.hardening._alert_wire import realistic_body, send_raw, split
from tests.harness import running_bot
from tests.store.conftest import pg_url, postgres_available, sqlite_url  # noqa: F401  (fixtures)

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "alertmanager"
TOKEN = "am-webhook-token"
PAUSES = [0.005, 0.05, 0.02, 0.01, 0.035]


@pytest.fixture(params=["sqlite", "postgresql"])
def store_db(request: pytest.FixtureRequest) -> str:
    """A fresh database URL: a SQLite file, then a PostgreSQL schema (the store tests' fixtures)."""
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))


def _compact(body: object) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


async def _stored(bot) -> list[object]:
    return [b for _, _, b in await bot.deps.store.inbox_pending(limit=1000)]


@pytest.mark.parametrize("pause", PAUSES)
async def test_a_body_written_in_several_pieces_with_pauses_is_stored_whole(fake_slack: FakeSlack,
                                                                            pause: float) -> None:
    """A captured Alertmanager body sent as five TCP writes `pause` seconds apart is answered 200 and stored as sent."""
    raw = (FIXTURES / "webhook_v4_02_firing_higherrorrate_2alerts.json").read_bytes()
    async with running_bot(fake_slack, incidents=False, SRE_BOT_ALERTMANAGER_TOKEN=TOKEN) as bot:
        resp = await send_raw(bot.url, raw, token=TOKEN, pieces=5, pause=pause)
        assert resp.status == 200, resp
        assert resp.json() == {"status": "ok", "stored": 1, "alerts": 2}
        assert await _stored(bot) == [json.loads(raw)]


@pytest.mark.parametrize("pieces", [2, 7, 64])
async def test_a_chunked_body_sent_in_pieces_is_stored_whole(fake_slack: FakeSlack, pieces: int) -> None:
    """Transfer-Encoding: chunked, one chunk per write with pauses between them: 200 and stored as sent."""
    body = realistic_body(40)
    async with running_bot(fake_slack, incidents=False, SRE_BOT_ALERTMANAGER_TOKEN=TOKEN) as bot:
        resp = await send_raw(bot.url, _compact(body), token=TOKEN, chunked=True, pieces=pieces, pause=0.01)
        assert resp.status == 200, resp
        assert resp.json()["alerts"] == 40
        assert await _stored(bot) == [body]


@pytest.mark.parametrize("alerts", [3000, 10000])
async def test_storm_sized_bodies_are_stored_whole_under_the_default_limit(fake_slack: FakeSlack, store_db: str,
                                                                          alerts: int) -> None:
    """3,000 and 10,000 kube-prometheus alerts in one notification (about 1 KB each, 2.9 MB and 9.8 MB), written in
    pieces with pauses and also chunked, fit the default limit: both 200, and the inbox holds exactly what was sent."""
    body = realistic_body(alerts)
    raw = _compact(body)
    async with running_bot(fake_slack, incidents=False, SRE_BOT_ALERTMANAGER_TOKEN=TOKEN,
                           SRE_BOT_DB_URL=store_db) as bot:
        assert len(raw) <= bot.deps.settings.alert_webhook_max_bytes
        plain = await send_raw(bot.url, raw, token=TOKEN, pieces=30, pause=0.005)
        chunked = await send_raw(bot.url, raw, token=TOKEN, chunked=True, pieces=30, pause=0.005)
        assert (plain.status, chunked.status) == (200, 200), (plain, chunked)
        assert plain.json()["alerts"] == chunked.json()["alerts"] == alerts
        assert await _stored(bot) == [body, body]


async def test_a_body_over_the_limit_is_refused_before_it_is_all_sent(fake_slack: FakeSlack) -> None:
    """Over SRE_BOT_ALERTMANAGER_MAX_BYTES the answer is 413 naming the setting and max_alerts: at once for a
    Content-Length over it, and for a chunked body as soon as the limit is passed, while the sender still has data
    to send (the rest is never read); nothing is stored."""
    limit = 2**16
    async with running_bot(fake_slack, incidents=False, SRE_BOT_ALERTMANAGER_TOKEN=TOKEN,
                           SRE_BOT_ALERTMANAGER_MAX_BYTES=str(limit)) as bot:
        declared = await send_raw(bot.url, b"", token=TOKEN,
                                  extra_headers={"Content-Length": str(limit + 1)}, timeout=5)
        assert declared.status == 413, declared
        assert "SRE_BOT_ALERTMANAGER_MAX_BYTES" in declared.json()["error"]
        assert "max_alerts" in declared.json()["error"]

        host, port = bot.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            writer.write(f"POST /alertmanager HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {TOKEN}\r\n"
                         "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
            for piece in split(b"[" + b"0," * limit, 8):
                writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                await writer.drain()
            # the body is not finished (no last chunk): the answer must come anyway
            status_line = await asyncio.wait_for(reader.readline(), 5)
            assert status_line.split()[1] == b"413", status_line
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert b"content-length" in head.lower()
        finally:
            writer.close()
        assert await _stored(bot) == []


async def test_a_sender_that_hangs_up_mid_body_gets_nothing_stored(fake_slack: FakeSlack) -> None:
    """A sender that disconnects halfway through its body leaves no row, and the server keeps answering."""
    raw = _compact(realistic_body(20))
    async with running_bot(fake_slack, incidents=False, SRE_BOT_ALERTMANAGER_TOKEN=TOKEN) as bot:
        host, port = bot.url.removeprefix("http://").split(":")
        _, writer = await asyncio.open_connection(host, int(port))
        writer.write(f"POST /alertmanager HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {TOKEN}\r\n"
                     f"Content-Type: application/json\r\nContent-Length: {len(raw)}\r\n\r\n".encode()
                     + raw[: len(raw) // 2])
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.close()
        await asyncio.sleep(0.1)
        assert await _stored(bot) == []
        ok = await send_raw(bot.url, raw, token=TOKEN, pieces=3, pause=0.005)
        assert ok.status == 200 and len(await _stored(bot)) == 1
