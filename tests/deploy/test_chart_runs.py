"""The pod the chart describes really runs: two `sre-bot serve` processes started with exactly the environment and
config file the rendered manifests give a pod (ConfigMaps, env, the Secret's keys), sharing the machine's
PostgreSQL, each answering the chart's probe and scrape paths, and stopping cleanly on SIGTERM within the pod's
grace period.

What differs from a cluster, and why: the config file sits in a temp dir instead of /etc/sre-bot (not writable
here), the port is a free loopback port instead of 3000 on 0.0.0.0, and Slack is the local fake Slack Web API."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import yaml

from tests.deploy.chart import FULL, container, env_of, merged, one, render
from tests.fakes import free_port
from tests.fakes.slack_api import FakeSlack
from tests.store.conftest import pg_url, postgres_available  # noqa: F401  (fixtures: a fresh PostgreSQL schema)

ROOT = Path(__file__).resolve().parents[2]


def pod_environment(docs: list[dict[str, Any]], secret: dict[str, str]) -> dict[str, str]:
    """What the kubelet would put in the container's environment: envFrom the ConfigMap, then `env` (values and
    secretKeyRefs resolved against `secret`; an optional key that is absent is left out)."""
    env = {k: v for k, v in one(docs, "ConfigMap", "sre-bot-env")["data"].items() if v != ""}
    for name, e in env_of(docs).items():
        if "value" in e:
            env[name] = e["value"]
            continue
        ref = e["valueFrom"]["secretKeyRef"]
        if ref["key"] in secret:
            env[name] = secret[ref["key"]]
        else:
            assert ref.get("optional"), f"the Secret has no {ref['key']}, which {name} requires"
    return env


async def wait_until_ready(http: httpx.AsyncClient, proc: asyncio.subprocess.Process, url: str,
                           budget: float) -> None:
    deadline = time.monotonic() + budget
    while time.monotonic() < deadline:
        if proc.returncode is not None:
            raise AssertionError(f"sre-bot exited with {proc.returncode} before answering")
        try:
            if (await http.get(url + "/healthz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    raise AssertionError(f"{url}/healthz did not answer within {budget:.0f} s (the startup probe's budget)")


async def test_two_replicas_start_from_the_rendered_pod_spec(helm: ModuleType, tmp_path: Path,
                                                             fake_slack: FakeSlack, pg_url: str) -> None:  # noqa: F811
    """Two replicas with the chart's environment on one PostgreSQL: both migrate and start (the migration lock
    serialises them), answer /healthz, /readyz and /metrics on the pod's port, and exit 0 on SIGTERM."""
    # no backend to reach here (/readyz has none to check); info logs, not FULL's SQL-echoing debug
    values = merged(FULL, {"env": {"PROMETHEUS_URL": "", "SRE_BOT_LOG_LEVEL": "info"}})
    docs = render(helm, values, tmp_path / "manifests")
    c = container(docs)
    probes = {c["livenessProbe"]["httpGet"]["path"], c["readinessProbe"]["httpGet"]["path"]}
    # what the kubelet allows a first start before it restarts the container
    budget = c["startupProbe"]["periodSeconds"] * c["startupProbe"]["failureThreshold"]
    config = tmp_path / "sre-bot.yaml"
    config.write_text(one(docs, "ConfigMap", "sre-bot")["data"]["sre-bot.yaml"], encoding="utf-8")
    assert yaml.safe_load(config.read_text(encoding="utf-8")) == {}
    secret = {"SLACK_BOT_TOKEN": "xoxb-test-token", "SLACK_SIGNING_SECRET": "not-a-real-secret",
              "SRE_BOT_DB_URL": pg_url}
    env = pod_environment(docs, secret)
    assert env["SRE_BOT_DB_URL"] == pg_url and env["SRE_BOT_CONFIG"] == "/etc/sre-bot/sre-bot.yaml"

    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SRE_BOT_", "ANTHROPIC_",
                                                                      "PROMETHEUS_", "LOKI_", "ARGOCD_",
                                                                      "ALERTMANAGER_", "GRAFANA_"))}
    procs, urls, logs = [], [], []
    try:
        for i in range(2):
            port = free_port()
            run_env = {**base, **env, "SRE_BOT_CONFIG": str(config), "SRE_BOT_HTTP_HOST": "127.0.0.1",
                       "SRE_BOT_HTTP_PORT": str(port), "SLACK_API_URL": fake_slack.api_url, "TMPDIR": str(tmp_path)}
            workdir = tmp_path / f"replica-{i}"
            workdir.mkdir()
            log = (workdir / "log").open("wb")
            logs.append(log)
            procs.append(await asyncio.create_subprocess_exec(
                sys.executable, "-m", "sre_bot", *c["args"], cwd=workdir, env=run_env, stdin=asyncio.subprocess.DEVNULL,
                stdout=log, stderr=asyncio.subprocess.STDOUT))
            urls.append(f"http://127.0.0.1:{port}")
        async with httpx.AsyncClient(timeout=15) as http:
            for proc, url in zip(procs, urls, strict=True):
                await wait_until_ready(http, proc, url, budget)
                for path in sorted(probes):
                    resp = await http.get(url + path)
                    assert resp.status_code == 200, (path, resp.text)
                metrics = await http.get(url + "/metrics")
                assert metrics.status_code == 200 and "sre_bot_requests_total" in metrics.text
        grace = one(docs, "Deployment")["spec"]["template"]["spec"].get("terminationGracePeriodSeconds", 30)
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            assert await asyncio.wait_for(proc.wait(), grace) == 0
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        for log in logs:
            log.close()
        for i in range(len(procs)):
            print((tmp_path / f"replica-{i}" / "log").read_text(encoding="utf-8", errors="replace")[-3000:])
