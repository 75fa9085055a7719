"""The `sre-bot` command as a person runs it: the demo, the sandbox, doctor, and clear errors without tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.fakes import free_port

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str, env: dict[str, str] | None = None, timeout: float = 120, cwd: Path | None = None,
         ) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SRE_BOT_", "PROMETHEUS_", "LOKI_",
                                                                       "ARGOCD_", "ALERTMANAGER_", "ANTHROPIC_"))}
    return subprocess.run([sys.executable, "-m", "sre_bot", *args], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, env={**base, **(env or {})}, timeout=timeout, cwd=cwd or ROOT)


def test_demo_plays_a_scripted_conversation_and_exits_0(tmp_path):
    """Without a terminal the demo plays status, a question and the answer from the sandbox, then exits 0."""
    r = _run("demo", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "sre> /sre status checkout" in out and "sre> @sre-bot why is payments-api slow?" in out
    assert "checkout error ratio" in out and "could not obtain connection from pool" in out
    assert "revision 4f1c2e9" in out
    assert "Next steps" in out and "Traceback" not in r.stderr


def test_demo_refuses_an_unknown_scenario_clearly(tmp_path):
    """A typo in the scenario name lists the shipped ones, exit 2, no traceback."""
    r = _run("demo", "--scenario", "nope", cwd=tmp_path)
    assert r.returncode == 2 and "checkout-bad-deploy" in r.stderr and "Traceback" not in r.stderr


def test_sandbox_refuses_a_non_loopback_address(tmp_path):
    """The sandbox only listens on loopback."""
    r = _run("sandbox", "--host", "0.0.0.0", cwd=tmp_path, timeout=30)
    assert r.returncode == 2 and "loopback" in r.stderr


def test_invalid_config_fails_at_start_with_the_field(tmp_path):
    """`serve` with a bad sre-bot.yaml names the field and exits 2 without a traceback."""
    (tmp_path / "sre-bot.yaml").write_text("services:\n  checkout:\n    depends_on: [ghost]\n")
    r = _run("serve", cwd=tmp_path, env={"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s",
                                         "SRE_BOT_HTTP_PORT": str(free_port())}, timeout=30)
    assert r.returncode == 2 and "ghost" in r.stderr and "Traceback" not in r.stderr


def test_invalid_setting_fails_with_the_variable(tmp_path):
    """A bad environment value names the variable."""
    r = _run("doctor", cwd=tmp_path, env={"SRE_BOT_HTTP_PORT": "lots"}, timeout=30)
    assert r.returncode == 2 and "SRE_BOT_HTTP_PORT" in r.stderr and "Traceback" not in r.stderr


def test_serve_without_slack_token_says_what_to_set(tmp_path):
    """`serve` with no Slack token explains where to get one."""
    r = _run("serve", cwd=tmp_path, env={"SRE_BOT_HTTP_PORT": str(free_port())}, timeout=30)
    assert r.returncode == 2 and "SLACK_BOT_TOKEN" in r.stderr


def test_doctor_reports_each_system(tmp_path):
    """doctor prints one line per system, fails on a configured system that is down, and says how to fix it."""
    r = _run("doctor", cwd=tmp_path, env={"LOKI_URL": f"http://127.0.0.1:{free_port()}"}, timeout=60)
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    for name in ("config", "slack", "prometheus", "loki", "argocd", "alertmanager", "anthropic"):
        assert any(name in line for line in lines), name
    loki = next(line for line in lines if " loki " in line)
    assert "FAIL" in loki and "LOKI_URL" in loki
