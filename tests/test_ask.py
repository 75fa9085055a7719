"""`sre-bot ask` end to end: the real CLI process, the bot's real clients, the sandbox shop on loopback."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from sre_bot.investigation import ENGINE_VERSION
from sre_bot.sandbox import load_scenario
from sre_bot.sandbox.bot_config import config_yaml
from sre_bot.sandbox.server import Sandbox
from tests.fakes import free_port

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
async def shop(tmp_path):
    async with Sandbox(load_scenario()) as sb:
        cfg = tmp_path / "sre-bot.yaml"
        cfg.write_text(config_yaml(sb.config))
        yield sb, cfg


async def _ask(env: dict[str, str], *args: str, cwd: Path) -> tuple[int, str, str]:
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("SLACK_", "SRE_BOT_", "PROMETHEUS_", "LOKI_", "ARGOCD_", "ALERTMANAGER_"))}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sre_bot", "ask", *args, cwd=cwd, env={**base, **env},
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    return proc.returncode, out.decode(), err.decode()


async def test_ask_json_names_the_bad_deploy_with_quoted_evidence(shop, tmp_path):
    """`ask --json "why is payments-api slow?"` ranks checkout's deploy first, every evidence item quoted and linked."""
    sb, cfg = shop
    code, out, err = await _ask({**sb.urls.as_env(), "SRE_BOT_CONFIG": str(cfg)}, "why is payments-api slow?",
                                "--json", cwd=tmp_path)
    assert code == 0, err
    data = json.loads(out)
    assert {"summary", "window", "hypotheses", "checked", "gaps"} <= set(data)
    top = data["hypotheses"][0]
    assert top["service"] == "checkout" and "bad deploy" in top["cause"] and 0 < top["confidence"] <= 1
    for ev in top["evidence"]:
        assert {"id", "source", "query", "quote", "url"} <= set(ev) and ev["quote"]
    assert any(ev["source"] == "argocd" and "4f1c2e9" in ev["quote"] for ev in top["evidence"])
    assert data["gaps"] == [] and not data["insufficient_evidence"]


async def test_ask_healthy_service_is_insufficient_evidence(shop, tmp_path):
    """A service whose signals and dependencies are normal gets "insufficient evidence", not a guess."""
    sb, cfg = shop
    code, out, err = await _ask({**sb.urls.as_env(), "SRE_BOT_CONFIG": str(cfg)}, "why is catalog slow?", "--json",
                                cwd=tmp_path)
    data = json.loads(out)
    assert code == 0 and data["insufficient_evidence"] and data["hypotheses"] == []
    assert data["summary"].startswith("Insufficient evidence")


async def test_ask_at_a_past_time_before_the_incident(shop, tmp_path):
    """`--at` two hours ago (before the incident) looks at that window and finds nothing to blame."""
    sb, cfg = shop
    at = (datetime.now(timezone.utc) - timedelta(hours=2)).isoformat()
    code, out, err = await _ask({**sb.urls.as_env(), "SRE_BOT_CONFIG": str(cfg)}, "why is checkout failing?",
                                "--at", at, "--window", "30m", "--json", cwd=tmp_path)
    data = json.loads(out)
    assert code == 0, err
    end = datetime.fromisoformat(data["window"]["end"])
    assert abs((end - datetime.fromisoformat(at)).total_seconds() - 450) < 5
    assert data["insufficient_evidence"]


async def test_ask_with_loki_down_says_what_it_could_not_check(shop, tmp_path):
    """With Loki unreachable the answer still ranks causes from metrics and deploys, and lists the gap."""
    sb, cfg = shop
    env = {**sb.urls.as_env(), "SRE_BOT_CONFIG": str(cfg), "LOKI_URL": f"http://127.0.0.1:{free_port()}"}
    code, out, err = await _ask(env, "why is payments-api slow?", "--json", cwd=tmp_path)
    data = json.loads(out)
    assert code == 0, err
    assert any("Loki" in g for g in data["gaps"])
    assert data["hypotheses"][0]["service"] == "checkout"


async def test_ask_text_output_and_bad_arguments(shop, tmp_path):
    """Plain output shows the summary and timeline; a bad --at is one clear line and exit 2."""
    sb, cfg = shop
    env = {**sb.urls.as_env(), "SRE_BOT_CONFIG": str(cfg)}
    code, out, _ = await _ask(env, "why is payments-api slow?", cwd=tmp_path)
    assert code == 0 and "likely bad deploy of checkout" in out and "Timeline" in out
    code, _, err = await _ask(env, "why?", "--at", "the dawn of time", cwd=tmp_path)
    assert code == 2 and "not a time" in err and "Traceback" not in err


async def test_ask_uses_the_model_when_a_key_is_set_and_no_llm_forces_the_engine(shop, tmp_path):
    """With ANTHROPIC_API_KEY the model answers (and the output says so); `--no-llm` gives the engine's answer."""
    from tests.fakes.anthropic_api import FakeAnthropic
    from tests.llm._script import answer, find

    sb, cfg = shop
    with FakeAnthropic() as model:
        model.enqueue(lambda body: answer(
            summary="checkout's deploy 4f1c2e9 started it.",
            hypotheses=[{"service": "checkout", "cause": "bad deploy of checkout", "confidence": 0.7,
                         "quotes": [{"evidence_id": find(body, "4f1c2e9")[0], "text": find(body, "4f1c2e9")[1]}]}]))
        env = {**sb.urls.as_env(), "SRE_BOT_CONFIG": str(cfg), "ANTHROPIC_API_KEY": "test-key",
               "ANTHROPIC_BASE_URL": model.url}
        code, out, err = await _ask(env, "why is payments-api slow?", "--json", cwd=tmp_path)
        assert code == 0, err
        data = json.loads(out)
        assert data["answered_by"] == "llm" and data["llm"]["model"] == "claude-sonnet-5-5"
        assert data["llm"]["hypotheses"][0]["quotes"] and data["llm"]["needs_human_check"] is True
        assert data["llm"]["usage"]["requests"] == 1 and data["llm"]["usage"]["cost_usd"] > 0
        code, out, err = await _ask(env, "why is payments-api slow?", cwd=tmp_path)  # script is empty now
        assert code == 0, err
        assert "statistics engine" in out and "Anthropic API" in out  # the 500 fell back to the engine
        code, out, err = await _ask(env, "why is payments-api slow?", "--no-llm", cwd=tmp_path)
        assert code == 0, err
        assert f"Answered by the statistics engine ({ENGINE_VERSION}); no LLM: --no-llm was given" in out
        assert model.unscripted == 1 and len(model.bodies) == 2
