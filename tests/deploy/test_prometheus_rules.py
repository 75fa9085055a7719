"""The bot's own alert rules pass `promtool check rules` and their unit tests (`promtool test rules`)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.realprom import require_binaries

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "sre-bot-rules.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "sre-bot-rules.test.yml"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    _, tool = require_binaries()
    return subprocess.run([tool, *args], capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.prometheus
def test_rules_pass_promtool_check() -> None:
    """`promtool check rules` accepts the rules file."""
    done = promtool("check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


@pytest.mark.prometheus
def test_rules_pass_their_unit_tests() -> None:
    """`promtool test rules` passes: each alert fires on its series, with the annotations people will read."""
    done = promtool("test", "rules", str(RULE_TESTS))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_alert_has_a_unit_test_and_runbook_text() -> None:
    """Each alert has a severity, a summary and a description, and the unit tests expect it to fire at least once."""
    rules = [r for g in yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"] for r in g["rules"]]
    tests = yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))["tests"]
    fired = {c["alertname"] for t in tests for c in t.get("alert_rule_test", []) if c.get("exp_alerts")}
    assert rules
    for rule in rules:
        name = rule["alert"]
        assert rule["labels"]["severity"] in ("critical", "warning", "info"), name
        assert rule["annotations"]["summary"].strip(), name
        assert len(rule["annotations"]["description"]) > 80, f"{name}: the description should say what to do"
        assert name in fired, f"{name} has no unit test in which it fires"
