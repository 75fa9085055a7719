"""Issue 14 item 4: the secret shapes found in recorded request bodies and the LLM audit file no longer get there.

Each shape sits in a log line of the sandbox shop (served by its Loki over HTTP) and, for some, in an alert's
annotations; a mention asks why payments-api is slow, the real anthropic SDK talks to the fake Messages API, which
records every byte sent, and the bot writes its LLM audit file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from sre_bot.llm.redact import Redactor
from sre_bot.sandbox.scenario import parse_scenario, scenario_path
from sre_bot.sandbox.server import Sandbox
from tests.fakes.anthropic_api import FakeAnthropic, call, tool_use
from tests.fakes.slack_api import FakeSlack
from tests.llm._script import answer, find
from tests.llm.secrets_corpus import BENIGN_LINES, ISSUE_14_SHAPES
from tests.llm.test_llm_safety import _run


@pytest.fixture
def model() -> Any:
    with FakeAnthropic() as m:
        yield m


async def test_secrets_in_loki_lines_reach_neither_the_model_nor_the_audit(fake_slack: FakeSlack, model: Any,
                                                                           tmp_path: Path) -> None:
    """Every issue-14 shape, logged by payments-api and returned by Loki (some also in alert annotations), is
    absent from every request body and from the audit file, its placeholder is there instead, and benign near
    misses (`mysql -p`, `redis-cli -h`, cookie prose, a header dump without secrets) arrive unchanged."""
    planted = [line for _, line, _ in ISSUE_14_SHAPES]
    near_misses = BENIGN_LINES[-12:]
    audit = tmp_path / "llm-audit.jsonl"
    model.enqueue(
        tool_use(call("search_logs", {"service": "payments-api", "text": "leak:", "errors_only": False, "limit": 500}),
                 call("search_logs", {"service": "payments-api", "text": "fine:", "errors_only": False, "limit": 500}),
                 call("firing_alerts", {"service": "checkout"})),
        lambda body: answer(summary="Credentials are being logged by payments-api.",
                            hypotheses=[{"service": "payments-api", "cause": "secrets in logs", "confidence": 0.5,
                                         "quotes": [{"evidence_id": find(body, "leak:")[0],
                                                     "text": find(body, "leak:")[1]}]}]))
    async with Sandbox(_shop({"leak:": planted, "fine:": near_misses}, planted[:10])) as sb:
        await _run(fake_slack, sb, model, SRE_BOT_LLM_TOOL_RESULT_TOKENS="50000", SRE_BOT_LLM_AUDIT_PATH=str(audit))
    model.assert_clean()
    sent = model.all_text_sent()
    assert [name for name, _, secret in ISSUE_14_SHAPES if secret in sent] == []
    kinds = {name.split("/")[0] for name, _, _ in ISSUE_14_SHAPES}
    assert [k for k in sorted(kinds) if f"[REDACTED:{k}]" not in sent] == []
    redactor = Redactor()  # every line was sent, as the redactor leaves it; the near misses exactly as logged
    assert [line for line in planted if f"leak: {redactor.redact(line.replace(chr(10), ' '))}" not in sent] == []
    assert [line for line in near_misses if f"fine: {line}" not in sent] == []
    kept = audit.read_text()
    assert [name for name, _, secret in ISSUE_14_SHAPES if secret in kept] == []
    assert len([json.loads(x) for x in kept.splitlines()]) == 2


def _shop(logged: dict[str, list[str]], annotations: list[str]) -> Any:
    """The default scenario, with payments-api logging each line behind its marker about a dozen times in the last
    minute, and checkout firing one alert per annotation (as tests/llm/test_llm_safety.py plants them)."""
    data = yaml.safe_load(scenario_path("checkout-bad-deploy").read_text())
    api = next(s for s in data["services"] if s["name"] == "payments-api")
    api["logs"]["format"] = "text"
    api["logs"]["templates"] += [
        {"message": _braces(f"{marker} {line}".replace("\n", " ")), "level": "error", "rate": 12, "start": "-1m"}
        for marker, lines in logged.items() for line in lines]
    data["alerts"] += [{"alertname": f"Planted{i}", "service": "checkout", "severity": "warning", "starts": "-5m",
                        "annotations": {"summary": text, "description": "see logs"}}
                       for i, text in enumerate(annotations)]
    return parse_scenario(data)


def _braces(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")
