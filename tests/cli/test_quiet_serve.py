"""`sre-bot serve` keeps its own INFO lines (its operations record) without the libraries' noise."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx

from sre_bot.sandbox.bot_config import config_yaml
from sre_bot.sandbox.server import Sandbox
from tests.fakes import free_port
from tests.fakes.slack_api import FakeSlack
from tests.harness import SECRET
from tests.slack_signing import post_signed, signed_headers, slash_command


async def _ready(url: str, proc: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    async with httpx.AsyncClient() as http:
        while loop.time() < end:
            assert proc.poll() is None, log.read_text()[-3000:]
            try:
                if (await http.get(f"{url}/healthz", timeout=1)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"serve did not come up:\n{log.read_text()[-3000:]}")


async def test_serve_logs_its_own_lines_and_not_the_libraries(fake_slack: FakeSlack, shop: Sandbox,
                                                              tmp_path: Path) -> None:
    """A fresh store (every migration runs) and one answered command: the log has the bot's "command answered"
    line, and no Alembic ("Running upgrade", "setup plugin") or httpx ("HTTP Request") lines."""
    cfg = tmp_path / "sre-bot.yaml"
    cfg.write_text(config_yaml(shop.config))
    port = free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SRE_BOT_", "SLACK_", "ANTHROPIC_", "ARGOCD_",
                                                                      "PROMETHEUS_", "LOKI_", "ALERTMANAGER_"))}
    env = {**base, **shop.urls.as_env(), "SLACK_BOT_TOKEN": "xoxb-test-token", "SLACK_SIGNING_SECRET": SECRET,
           "SLACK_API_URL": fake_slack.api_url, "SRE_BOT_HTTP_HOST": "127.0.0.1", "SRE_BOT_HTTP_PORT": str(port),
           "SRE_BOT_CONFIG": str(cfg), "SRE_BOT_DB_URL": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
           "SRE_BOT_LOG_FORMAT": "json"}
    log = tmp_path / "serve.log"
    proc = subprocess.Popen([sys.executable, "-m", "sre_bot", "serve"], env=env, cwd=tmp_path,
                            stdout=log.open("ab"), stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        await _ready(url, proc, log)
        body = slash_command(text="status checkout", response_url=fake_slack.response_url())
        async with httpx.AsyncClient(base_url=url, timeout=20) as http:
            await post_signed(http, "/slack/events", body, signed_headers(SECRET, body))
        await fake_slack.wait_for("response_url", timeout=20)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    text = log.read_text()
    assert '"command answered"' in text and '"level": "info"' in text
    for noise in ("Running upgrade", "setup plugin", "HTTP Request", "Context impl"):
        assert noise not in text, text[-3000:]
