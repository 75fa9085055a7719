"""The documented example (docs/examples/eda/): its rulebook validates against ansible-rulebook's own schema, and run
as documented by the real ansible-rulebook it restarts the deployment (a recording `kubectl` on PATH) once per
approved `eda.event` request, for `connection_pool_exhausted` only."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml

from sre_bot.backends.eda import EDABackend
from sre_bot.config import parse_config
from tests.actions._support import APPROVE, ask, button, click, message_with, request_message
from tests.eda.conftest import BIN, SECRET, TOKEN, Rulebook, require_rulebook
from tests.fakes import free_port
from tests.fakes.slack_api import FakeSlack
from tests.harness import running_bot

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "eda"

FAKE_KUBECTL = """#!/bin/sh
# records its arguments, one JSON list a line, and succeeds (as `kubectl rollout restart/status` would)
printf '%s\\n' "$*" >> "{out}"
echo "deployment.apps/$4 restarted"
"""


def test_the_example_rulebook_validates_against_ansible_rulebooks_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    """ansible-rulebook's JSON schema accepts the file and its parser builds the ruleset (no Java needed)."""
    pytest.importorskip("ansible_rulebook", reason="pip install -e '.[dev]' (ansible-rulebook)")
    from ansible_rulebook import rules_parser
    from ansible_rulebook.conf import settings
    from ansible_rulebook.validators import Validate

    # the parser resolves `eda.builtin.*` by asking ansible-galaxy (offline) which collections exist
    monkeypatch.setattr(settings, "ansible_galaxy_path", str(BIN / "ansible-galaxy"))
    data = yaml.safe_load((EXAMPLE / "rulebook.yml").read_text())
    Validate.rulebook(data)
    [ruleset] = rules_parser.parse_rule_sets(data, {"EDA_TOKEN": "t", "EDA_HMAC_SECRET": "s", "EDA_PORT": "5000"})
    assert [s.source_name for s in ruleset.sources] == ["eda.builtin.webhook"]
    assert [r.name for r in ruleset.rules][0] == "restart the deployment whose connection pool is exhausted"
    assert (EXAMPLE / "restart-deployment.yml").exists() and (EXAMPLE / "README.md").exists()


def test_the_example_playbook_passes_ansible_playbooks_syntax_check(tmp_path: Path) -> None:
    """`ansible-playbook --syntax-check` accepts the playbook."""
    bin_dir = BIN
    if not (bin_dir / "ansible-playbook").exists():
        pytest.skip("ansible-playbook is missing: pip install -e '.[dev]' (ansible-core)")
    done = subprocess.run([str(bin_dir / "ansible-playbook"), "--syntax-check", "-i", str(EXAMPLE / "inventory.yml"),
                           str(EXAMPLE / "restart-deployment.yml")], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "ANSIBLE_LOCAL_TEMP": str(tmp_path)})
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory):
    """The example's three files, run as its comment says, with a recording `kubectl` first on PATH."""
    require_rulebook()
    tmp = tmp_path_factory.mktemp("eda-example")
    for name in ("rulebook.yml", "restart-deployment.yml", "inventory.yml"):
        shutil.copy(EXAMPLE / name, tmp / name)
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    kubectl = bin_dir / "kubectl"
    kubectl.write_text(FAKE_KUBECTL.format(out=tmp / "kubectl.log"))
    kubectl.chmod(kubectl.stat().st_mode | stat.S_IEXEC)
    port = free_port()
    rb = Rulebook(tmp, (tmp / "rulebook.yml").read_text(), port=port,
                  env={"EDA_TOKEN": TOKEN, "EDA_HMAC_SECRET": SECRET, "EDA_PORT": str(port),
                       "PATH": f"{bin_dir}{os.pathsep}{BIN}{os.pathsep}{os.environ['PATH']}"},
                  args=("-E", "EDA_TOKEN,EDA_HMAC_SECRET,EDA_PORT"))
    rb.start()
    try:
        yield rb, tmp / "kubectl.log"
    finally:
        rb.stop()


