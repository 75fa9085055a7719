"""A real `sre-bot serve` killed with SIGKILL while Alertmanager bodies stream in (8 at a time, sharing group
commits) keeps every body it answered 200: each id it returned is in the inbox after the crash, with its alerts."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from sre_bot.store import open_store
from tests.fakes import free_port
from tests.fakes.slack_api import FakeSlack
from tests.harness import SECRET

TOKEN = "kill-test-token"


def _body(i: int) -> dict[str, object]:
    return {"version": "4", "status": "firing", "receiver": "sre-bot", "groupKey": f'{{}}:{{i="{i}"}}',
            "alerts": [{"status": "firing", "labels": {"alertname": "Kill", "service": f"svc-{i % 7}", "i": str(i),
                                                       "k": str(k)},
                        "startsAt": "2026-11-01T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z"} for k in range(5)]}


async def test_every_body_answered_200_survives_a_kill(tmp_path: Path, fake_slack: FakeSlack) -> None:
    """Bodies posted by 8 senders; serve is killed mid-stream; every id returned with a 200 is stored, whole."""
    db = tmp_path / "sre-bot.db"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SRE_BOT_", "SLACK_", "ANTHROPIC_", "ARGOCD_",
                                                                     "PROMETHEUS_", "LOKI_", "ALERTMANAGER_"))}
    (tmp_path / "sre-bot.yaml").write_text("services: {}\n")
    env |= {"SLACK_BOT_TOKEN": "xoxb-test-token", "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": fake_slack.api_url,
            "SRE_BOT_HTTP_HOST": "127.0.0.1", "SRE_BOT_HTTP_PORT": str(port),
            "SRE_BOT_CONFIG": str(tmp_path / "sre-bot.yaml"), "SRE_BOT_DB_URL": f"sqlite+aiosqlite:///{db}",
            "SRE_BOT_ALERTMANAGER_TOKEN": TOKEN, "SRE_BOT_LOG_FORMAT": "json"}
    log = tmp_path / "serve.log"
    proc = subprocess.Popen([sys.executable, "-m", "sre_bot", "serve"], env=env, cwd=tmp_path,
                            stdout=log.open("ab"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    answered: dict[int, int] = {}  # stored id -> body number
    try:
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            for _ in range(300):
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert proc.poll() is None, log.read_text()[-3000:]
                await asyncio.sleep(0.1)
            counter = iter(range(100_000))

            async def sender() -> None:
                while True:
                    i = next(counter)
                    try:
                        resp = await http.post("/alertmanager", json=_body(i),
                                               headers={"Authorization": f"Bearer {TOKEN}"})
                    except httpx.HTTPError:
                        return  # the server is gone
                    if resp.status_code != 200:
                        return
                    answered[resp.json()["stored"]] = i
                    if len(answered) == 150:
                        proc.send_signal(signal.SIGKILL)

            await asyncio.gather(*(sender() for _ in range(8)))
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
    assert len(answered) >= 150
    async with await open_store(f"sqlite+aiosqlite:///{db}") as s:
        rows = {rid: body for rid, _, body in await s.inbox_pending(limit=100_000)}
        async with s._engine.connect() as conn:  # the processed ones too
            done = (await conn.exec_driver_sql("SELECT id FROM alert_inbox WHERE processed_at IS NOT NULL")).all()
    kept = set(rows) | {r[0] for r in done}
    missing = sorted(set(answered) - kept)
    assert not missing, f"{len(missing)} bodies answered 200 were lost: {missing[:10]}"
    for rid, body in rows.items():
        if rid in answered:
            assert body == _body(answered[rid])
