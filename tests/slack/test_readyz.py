"""`/readyz` is about this replica: ready while its store answers, whatever the backends do (a backend that is down
is reported as `degraded`); not ready when the store does not answer."""

from __future__ import annotations

from tests.fakes import free_port
from tests.harness import running_bot


async def test_ready_with_a_backend_down_and_not_ready_without_the_store(fake_slack):
    dead = f"http://127.0.0.1:{free_port()}"
    async with running_bot(fake_slack, incidents=False, PROMETHEUS_URL=dead, LOKI_URL=dead) as bot:
        ready = await bot.http.get("/readyz")
        assert ready.status_code == 200, ready.text
        body = ready.json()
        assert body["status"] == "ready" and sorted(body["degraded"]) == ["loki", "prometheus"]
        assert body["store"]["ok"] is True and body["backends"]["prometheus"]["ok"] is False
        assert bot.deps.store is not None
        await bot.deps.store.close()  # the database is gone: this replica can keep no approval, audit or alert
        gone = await bot.http.get("/readyz")
        assert gone.status_code == 503 and gone.json()["store"]["ok"] is False
        assert (await bot.http.get("/healthz")).status_code == 200  # alive, just not ready
