"""`sre-bot correlate --discover --show-graph`, as a person runs it: last night's storm replayed with the call graph
a real Prometheus held at the time of the storm (none now), and the graph it used printed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.incidents.test_topology_discover import tempo_history

pytestmark = pytest.mark.prometheus

CONFIG = "services:\n  frontend: {}\n  checkout: {}\n  search: {}\n"  # no depends_on at all


def _run(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("SLACK_", "SRE_BOT_", "ANTHROPIC_", "PROMETHEUS_", "ARGOCD_"))}
    return subprocess.run([sys.executable, "-m", "sre_bot", "correlate", *args], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, env={**base, **env}, timeout=60, cwd=cwd)


def _capture(tmp_path: Path, at: int) -> Path:
    """A storm `at` (Unix seconds): checkout fails, frontend (its caller) follows with another alert name a minute
    later; search breaks on its own."""
    def a(name: str, service: str, offset: int) -> dict[str, object]:
        start = datetime.fromtimestamp(at + offset, tz=timezone.utc).isoformat()
        return {"labels": {"alertname": name, "namespace": "shop", "severity": "critical", "service": service},
                "annotations": {"summary": name}, "startsAt": start, "status": {"state": "active"}}
    path = tmp_path / "storm.json"
    path.write_text(json.dumps([a("HighErrorRate", "checkout", 0), a("HighLatency", "frontend", 60),
                                a("DiskPressure", "search", 90)]))
    return path


def test_last_nights_storm_is_replayed_with_the_graph_of_that_time(real_prometheus, tmp_path: Path) -> None:
    """Prometheus holds the call graph for the hours around the storm (three hours ago), nothing since: with
    `--discover` frontend joins checkout's incident by a discovered edge, search stays apart; without it, the two
    stay apart; `--show-graph` prints (and `--json` includes) the discovered edge."""
    storm_at = int(time.time()) // 60 * 60 - 3 * 3600
    url = real_prometheus(tempo_history(storm_at + 3600, [("frontend", "checkout")], seconds=3 * 3600))
    (tmp_path / "sre-bot.yaml").write_text(CONFIG)
    capture = str(_capture(tmp_path, storm_at))
    env = {"PROMETHEUS_URL": url, "SRE_BOT_CONFIG": str(tmp_path / "sre-bot.yaml"),
           "SRE_BOT_DB_URL": f"sqlite+aiosqlite:///{tmp_path / 'none.db'}"}

    plain = _run(capture, "--json", cwd=tmp_path, env=env)
    assert plain.returncode == 0, plain.stderr
    assert json.loads(plain.stdout)["incidents_out"] == 3

    found = _run(capture, "--json", "--discover", "--show-graph", cwd=tmp_path, env=env)
    assert found.returncode == 0, found.stderr
    doc = json.loads(found.stdout)
    assert doc["incidents_out"] == 2
    chain = next(i for i in doc["incidents"] if "checkout" in i["services"])
    assert chain["services"] == ["checkout", "frontend"]
    [merge] = chain["merges"]
    assert merge["rule"] == "graph" and merge["source"] == "discovered"
    assert doc["topology"]["edges"] == [{"caller": "frontend", "callee": "checkout", "source": "discovered"}]
    assert "ARGOCD_URL not set" in found.stderr and "no learned ties" in found.stderr
    assert not (tmp_path / "none.db").exists()  # no store made up to learn from

    text = _run(capture, "--discover", "--show-graph", cwd=tmp_path, env=env)
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith("topology: 1 edge (1 discovered, 0 configured), 0 Argo CD group(s), "
                                  "0 learned tie(s)\n  frontend → checkout  (discovered from call-graph metrics)\n")
    assert "→ 2 incidents" in text.stdout


def test_show_graph_without_discover_prints_the_configured_graph(tmp_path: Path) -> None:
    """No server contacted: the graph is the config's depends_on, said to be configured."""
    (tmp_path / "sre-bot.yaml").write_text("services:\n  frontend: {depends_on: [checkout]}\n  checkout: {}\n")
    capture = str(_capture(tmp_path, int(time.time()) - 3600))
    r = _run(capture, "--show-graph", "--config", str(tmp_path / "sre-bot.yaml"), cwd=tmp_path, env={})
    assert r.returncode == 0, r.stderr
    assert "frontend → checkout  (configured depends_on)" in r.stdout and "→ 2 incidents" in r.stdout
