"""Honest when unconfigured, sensible about what people type: the real `sre-bot` CLI in a subprocess."""

from __future__ import annotations

import json
from pathlib import Path

from sre_bot.sandbox.bot_config import config_yaml
from sre_bot.sandbox.server import Sandbox
from tests.cli._run import run_cli


async def test_ask_with_nothing_configured_says_so_and_exits_2(tmp_path: Path) -> None:
    """No PROMETHEUS_URL, LOKI_URL, ARGOCD_URL or ALERTMANAGER_URL: what to set and `sre-bot demo`, exit 2."""
    code, out, err = await run_cli("ask", "why is checkout slow?", "--no-llm", env={}, cwd=tmp_path)
    assert code == 2
    assert out == ""
    assert err.startswith("sre-bot: nothing is configured to investigate: set PROMETHEUS_URL")
    assert "sre-bot demo" in err and "Insufficient evidence" not in err


async def test_doctor_with_nothing_configured_gives_the_next_step_and_exits_1(tmp_path: Path) -> None:
    """`doctor` with nothing set does not say all is good: "Nothing configured", what to set, `sre-bot demo`."""
    db = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    code, out, err = await run_cli("doctor", env={"SRE_BOT_DB_URL": db}, cwd=tmp_path)
    assert code == 1, out + err
    assert "All configured systems look good." not in out
    assert "Nothing configured: no system to investigate." in out
    assert "PROMETHEUS_URL" in out and "SLACK_BOT_TOKEN" in out and "sre-bot demo" in out
    assert err == ""


async def test_a_greeting_needs_nothing_configured(tmp_path: Path) -> None:
    """`ask "thanks!"` replies kindly with a hint of what to ask, exit 0, even before anything is set up."""
    code, out, err = await run_cli("ask", "thanks!", env={}, cwd=tmp_path)
    assert code == 0, err
    assert out.startswith("You're welcome!") and "why is" in out
    assert err == ""
    code, out, err = await run_cli("ask", "hi", "--json", env={}, cwd=tmp_path)
    assert code == 0, err
    assert json.loads(out)["reply"] == "greeting" and json.loads(out)["text"].startswith("Hi!")


async def test_ask_about_an_unknown_service_says_did_you_mean(shop: Sandbox, tmp_path: Path) -> None:
    """Against the sandbox, `ask "why is chekout slow?"` names `checkout` and exits 2 without investigating."""
    cfg = tmp_path / "sre-bot.yaml"
    cfg.write_text(config_yaml(shop.config))
    env = {**shop.urls.as_env(), "SRE_BOT_CONFIG": str(cfg)}
    code, out, err = await run_cli("ask", "why is chekout slow?", "--no-llm", env=env, cwd=tmp_path)
    assert code == 2
    assert out == ""
    assert "I don't know `chekout`. Did you mean `checkout`?" in err and "`payments-api`" in err
    code, out, err = await run_cli("ask", "what is broken?", "--no-llm", env=env, cwd=tmp_path)
    assert code == 0, err
    assert "checkout" in out and err == ""
