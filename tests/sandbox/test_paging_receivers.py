"""The sandbox's PagerDuty and Opsgenie receivers: validated like the real services, pages kept and shown, and the
env and config `sandbox --write-config` and the demo hand to the bot page its team without credentials."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx

from sre_bot.config import load_config
from sre_bot.resources import shipped_runbooks_dir
from sre_bot.sandbox import Sandbox
from sre_bot.sandbox.bot_config import SANDBOX_TEAM, config_yaml, sandbox_paging_keys, with_every_section
from sre_bot.settings import load_settings
from tests.actions._support import APPROVE, ask, click, message_with, request_message
from tests.fakes.paging import opsgenie_contract_problems, pagerduty_contract_problems
from tests.fakes.slack_api import FakeSlack
from tests.harness import running_bot

PD_KEY = sandbox_paging_keys()["pagerduty"][SANDBOX_TEAM]
OG_KEY = sandbox_paging_keys()["opsgenie"][SANDBOX_TEAM]


async def test_the_pagerduty_receiver_answers_like_pagerduty(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    """202 with the dedup key for a valid trigger; 400 in PagerDuty's error shape for a body that is not JSON, a
    missing or unknown routing key, or a trigger without summary; acknowledge and resolve move the page, which
    GET /sandbox/pagerduty/incidents shows."""
    url = sandbox.urls.pagerduty
    assert url is not None
    trigger = {"routing_key": PD_KEY, "event_action": "trigger", "dedup_key": "sre-bot/inc-1",
               "payload": {"summary": "checkout is failing", "source": "checkout", "severity": "critical"}}
    assert pagerduty_contract_problems(trigger) == []
    ok = await http.post(f"{url}/v2/enqueue", json=trigger)
    assert ok.status_code == 202
    assert ok.json() == {"status": "success", "message": "Event processed", "dedup_key": "sre-bot/inc-1"}
    bad = [(b"{not json", "JSON parse error"),
           (json.dumps({**trigger, "routing_key": ""}).encode(), "'routing_key' is missing or blank"),
           (json.dumps({**trigger, "routing_key": "f" * 32}).encode(), "Invalid routing key"),
           (json.dumps({**trigger, "payload": {"source": "x", "severity": "critical"}}).encode(),
            "'payload.summary' is missing or blank"),
           (json.dumps({**trigger, "event_action": "page"}).encode(), "'event_action' is invalid")]
    for raw, says in bad:
        r = await http.post(f"{url}/v2/enqueue", content=raw, headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and says in " ".join(r.json()["errors"]), r.text
    for action in ("acknowledge", "resolve"):
        r = await http.post(f"{url}/v2/enqueue", json={"routing_key": PD_KEY, "event_action": action,
                                                        "dedup_key": "sre-bot/inc-1"})
        assert r.status_code == 202
    [shown] = (await http.get(f"{url}/sandbox/pagerduty/incidents")).json()["incidents"]
    assert shown["status"] == "resolved" and shown["team"] == SANDBOX_TEAM and len(shown["events"]) == 3
    assert PD_KEY not in json.dumps(shown)


async def test_the_opsgenie_receiver_answers_like_opsgenie(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    """401 without the right GenieKey, 422 with Opsgenie's errors map for an empty message or a bad priority, 202
    `Request will be processed` otherwise; acknowledge and close by alias; the request status can be asked."""
    url = sandbox.urls.opsgenie
    assert url is not None
    auth = {"Authorization": f"GenieKey {OG_KEY}"}
    r = await http.post(f"{url}/v2/alerts", json={"message": "x"}, headers={"Authorization": "GenieKey nope"})
    assert r.status_code == 401 and r.json()["message"] == "Could not authenticate"
    r = await http.post(f"{url}/v2/alerts", json={"message": "", "priority": "P0"}, headers=auth)
    assert r.status_code == 422 and set(r.json()["errors"]) == {"message", "priority"}
    body = {"message": "checkout is failing", "alias": "sre-bot/inc-1", "priority": "P1"}
    assert opsgenie_contract_problems("POST", "/v2/alerts", {}, auth, body) == []
    r = await http.post(f"{url}/v2/alerts", json=body, headers=auth)
    assert r.status_code == 202 and r.json()["result"] == "Request will be processed"
    status = await http.get(f"{url}/v2/alerts/requests/{r.json()['requestId']}", headers=auth)
    assert status.json()["data"]["status"] == "Created alert"
    for action in ("acknowledge", "close"):
        r = await http.post(f"{url}/v2/alerts/sre-bot%2Finc-1/{action}", params={"identifierType": "alias"},
                            json={"user": "sre-bot"}, headers=auth)
        assert r.status_code == 202
    [alert] = (await http.get(f"{url}/sandbox/opsgenie/alerts")).json()["alerts"]
    assert alert["acknowledged"] and alert["status"] == "closed"


async def test_write_config_pages_its_team(sandbox: Sandbox, tmp_path: Path) -> None:
    """The config `sandbox --write-config` writes names a team owning every service, paged through both receivers,
    and the env carries their URLs and keys."""
    env = sandbox.urls.as_env()
    assert env["PAGERDUTY_EVENTS_URL"] == sandbox.urls.pagerduty
    assert json.loads(env["SRE_BOT_PAGERDUTY_ROUTING_KEYS"]) == {SANDBOX_TEAM: PD_KEY} and len(PD_KEY) == 32
    assert json.loads(env["SRE_BOT_OPSGENIE_API_KEYS"]) == {SANDBOX_TEAM: OG_KEY}
    path = tmp_path / "sre-bot.yaml"
    path.write_text(config_yaml(with_every_section(sandbox.config, runbooks_dir=shipped_runbooks_dir())))
    cfg = load_config(path)
    assert cfg.escalation.team_for("checkout") == SANDBOX_TEAM
    route = cfg.escalation.teams[SANDBOX_TEAM]
    assert route.pagerduty and route.opsgenie and set(route.services) == {s.name for s in cfg.services}
    settings = load_settings(None, **env)
    assert SANDBOX_TEAM in settings.pagerduty_routing_keys


async def test_the_demo_bot_pages_the_sandbox(fake_slack: FakeSlack, shop: Sandbox) -> None:
    """The bot configured as the demo configures it pages the sandbox's PagerDuty: one approved page arrives."""
    cfg = with_every_section(shop.config, runbooks_dir=shipped_runbooks_dir(), approvers=["W222"])
    async with running_bot(fake_slack, config=cfg, incidents=False, **shop.urls.as_env()) as bot:
        await ask(bot, fake_slack, "run pagerduty.page checkout")
        await fake_slack.wait_for("chat.postMessage")
        msg = request_message(fake_slack)
        assert f"Page team `{SANDBOX_TEAM}` through PagerDuty" in json.dumps(msg["blocks"])
        await bot.post(click(APPROVE, msg, user="W222"))
        await message_with(fake_slack, "*done*")
    [page] = shop.pagerduty.pages
    assert page.status == "triggered" and page.dedup_key == "sre-bot/checkout" and page.team == SANDBOX_TEAM


