"""Runbook files are checked before anything loads: unsafe steps (a write, an unlisted URL, a shell), unknown
names and actions outside the catalog are each reported with file, step and reason, and the bot refuses to start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sre_bot.compose import open_deps
from sre_bot.config import Config, parse_config
from sre_bot.errors import ConfigError
from sre_bot.runbooks.loader import check_runbooks, load_runbooks
from sre_bot.settings import load_settings
from tests.runbooks._support import SHIPPED

GOOD_STEP = {"id": "errors", "title": "Error ratio", "tool": "promql", "params": {"query": "up{$selector}"},
             "when": "value < 1", "means": "down"}


def _write(tmp: Path, name: str, **fields) -> Path:
    doc = {"name": name, "title": name.title(), "steps": [GOOD_STEP], **fields}
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _problems(path: Path, config: Config | None = None) -> list[str]:
    return [str(p) for p in check_runbooks(path, config or Config())[1]]


def test_the_shipped_runbooks_load_with_the_default_config():
    """The four shipped examples are valid with no config at all (no URL allow-list, no webhook needed)."""
    books = load_runbooks(SHIPPED, Config())
    assert sorted(books) == ["db-connection-pool", "high-error-rate-after-deploy", "pod-crash-loop",
                             "pool-exhausted-restart"]
    assert all(rb.needs_service and rb.digest and rb.remediation for rb in books.values())


@pytest.mark.parametrize("step, reason", [
    ({"tool": "argocd.rollback", "params": {"service": "$service"}}, "`argocd.rollback` changes something"),
    ({"tool": "argocd_sync"}, "changes something"),
    ({"tool": "http_check", "params": {"url": "https://status.example.com/health", "method": "POST"}},
     "write-capable: `http_check` only sends GET, not POST"),
    ({"tool": "http_check", "params": {"url": "https://evil.example.net/health/$service"}},
     "is not under any prefix in runbooks.http_allow"),
    ({"tool": "http_check", "params": {"url": "https://$service.example.com/health"}},
     "the host of a health-check URL cannot come from a variable"),
    ({"tool": "http_check", "params": {"url": "https://status.example.com/health/../admin"}},
     "is not under any prefix"),
    ({"tool": "shell", "params": {"cmd": "kubectl delete pod -l app=checkout"}}, "no shell: `shell` runs commands"),
    ({"tool": "promql", "command": "kubectl rollout restart deploy/checkout"}, "no shell: a step cannot run"),
    ({"tool": "logql", "params": {"query": "$log_selector", "script": "rm -rf /"}}, "no shell"),
])
def test_an_unsafe_step_is_rejected_at_load(tmp_path, step, reason):
    """A write, an unlisted URL or a shell-looking step makes the whole file invalid, naming the step and why."""
    config = parse_config({"runbooks": {"http_allow": ["https://status.example.com/health/"]}})
    path = _write(tmp_path, "unsafe", steps=[GOOD_STEP, {"id": "bad", "title": "Bad", **step}])
    problems = _problems(path, config)
    assert len(problems) == 1 and problems[0].startswith(f"{path}: step `bad`: ") and reason in problems[0], problems
    with pytest.raises(ConfigError, match="nothing loaded"):
        load_runbooks(path, config)


def test_every_mistake_is_reported_with_its_step(tmp_path):
    """Unknown tool, bad template variable, unknown value, action outside the catalog, a bad reference: all listed."""
    path = _write(tmp_path, "mistakes", steps=[
        {**GOOD_STEP, "params": {"query": "up{$selectr}"}},
        {"id": "logs", "title": "Logs", "tool": "logql", "params": {"query": "$log_selector"}, "when": "lines > 0"},
        {"id": "what", "title": "What", "tool": "kubectl_describe"},
        {"id": "later", "title": "Later", "tool": "alerts", "needs": ["nope"], "stop": True},
    ], remediation=[
        {"action": "drop_database", "reason": "never"},
        {"action": "argocd.rollback", "args": {"service": "${logs.service}"}, "reason": "bad reference"},
        {"action": "webhook", "args": {"name": "restart-all"}, "reason": "not configured"},
    ], match={"hypothesis_kinds": ["gremlins"]})
    problems = _problems(path)
    expected = [
        "step `errors`: params.query: unknown template variable $selectr",
        "step `logs`: when: unknown value `lines` (logql gives count, limit_hit, per_minute)",
        "step `what`: no shell: `kubectl_describe` runs commands",
        "step `later`: stop: true needs a `when` condition",
        "step `later`: needs: `nope` is not an earlier valid step",
        "remediation[0] drop_database: `drop_database` is not in the action catalog",
        "remediation[1] argocd.rollback: args.service: ${logs.service}: step `logs` (logql) gives no value `service`",
        "remediation[2] webhook: webhook `restart-all` is not configured",
        "match.hypothesis_kinds: unknown kind `gremlins`",
    ]
    assert len(problems) == len(expected), problems
    for want, got in zip(expected, problems, strict=False):
        assert want in got and got.startswith(str(path)), (want, got)


def test_broken_yaml_duplicate_names_and_bad_shapes_are_problems_too(tmp_path):
    """Invalid YAML, a name used twice, a bad name and an unknown key are each reported, all files checked."""
    (tmp_path / "a-broken.yaml").write_text("name: x\nsteps: [\n")
    _write(tmp_path, "twice")
    (tmp_path / "twice-again.yaml").write_text((tmp_path / "twice.yaml").read_text())
    _write(tmp_path, "Bad_Name", steps=[{**GOOD_STEP, "colour": "red"}])
    problems = _problems(tmp_path)
    assert any("a-broken.yaml: not valid YAML" in p for p in problems)
    assert any("twice.yaml: the name `twice` is already used by" in p and "twice-again.yaml" in p for p in problems)
    assert any("Bad_Name.yaml: name: String should match pattern" in p for p in problems)
    assert any("Bad_Name.yaml: step `errors`: colour: Extra inputs are not permitted" in p for p in problems)


async def test_the_bot_refuses_to_start_with_an_invalid_runbook(tmp_path):
    """`open_deps` (what `serve` runs) raises ConfigError naming the file and the step; nothing is loaded."""
    _write(tmp_path, "unsafe", steps=[{"id": "wipe", "title": "Wipe", "tool": "argocd.restart"}])
    config = parse_config({"runbooks": {"dir": str(tmp_path)}})
    settings = load_settings(None)
    with pytest.raises(ConfigError, match=r"unsafe.yaml: step `wipe`: `argocd.restart` changes something"):
        async with open_deps(settings, config=config, use_llm=False):
            pass
    async with open_deps(settings, config=parse_config({"runbooks": {"dir": str(SHIPPED)}}), use_llm=False) as deps:
        assert len(deps.runbooks) == 4 and deps.runbooks.http is None


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SRE_BOT_", "SLACK_", "ANTHROPIC_"))}
    return subprocess.run([sys.executable, "-m", "sre_bot", "runbook", "check", *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=60, stdin=subprocess.DEVNULL)


def test_runbook_check_cli_reports_each_problem_and_exits_1(tmp_path):
    """`sre-bot runbook check DIR` prints one line per problem (file, step, reason) and exits 1; the shipped
    folder exits 0; a missing folder exits 2 without a traceback."""
    books = tmp_path / "books"
    books.mkdir()
    _write(books, "unsafe", steps=[GOOD_STEP, {"id": "bad", "title": "Bad", "tool": "bash"}])
    (tmp_path / "sre-bot.yaml").write_text(f"runbooks: {{dir: {books}, http_allow: ['https://status.example.com/']}}\n")
    r = _cli(cwd=tmp_path)  # the folder from the config's runbooks.dir
    assert r.returncode == 1, r.stderr
    assert f"error  {books / 'unsafe.yaml'}: step `bad`: no shell: `bash` runs commands" in r.stdout
    assert "1 problem(s) in 1 of 1 file(s); the bot refuses to start" in r.stdout
    ok = _cli(str(SHIPPED), cwd=tmp_path)
    assert ok.returncode == 0 and ok.stdout.count("ok     ") == 4, ok.stdout + ok.stderr
    missing = _cli(str(tmp_path / "nope"), cwd=tmp_path)
    assert missing.returncode == 2 and "neither a folder nor a file" in missing.stderr
    assert "Traceback" not in r.stderr + ok.stderr + missing.stderr
