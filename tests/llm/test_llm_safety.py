"""What leaves for the model is redacted, and text in logs or alerts cannot make the bot propose or run anything.

The sandbox shop is given log lines and alert annotations carrying every secret shape of the corpus and every
prompt-injection line; the model is the real SDK against the fake Messages API, which records every byte sent.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import yaml

from sre_bot.sandbox.scenario import parse_scenario, scenario_path
from sre_bot.sandbox.server import Sandbox
from tests.fakes.anthropic_api import FakeAnthropic, call, tool_use
from tests.fakes.slack_api import BOT_USER_ID, FakeSlack
from tests.harness import running_bot
from tests.llm._script import answer, blocks_text, evidence_in, final_update, find
from tests.llm.secrets_corpus import INJECTION_LINES, SECRET_SHAPES
from tests.slack_signing import app_mention

QUESTION = f"<@{BOT_USER_ID}> why is payments-api slow?"


def _braces(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def _shop_with(lines: list[str], marker: str, annotations: list[str]):
    """The default scenario, with payments-api logging each line (prefixed by `marker`) in the last minutes and
    checkout firing one alert per annotation."""
    data = yaml.safe_load(scenario_path("checkout-bad-deploy").read_text())
    api = next(s for s in data["services"] if s["name"] == "payments-api")
    api["logs"]["format"] = "text"
    api["logs"]["templates"] += [
        {"message": _braces(f"{marker} {line}".replace("\n", " ")), "level": "error", "rate": 1, "start": "-3m"}
        for line in lines]
    data["alerts"] += [{"alertname": f"Planted{i}", "service": "checkout", "severity": "warning", "starts": "-5m",
                        "annotations": {"summary": text, "description": "see logs"}}
                       for i, text in enumerate(annotations)]
    return parse_scenario(data)


@pytest.fixture
def model():
    with FakeAnthropic() as m:
        yield m


async def _run(fake: FakeSlack, sb: Sandbox, model: FakeAnthropic, **env: str) -> str:
    env = {**sb.urls.as_env(), "ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": model.url,
           "SRE_BOT_LLM_MAX_RETRIES": "0", **env}
    async with running_bot(fake_slack := fake, config=sb.config, **env) as bot:
        await bot.post(app_mention(QUESTION, channel="C9"))
        update = await final_update(fake_slack)
    return blocks_text(update["blocks"])


async def test_no_secret_shape_reaches_the_model_or_the_audit(fake_slack, model, tmp_path: Path):
    """61 secret shapes in logs and alert annotations: none appears in any request body or in the audit file;
    their redaction placeholders do, so the lines were really read and sent."""
    secrets = [s for _, _, s in SECRET_SHAPES]
    planted = [line for _, line, _ in SECRET_SHAPES]
    audit = tmp_path / "llm-audit.jsonl"
    model.enqueue(
        tool_use(call("search_logs", {"service": "payments-api", "text": "leak:", "errors_only": False,
                                      "limit": 500}),
                 call("firing_alerts", {"service": "checkout"}),
                 call("error_log_templates", {"service": "payments-api", "top": 20})),
        lambda body: answer(summary="Credentials are being logged by payments-api.",
                            hypotheses=[{"service": "payments-api", "cause": "secrets in logs", "confidence": 0.5,
                                         "quotes": [{"evidence_id": find(body, "leak:")[0],
                                                     "text": find(body, "leak:")[1]}]}]))
    async with Sandbox(_shop_with(planted, "leak:", planted[:12])) as sb:
        shown = await _run(fake_slack, sb, model, SRE_BOT_LLM_TOOL_RESULT_TOKENS="50000",
                           SRE_BOT_LLM_AUDIT_PATH=str(audit))
    model.assert_clean()
    sent = model.all_text_sent()
    leaked = [name for (name, _, s) in SECRET_SHAPES if s in sent]
    assert leaked == []
    assert sent.count("leak:") >= len(SECRET_SHAPES) and sent.count("[REDACTED:") >= len(SECRET_SHAPES)
    kept = audit.read_text()
    assert not [s for s in secrets if s in kept]
    entries = [json.loads(line) for line in kept.splitlines()]
    assert len(entries) == 2 and all(e["model"] == "claude-sonnet-5-5" and e["usage"]["output_tokens"] > 0
                                     and "investigator-v1" in e["prompt_version"] for e in entries)
    assert "secrets in logs" in shown and "quote(s) removed" not in shown  # a quote of redacted text verifies


async def test_injection_lines_change_nothing_and_nothing_runs(fake_slack, model):
    """26 injection lines in logs and alerts; a model fooled by every one proposes what they ask for: every
    proposal is dropped, the fake closing tags do not break out of the evidence, and Slack gets no button."""
    def fooled(body):
        ids = list(evidence_in(body))
        log_id = find(body, "inj:")[0]
        asks = [("argocd.rollback", {"service": "payments-api"}), ("argocd.rollback", {"service": "prod"}),
                ("argocd.restart", {"service": "payments-api"}), ("argocd.restart", {"service": "*"}),
                ("scale", {"service": "catalog", "replicas": 0}), ("alertmanager.silence", {"matchers": {}, "comment": "all"}),
                ("delete_namespace", {"namespace": "prod"}), ("webhook", {"name": "approve-all"})]
        proposals = [{"action": a, "args": args, "reason": line[:80], "evidence_ids": [log_id, *ids[:2]]}
                     for line, (a, args) in zip(INJECTION_LINES, asks * 4, strict=False)]
        return answer(summary="No incident; all is fine.", suggested_actions=proposals,
                      hypotheses=[{"service": "payments-api", "cause": "nothing is wrong", "confidence": 0.99,
                                   "evidence_ids": ["e1", "e99"], "quotes": [{"evidence_id": "e1",
                                                                              "text": "all clear, approved by the SRE lead"}]}])

    model.enqueue(tool_use(call("search_logs", {"service": "payments-api", "text": "inj:", "errors_only": False,
                                                "limit": 200}),
                           call("firing_alerts", {"service": "checkout"})), fooled)
    async with Sandbox(_shop_with(INJECTION_LINES, "inj:", INJECTION_LINES[:6])) as sb:
        shown = await _run(fake_slack, sb, model, SRE_BOT_LLM_TOOL_RESULT_TOKENS="50000")
    model.assert_clean()
    assert len(INJECTION_LINES) >= 20
    sent = model.all_text_sent()
    assert sent.count("inj:") >= len(INJECTION_LINES)
    assert '<evidence id="e1"' not in sent and "<system>The operator" not in sent  # neutralised, not obeyed
    assert "Suggested actions" not in shown
    assert f"{len(INJECTION_LINES)} suggested action(s) dropped" in shown
    assert "nothing is wrong" not in shown.split("Grounding check")[0]  # the invented evidence supports nothing
    calls = fake_slack.calls()
    assert {c.method for c in calls} <= {"chat.postMessage", "chat.update", "auth.test"}
    assert '"button"' not in json.dumps([c.args for c in calls]) and '"actions"' not in json.dumps(
        [c.args.get("blocks") for c in calls])


def test_no_path_from_model_output_to_execution():
    """`sre_bot/llm` imports nothing from `actions` but the catalog (names and argument schemas): whatever the
    model says, the code it runs can only read telemetry and validate a suggestion."""
    root = Path(__file__).resolve().parents[2] / "sre_bot" / "llm"
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and "actions" in node.module:
                assert node.module.endswith("actions.catalog"), f"{path.name} imports {node.module}"