async def test_the_printed_exports_work_in_a_shell(tmp_path: Path) -> None:
    """`sre-bot sandbox` prints exports a shell can run: the paging keys arrive as the JSON the settings read, and the
    printed PagerDuty URL answers."""
    from tests.demo.test_sandbox_and_runbook_cli import _env, _sandbox_process, _stop

    proc, printed = await _sandbox_process("--port", "0", "--write-config", "sre-bot.yaml", cwd=tmp_path, env=_env())
    try:
        exports = "\n".join(line for line in printed.splitlines() if line.startswith("export "))
        script = exports + '\nprintf "%s\\n%s\\n%s" "$SRE_BOT_PAGERDUTY_ROUTING_KEYS" "$SRE_BOT_OPSGENIE_API_KEYS" ' \
                           '"$PAGERDUTY_EVENTS_URL"'
        shell = await asyncio.create_subprocess_exec("bash", "-c", script, stdout=asyncio.subprocess.PIPE)
        out, _ = await shell.communicate()
        pd_keys, og_keys, pd_url = out.decode().splitlines()
        assert json.loads(pd_keys) == {SANDBOX_TEAM: PD_KEY} and json.loads(og_keys) == {SANDBOX_TEAM: OG_KEY}
        async with httpx.AsyncClient(timeout=5) as http:
            assert (await http.get(f"{pd_url}/sandbox/pagerduty/incidents")).json() == {"incidents": []}
    finally:
        await _stop(proc)
    assert load_config(tmp_path / "sre-bot.yaml").escalation.team_for("checkout") == SANDBOX_TEAM
