"""Real `sre-bot serve` processes sharing one PostgreSQL: the same click delivered to two replicas runs the action
once, and a replica killed with SIGKILL between approval and the target's answer leaves the request visibly
`executing`; after a restart it is shown as it is and never runs again."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import yaml

from tests.actions._support import ACTIONS, APPROVE, add_checkout, click, message_with, request_message
from tests.fakes import free_port
from tests.fakes.argocd import FakeArgoCD
from tests.fakes.slack_api import FakeSlack
from tests.harness import SECRET
from tests.slack_signing import post_signed, signed_headers, slash_command


class Replica:
    def __init__(self, name: str, env: dict[str, str], cwd: Path) -> None:
        self.name, self.env, self.cwd = name, env, cwd
        self.port = int(env["SRE_BOT_HTTP_PORT"])
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log = cwd / f"{name}.log"

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "sre_bot", "serve"], env=self.env, cwd=self.cwd,
                                     stdout=self.log.open("ab"), stderr=subprocess.STDOUT)

    async def ready(self, timeout: float = 30) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        async with httpx.AsyncClient() as http:
            while loop.time() < end:
                assert self.proc is not None and self.proc.poll() is None, self.log.read_text()[-3000:]
                try:
                    if (await http.get(f"{self.url}/healthz", timeout=1)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"{self.name} did not come up:\n{self.log.read_text()[-3000:]}")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    async def post(self, body) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.url, timeout=20) as http:
            return await post_signed(http, "/slack/events", body, signed_headers(SECRET, body))


@contextmanager
def replicas(tmp_path: Path, fake: FakeSlack, argo: FakeArgoCD, db_url: str, n: int = 2) -> Iterator[list[Replica]]:
    config = {"services": {"checkout": {"namespace": "shop"}}, "actions": ACTIONS}
    (tmp_path / "sre-bot.yaml").write_text(yaml.safe_dump(config))
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SRE_BOT_", "SLACK_", "ANTHROPIC_", "ARGOCD_",
                                                                      "PROMETHEUS_", "LOKI_", "ALERTMANAGER_"))}
    base |= {"SLACK_BOT_TOKEN": "xoxb-test-token", "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": fake.api_url,
             "SRE_BOT_HTTP_HOST": "127.0.0.1", "SRE_BOT_CONFIG": str(tmp_path / "sre-bot.yaml"),
             "SRE_BOT_DB_URL": db_url, "ARGOCD_URL": argo.url, "ARGOCD_TOKEN": "test-token",
             "SRE_BOT_LOG_FORMAT": "json", "ANTHROPIC_BASE_URL": "http://127.0.0.1:9"}
    reps = [Replica(f"replica-{i}", {**base, "SRE_BOT_HTTP_PORT": str(free_port())}, tmp_path) for i in range(n)]
    try:
        yield reps
    finally:
        for r in reps:
            r.stop()


async def _ask_rollback(rep: Replica, fake: FakeSlack, count: int, extra: str = "") -> dict:
    await rep.post(slash_command(text=f"run argocd.rollback checkout {extra}".strip(), user_id="W111",
                                 response_url=fake.response_url("run")))
    await fake.wait_for("chat.postMessage", count, timeout=20)
    return request_message(fake)


async def test_two_replicas_sharing_postgres_run_the_same_click_once(tmp_path: Path, fake_slack: FakeSlack,
                                                                     argocd_server: FakeArgoCD, pg_url: str) -> None:
    """Twenty clicks on the same Approve button (each its own Slack request; identical bytes would be a refused replay),
    ten to each of two processes at once: one rollback, nineteen refusals."""
    add_checkout(argocd_server)
    with replicas(tmp_path, fake_slack, argocd_server, pg_url) as (a, b):
        a.start(), b.start()
        await asyncio.gather(a.ready(), b.ready())
        msg = await _ask_rollback(a, fake_slack, 1)
        resps = await asyncio.gather(*(rep.post(click(APPROVE, msg, user="W222")) for rep in (a, b) * 10))
        assert all(r.status_code == 200 for r in resps)
        await fake_slack.wait_for("chat.postEphemeral", 19, timeout=30)
        await message_with(fake_slack, "done", timeout=20)  # the winner's outcome, drawn after Argo CD answered
        assert [o["op"] for o in argocd_server.operations] == ["rollback"]


async def test_kill_9_between_approval_and_outcome_never_runs_twice(tmp_path: Path, fake_slack: FakeSlack,
                                                                    argocd_server: FakeArgoCD, pg_url: str) -> None:
    """Approval claimed, rollback sent, the replica SIGKILLed before Argo CD answers: after a restart the request
    is shown as executing with its outcome unknown, and further clicks on any replica are refused."""
    add_checkout(argocd_server)
    hold = threading.Event()
    argocd_server.hold_writes = hold
    with replicas(tmp_path, fake_slack, argocd_server, pg_url) as (a, b):
        a.start(), b.start()
        await asyncio.gather(a.ready(), b.ready())
        msg = await _ask_rollback(a, fake_slack, 1)
        body = click(APPROVE, msg, user="W222")
        click_task = asyncio.create_task(a.post(body))
        for _ in range(200):
            if argocd_server.operations:
                break
            await asyncio.sleep(0.05)
        assert len(argocd_server.operations) == 1  # the rollback reached Argo CD, which has not answered
        a.kill9()
        await asyncio.gather(click_task, return_exceptions=True)
        hold.set()
        a.start()
        await a.ready()
        for rep in (a, b):
            await rep.post(click(APPROVE, msg, user="W222"))  # a new click: the first one's bytes would be a replay
        [eph, *_] = await fake_slack.wait_for("chat.postEphemeral", 2, timeout=20)
        assert "Already executing" in eph.args["text"]
        shown = json.dumps(request_message(fake_slack)["blocks"])
        assert "executing since" in shown and "outcome is unknown" in shown and "will not run" in shown
        assert APPROVE not in shown
        assert len(argocd_server.operations) == 1
