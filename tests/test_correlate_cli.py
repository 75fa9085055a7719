"""`sre-bot correlate`: replay alert files into incidents, as a person runs it and through `main()`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sre_bot.cli import main

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / ".." / "shared" / "fixtures" / "alertmanager"
WEBHOOKS = sorted(str(p) for p in FIXTURES.glob("webhook_v4_*.json"))
CONFIG = """
services:
  frontend: {depends_on: [checkout]}
  checkout: {depends_on: [payment], aliases: [checkout-svc]}
  payment: {}
  search: {}
correlation:
  window: 5m
  use_groups: false
"""


def _run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SRE_BOT_", "ANTHROPIC_"))}
    return subprocess.run([sys.executable, "-m", "sre_bot", "correlate", *args], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, env={**base, **(env or {})}, timeout=60, cwd=cwd)


def _storm(tmp_path: Path) -> Path:
    """A v2-API-shaped storm: payment down, checkout and frontend follow; search breaks on its own."""
    def a(name: str, labels: dict[str, str], at: str, sev: str = "critical") -> dict:
        return {"labels": {"alertname": name, "namespace": "shop", "severity": sev, **labels},
                "annotations": {"summary": name}, "startsAt": f"2026-11-21T14:{at}Z",
                "endsAt": "2026-11-21T15:00:00Z", "status": {"state": "active"}}
    alerts = [a("KubePodCrashLooping", {"pod": "payment-7d9f8b6c5-x2k4q", "container": "payment"}, "00:00", "warning"),
              a("HighErrorRate", {"service": "payment"}, "00:30"),
              a("HighErrorRate", {"service": "checkout-svc"}, "01:10"),
              a("HighLatency", {"service": "frontend"}, "01:40", "warning"),
              a("HighErrorRate", {"service": "search"}, "00:45", "error")]
    path = tmp_path / "storm.json"
    path.write_text(json.dumps(alerts))
    return path


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "sre-bot.yaml"
    path.write_text(CONFIG)
    return path


def test_storm_becomes_two_incidents_as_json(tmp_path, config):
    """A storm on the payment chain plus a search outage: two incidents, root service payment, merges explained."""
    r = _run(str(_storm(tmp_path)), "--json", "--config", str(config), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["alerts_in"] == 5 and doc["incidents_out"] == 2
    chain, search = doc["incidents"]
    assert set(chain) >= {"id", "title", "severity", "services", "root_service", "alerts", "merges"}
    assert chain["services"] == ["payment", "checkout", "frontend"]  # alias checkout-svc resolved
    assert chain["root_service"] == "payment" and chain["severity"] == "critical"
    assert chain["title"] == "HighErrorRate on payment (+3 more alerts, 3 services)"
    assert [m["rule"] for m in chain["merges"]] == ["graph", "graph", "graph"]
    assert chain["merges"][1]["reason"].startswith("checkout depends on payment (1 hop)")
    assert search["services"] == ["search"] and len(search["alerts"]) == 1


def test_webhook_capture_as_text_with_the_settings_config(tmp_path, config):
    """The five captured webhook bodies replay; SRE_BOT_CONFIG names the config; every incident ends resolved."""
    r = _run(*WEBHOOKS, cwd=tmp_path, env={"SRE_BOT_CONFIG": str(config)})
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.startswith("3 alerts (8 events) from 5 files → ")
    assert "KubePodCrashLooping on payment" in out and "resolved at 2026-11-21 05:57:22 UTC" in out
    assert "  root      " in out and "Traceback" not in r.stderr


def test_a_bad_file_is_one_line_and_exit_2(tmp_path, config):
    """A webhook body of another version fails with the file, the reason, exit 2, no traceback."""
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"version": "3", "alerts": []}))
    r = _run(str(bad), "--config", str(config), cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip() == f"sre-bot: {bad}: unsupported webhook version '3' (only \"4\" is understood)"


def test_main_reads_rules_from_the_config(tmp_path, config, monkeypatch, capsys):
    """Through main(): the `correlation:` section applies (a 35-second window splits the chain in two)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SRE_BOT_CONFIG", str(config))
    storm = _storm(tmp_path)
    assert main(["correlate", str(storm), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["incidents_out"] == 2
    tight = tmp_path / "tight.yaml"
    tight.write_text(CONFIG.replace("window: 5m", "window: 35s"))
    assert main(["correlate", str(storm), "--json", "--config", str(tight)]) == 0
    assert json.loads(capsys.readouterr().out)["incidents_out"] == 3


def test_main_refuses_bad_rules_and_missing_files(tmp_path, config, monkeypatch, capsys):
    """A bad correlation setting names the field; a missing file or config says so; both exit 2."""
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("correlation:\n  window: soon\n")
    assert main(["correlate", str(_storm(tmp_path)), "--config", str(bad)]) == 2
    assert "correlation.window" in capsys.readouterr().err
    assert main(["correlate", str(tmp_path / "none.json"), "--config", str(config)]) == 2
    assert "none.json: no such file" in capsys.readouterr().err
    assert main(["correlate", str(_storm(tmp_path)), "--config", str(tmp_path / "nope.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err