async def _kubectl_calls(log: Path, n: int, timeout: float = 60) -> list[str]:
    for _ in range(int(timeout * 10)):
        lines = log.read_text().splitlines() if log.exists() else []
        if len(lines) >= n:
            return lines
        await asyncio.sleep(0.1)
    raise AssertionError(f"kubectl was called {len(lines)} time(s), expected {n}")


async def test_an_approved_request_restarts_the_deployment_once(fake_slack: FakeSlack, example) -> None:
    """`/sre run eda.event checkout cause=connection_pool_exhausted fix=restart_deployment`, approved: the example
    playbook runs `kubectl rollout restart deployment/checkout --namespace shop` and waits for the rollout;
    the same event delivered again (same request id) restarts nothing more; another cause runs no playbook."""
    rb, log = example
    config = parse_config({"services": {"checkout": {"namespace": "shop"}},
                           "actions": {"approvers": {"users": ["W222"]}}})
    env = {"SRE_BOT_EDA_URL": rb.url, "SRE_BOT_EDA_TOKEN": TOKEN, "SRE_BOT_EDA_HMAC_SECRET": SECRET}
    async with running_bot(fake_slack, config=config, incidents=False, **env) as bot:
        await ask(bot, fake_slack, "run eda.event checkout cause=connection_pool_exhausted fix=restart_deployment")
        await fake_slack.wait_for("chat.postMessage")
        msg = request_message(fake_slack)
        rid = button(msg, APPROVE).split(":")[0]
        await bot.post(click(APPROVE, msg, user="W222"))
        await message_with(fake_slack, "ansible-rulebook received the event (200", timeout=30)
        calls = await _kubectl_calls(log, 2)
        assert calls == ["rollout restart deployment/checkout --namespace shop",
                         "rollout status deployment/checkout --namespace shop --timeout=5m"]
        req = await bot.deps.store.get_request(rid)
        event = {**req.args["event"], "approver": "W222", "approver_name": req.decided_by_name,
                 "approved_at": req.decided_at.isoformat()}
    async with httpx.AsyncClient(timeout=10) as client:
        backend = EDABackend(client, rb.url, token=TOKEN, hmac_secret=SECRET)
        await backend.send(event, request_id=rid)  # delivered again: the rulebook's throttle drops it
        other = {**event, "request_id": "other-1", "cause": "disk_full", "fix": "expand_volume"}
        await backend.send(other, request_id="other-1")  # no rule restarts anything for it
        marker = {**event, "request_id": "marker-1", "service": "cart"}
        await backend.send(marker, request_id="marker-1")  # a new approved request: runs after the two above
    calls = await _kubectl_calls(log, 4)
    assert calls[2:] == ["rollout restart deployment/cart --namespace shop",
                         "rollout status deployment/cart --namespace shop --timeout=5m"]
    assert "other-1 (disk_full / expand_volume) matches no rule here" in rb.tail(50000)


async def test_a_name_kubernetes_would_not_accept_is_refused_by_the_playbook(example) -> None:
    """An event whose namespace is not a Kubernetes name (sent by hand, validly signed) never reaches kubectl."""
    rb, log = example
    before = len(log.read_text().splitlines()) if log.exists() else 0
    evil = {"source": "sre-bot", "request_id": "evil-1", "service": "checkout", "namespace": "shop; rm -rf /",
            "cause": "connection_pool_exhausted", "fix": "restart_deployment", "approver": "W222"}
    async with httpx.AsyncClient(timeout=10) as client:
        backend = EDABackend(client, rb.url, token=TOKEN, hmac_secret=SECRET)
        await backend.send(evil, request_id="evil-1")
        await backend.send({**evil, "request_id": "after-evil", "namespace": "shop", "service": "catalog"},
                           request_id="after-evil")
    calls = (await _kubectl_calls(log, before + 2))[before:]
    assert calls == ["rollout restart deployment/catalog --namespace shop",
                     "rollout status deployment/catalog --namespace shop --timeout=5m"]
    assert "refusing event evil-1" in rb.tail(50000)
