"""`sre-bot sandbox --write-config` writes a config with every section (so a real workspace connected to the sandbox
can try every feature), `--send-alerts` replays the storm into a running bot's webhook, and `sre-bot runbook run`
runs a runbook from the terminal: audited, its fix printed with the `/sre run` line, never requested."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from sre_bot.config import load_config
from sre_bot.resources import shipped_runbooks_dir
from sre_bot.sandbox import Sandbox, load_scenario
from sre_bot.sandbox.bot_config import config_yaml, with_every_section
from sre_bot.store.store import open_store
from tests.harness import running_bot

_CLEARED = ("SLACK_", "SRE_BOT_", "PROMETHEUS_", "LOKI_", "ARGOCD_", "ALERTMANAGER_", "ANTHROPIC_")


def _env(**extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith(_CLEARED)}, **extra}


async def _sandbox_process(*args: str, cwd: Path, env: dict[str, str], until: tuple[str, ...] = (
        "Ctrl-C stops the sandbox",)) -> tuple[asyncio.subprocess.Process, str]:
    """A running `sre-bot sandbox ARGS`; returns it with what it printed up to a line with one of `until`."""
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "sre_bot", "sandbox", *args, cwd=cwd, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    seen = ""
    while not any(u in seen for u in until):
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        assert line, f"sandbox exited early: {seen}"
        seen += line.decode()
    return proc, seen


async def _stop(proc: asyncio.subprocess.Process) -> str:
    proc.send_signal(signal.SIGINT)
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    return out.decode()


async def test_write_config_has_every_section(tmp_path):
    proc, printed = await _sandbox_process("--port", "0", "--write-config", "sre-bot.yaml",
                                           "--approver", "U0123ABC", "--channel", "C0INCIDENTS",
                                           cwd=tmp_path, env=_env())
    try:
        assert "export SRE_BOT_CONFIG=sre-bot.yaml" in printed
        cfg = load_config(tmp_path / "sre-bot.yaml", required=True)
    finally:
        await _stop(proc)
    assert {s.name for s in cfg.services} >= {"checkout", "payments-api", "payments-db"}
    assert cfg.runbooks.dir is not None and sorted(p.name for p in cfg.runbooks.dir.glob("*.yaml")) == [
        "db-connection-pool.yaml", "high-error-rate-after-deploy.yaml", "pod-crash-loop.yaml",
        "pool-exhausted-restart.yaml"]
    assert cfg.actions.approvers.users == ["U0123ABC"] and cfg.actions.autonomy("argocd.rollback") == "approve"
    assert cfg.incidents.channel == "C0INCIDENTS" and cfg.signals  # the scenario's own signals too


async def test_without_an_approver_the_config_says_how_to_add_one(tmp_path):
    proc, _ = await _sandbox_process("--port", "0", "--write-config", "c.yaml", cwd=tmp_path,
                                     env=_env())
    await _stop(proc)
    text = (tmp_path / "c.yaml").read_text()
    assert "nobody yet, so actions are only suggested" in text and "--approver" in text
    assert load_config(tmp_path / "c.yaml", required=True).actions.approvers.empty


async def test_send_alerts_feeds_a_running_bots_webhook(tmp_path, fake_slack):
    """The storm reaches a real bot's POST /alertmanager (bearer token) and lands in its inbox; a wrong token is
    refused and said."""
    async with Sandbox(load_scenario("checkout-bad-deploy")) as sb, \
            running_bot(fake_slack, config=sb.config, incidents=False, SRE_BOT_ALERTMANAGER_TOKEN="t0ken",
                        **sb.urls.as_env()) as bot:
        done = ("Sent the scenario's alert storm", "was not delivered")
        proc, out = await _sandbox_process("--port", "0", "--send-alerts", f"{bot.url}/alertmanager",
                                           cwd=tmp_path, env=_env(SRE_BOT_ALERTMANAGER_TOKEN="t0ken"), until=done)
        await _stop(proc)
        assert "Sent the scenario's alert storm" in out, out
        assert await bot.deps.store.inbox_pending(limit=100)
        proc, out = await _sandbox_process("--port", "0", "--send-alerts", f"{bot.url}/alertmanager",
                                           cwd=tmp_path, env=_env(SRE_BOT_ALERTMANAGER_TOKEN="wrong"), until=done)
        await _stop(proc)
        assert "was not delivered" in out and "401" in out


@pytest.fixture
async def shop(tmp_path):
    async with Sandbox(load_scenario("checkout-bad-deploy")) as sb:
        cfg = with_every_section(sb.config, runbooks_dir=shipped_runbooks_dir(), approvers=["U0123ABC"])
        (tmp_path / "sre-bot.yaml").write_text(config_yaml(cfg))
        yield sb


async def _runbook_cli(tmp_path: Path, shop: Sandbox, *args: str) -> tuple[int, str, str]:
    env = _env(SRE_BOT_CONFIG=str(tmp_path / "sre-bot.yaml"), SRE_BOT_DB_URL=f"sqlite+aiosqlite:///{tmp_path}/b.db",
               **shop.urls.as_env())
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "sre_bot", "runbook", "run", *args,
                                                cwd=tmp_path, env=env, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_runbook_run_from_the_terminal(tmp_path, shop):
    code, out, err = await _runbook_cli(tmp_path, shop, "db-connection-pool", "payments-db")
    assert code == 0, err
    assert "Root cause found" in out and "too many clients" in out
    assert "ask for it in Slack with `/sre run argocd.rollback checkout`" in " ".join(out.split())  # wrapped at 100
    assert err == ""  # quiet: the answer only
    store = await open_store(f"sqlite+aiosqlite:///{tmp_path}/b.db")
    try:
        kinds = [r.kind for r in await store.latest(50)]
        assert "runbook_started" in kinds and "runbook_finished" in kinds
        assert "suggested" not in kinds and not await store.pending(shop.world.clock())  # nothing requested
    finally:
        await store.close()
    assert not [o for o in shop.world.operations if o["op"] == "rollback"]


@pytest.mark.parametrize(("args", "says"), [
    (("no-such-book",), "no runbook named `no-such-book`"),
    (("db-connection-pool", "chekout"), "unknown service `chekout`"),
    (("db-connection-pool",), "checks one service"),
])
async def test_runbook_run_mistakes_are_said_and_nothing_runs(tmp_path, shop, args, says):
    code, out, err = await _runbook_cli(tmp_path, shop, *args)
    assert code == 2 and says in err and "Traceback" not in err
