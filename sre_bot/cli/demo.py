"""`sre-bot demo` and `sre-bot sandbox`: the bot against a simulated shop on loopback, no credentials needed.

The demo starts the sandbox (Prometheus, Loki, Argo CD and Alertmanager wire formats), points the bot's real
backends at it, opens a store in a temporary SQLite file, loads the shipped runbooks, and serves the bot's real
`POST /alertmanager` webhook on loopback. It then plays Alertmanager's part (the scenario's alert storm goes to
that webhook and becomes incidents), and runs the console as a person who may approve actions: interactive on a
terminal, the guided tour (`tour`) otherwise. Every step goes through the same services, gate and audit as Slack.
"""

from __future__ import annotations

import secrets
import shlex
import socket
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import httpx
from aiohttp import web

from ..alert_webhook import alertmanager_handler
from ..clock import system_clock
from ..compose import open_deps
from ..deploys.watcher import DeployWatcher
from ..deps import Deps
from ..errors import ConfigError
from ..incidents.processor import IncidentProcessor
from ..incidents.workflow import (
    Announce,
    Answer,
    ApprovalRequest,
    ChangeNote,
    IncidentWorkflow,
    Item,
    Redraw,
    RunbookSuggestions,
    Suggestion,
)
from ..resources import shipped_runbooks_dir
from ..sandbox.bot_config import config_yaml, with_every_section
from ..sandbox.replay import send_storm
from ..sandbox.scenario import list_scenarios, load_scenario
from ..sandbox.server import Sandbox, SandboxPorts, run_forever
from ..services.caller import Caller
from ..services.deploy_check import check_reply, propose_rollback
from ..settings import load_settings
from ..web import build_web_app
from .console import Console, Step, _show, play_script, repl

__all__ = ["run_demo", "run_sandbox", "DEMO_SCRIPT", "tour", "DEFAULT_SCENARIO", "DEMO_USER", "DEMO_CHANNEL"]

DEFAULT_SCENARIO = "checkout-bad-deploy"
DEMO_USER = "U0DEMOUSER"  # the person at the keyboard: an approver in the demo's config
DEMO_CHANNEL = "C0DEMO"
INCIDENTS_CHANNEL = "#incidents"

# The first four lines: what a new user asks first. `tour` walks through the rest of the product.
DEMO_SCRIPT = (
    "/sre status checkout 30m",
    "@sre-bot why is payments-api slow?",
    "/sre logs payments-api pool 30m",
    "/sre deploys",
)


def tour(incident: int | None) -> tuple[Step, ...]:
    """The guided tour; `incident`: the number of the storm's biggest open incident (None: none was made)."""
    return (
        *(Step(line) for line in DEMO_SCRIPT[:2]),
        Step(DEMO_SCRIPT[2], note="The logs behind the answer."),
        Step(DEMO_SCRIPT[3]),
        Step("/sre traces payments-api 30m", note="Slow and failed traces from Tempo (the sandbox speaks its API): "
                                                  "each one's critical path and the span that dominates it."),
        Step("/sre incidents", note="Alertmanager's storm, grouped into incidents (it came in through the bot's "
                                    "POST /alertmanager)."),
        *([Step(f"/sre incident {incident}", note="The storm's incident: its alerts, why each joined, the timeline.")]
          if incident is not None else []),
        Step("/sre runbook list", note="The shipped runbooks, loaded from runbooks/."),
        Step("/sre runbook db-connection-pool payments-db",
             note="A runbook run: read-only checks, step by step; a fix it finds is offered for approval."),
        Step("/sre deploy-check checkout", note="Bad-change detection on demand: checkout's deploy judged from its "
                                               "signals and error logs after vs before."),
        Step("/sre run argocd.rollback checkout",
             note="Ask for a rollback: nothing runs until an approver says so. Here, you approve it.",
             decision="approve"),
        Step("/sre deploys checkout", note="Argo CD now shows the rollback, initiated by sre-bot."),
        Step("/sre history confirm", note="The team confirms the last answer's cause: it becomes a case, with the "
                                          "rollback that fixed it and who approved it."),
        Step("/sre run argocd.sync checkout revision=4f1c2e9a7b3d", decision="approve",
             note="A second occurrence: the bad revision is deployed again (here through the bot, as anyone could)."),
        Step(DEMO_SCRIPT[1], note="The checkout incident again: the answer says \"Seen before\" (the past case, its "
                                  "fix and approver, why it is similar) and offers the same fix for approval."),
        Step("/sre history", note="Past cases, newest first; approvers may correct or forget one."),
        Step("/sre killswitch on", note="The kill switch: one switch stops every execution."),
        Step("/sre run argocd.rollback checkout", note="The same request again, approved again: refused.",
             decision="approve"),
        Step("/sre killswitch off"),
        Step("/sre actions", note="What is still waiting for a click."),
        Step("/sre audit 25", note="The audit chain: every suggestion, request, approval, refusal and outcome."),
        *([Step(f"/sre run pagerduty.page payments-db incident_id={incident}", decision="approve",
                note="Escalation: page the on-call about the incident, with its hypotheses and evidence. No account "
                     "needed: the sandbox's PagerDuty receiver takes it (GET /sandbox/pagerduty/incidents).")]
          if incident is not None else []),
    )


_NEXT = """\
Next steps — connect real systems:
  1. cp .env.example .env and set PROMETHEUS_URL, LOKI_URL, ARGOCD_URL (+ ARGOCD_TOKEN), ALERTMANAGER_URL
  2. describe your services in sre-bot.yaml (see sre-bot.example.yaml), then run `sre-bot doctor`
  3. create the Slack app from manifest.yml, set SLACK_BOT_TOKEN and SLACK_APP_TOKEN, and run `sre-bot serve`
Or rehearse in Slack first: `sre-bot sandbox --write-config sre-bot.yaml --approver <your Slack member id>` runs
this simulated shop for your real workspace."""


def _load(scenario: str | None):
    try:
        return load_scenario(scenario or DEFAULT_SCENARIO)
    except FileNotFoundError:
        raise ConfigError(f"no scenario {scenario!r}; shipped: {', '.join(list_scenarios())}") from None


class ConsoleOutbox:
    """The incident workflow's messages, printed instead of posted (the demo has no Slack)."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._n = 0

    async def send(self, item: Item) -> str | None:
        self._n += 1
        out = self.out
        if isinstance(item, Announce | Redraw):
            inc = item.incident.incident
            verb = "posted" if isinstance(item, Announce) else "updated"
            print(f"📣 incident #{item.incident.number} {verb} in {item.incident.channel}: "
                  f"{inc.severity.upper()} · {inc.title} — {inc.firing} firing"
                  + (" (investigating its root service…)" if item.investigating else ""), file=out)
        elif isinstance(item, ChangeNote):
            print(f"   #{item.incident.number}: {len(item.joined)} joined, {len(item.resolved)} resolved, "
                  f"{len(item.refired)} fired again", file=out)
        elif isinstance(item, Answer):
            print(f"🧵 #{item.incident.number}'s investigation: {item.reply.summary or item.reply.title}", file=out)
        elif isinstance(item, ApprovalRequest):
            print(f"🧵 approval request `{item.request.action}` ({item.request.id[:8]}) posted with Approve / "
                  "Reject buttons", file=out)
        elif isinstance(item, RunbookSuggestions):
            for m in item.matches:
                print(f"🧵 runbook `{m.runbook}` matches{f' for {m.service}' if m.service else ''} "
                      f"({', '.join(m.reasons)}): Run it?", file=out)
        elif isinstance(item, Suggestion):
            print(f"🧵 the model suggests: {item.what} ({item.reason})", file=out)
        return f"{self._n}.000000"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _alert_storm(deps: Deps, sb: Sandbox, out: TextIO) -> int | None:
    """The bot's real webhook on loopback; the scenario's notifications sent to it; the incident processor and
    workflow run once, as `serve` runs them, with the messages printed. Returns the number of the open incident
    with the most firing alerts."""
    token = deps.settings.alert_webhook_token
    assert token is not None
    runner = web.AppRunner(build_web_app(deps, alerts=alertmanager_handler(deps)), access_log=None)
    await runner.setup()
    port = _free_port()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        url = f"http://127.0.0.1:{port}/alertmanager"
        sent = await send_storm(sb.world, url, token=token.get_secret_value())
        print(f"Alertmanager (played by the demo) sent {sent.bodies} webhook notifications ({sent.alerts} alerts "
              f"in {sent.groups} groups) to the bot's {url}", file=out)
        processor = IncidentProcessor(deps)
        workflow = IncidentWorkflow(deps, topology=lambda: processor.topology)
        outbox = ConsoleOutbox(out)
        while (step := await processor.step()).held and step.bodies:
            pass
        due = await workflow.due()
        for s in due:
            await workflow.publish(s, outbox)
        await workflow.drain()
        await processor.release()
        print(file=out)
        open_ = [s for s in due if not s.incident.resolved]
        return max(open_, key=lambda s: (s.incident.firing, -s.number)).number if open_ else None
    finally:
        await runner.cleanup()


async def _judge_deploys(deps: Deps, out: TextIO) -> None:
    """The deploy watcher's pass, as `serve` runs it every `deploys.every`: each completed sync gets a verdict; a bad
    one is posted with its evidence and a rollback request (shown here, left for a person to decide)."""
    checks = await DeployWatcher(deps).step()
    if not checks:
        return
    print(f"The deploy watcher judged {len(checks)} Argo CD sync(s) without anyone asking:", file=out)
    for c in checks:
        if c.verdict.verdict == "healthy":
            print(f"  ✅ {c.app} {c.deploy.revision[:10]}: healthy (nothing is posted)", file=out)
            continue
        proposed = await propose_rollback(deps, c, channel=DEMO_CHANNEL)
        reply = check_reply(c, proposed)
        _show(reply, out)
        for req in reply.requests:  # posted in the verdict's thread with Approve / Reject; left for a person
            Console(deps, out).show_request(req, reply.request_notes.get(req.id))
    print(file=out)


async def run_demo(scenario: str | None = None, *, interactive: bool | None = None,
                   inp: TextIO = sys.stdin, out: TextIO = sys.stdout,
                   script: Sequence[str | Step] | None = None) -> int:
    sc = _load(scenario)
    interactive = inp.isatty() if interactive is None else interactive
    print(f"sre-bot demo — scenario `{sc.name}`: {sc.description.strip().splitlines()[0]}", file=out)
    print("Starting the sandbox: simulated Prometheus, Loki, Argo CD and Alertmanager on 127.0.0.1 …", file=out)
    with tempfile.TemporaryDirectory(prefix="sre-bot-demo-") as tmp:
        async with Sandbox(sc, clock=system_clock) as sb:
            for name, url in sb.urls.as_env().items():
                print(f"  {name}={url}", file=out)
            db = Path(tmp) / "demo.db"
            settings = load_settings(None, **sb.urls.as_env(), SRE_BOT_DB_URL=f"sqlite+aiosqlite:///{db}",
                                     SRE_BOT_ALERTMANAGER_TOKEN=secrets.token_urlsafe(16))
            config = with_every_section(sb.config, runbooks_dir=shipped_runbooks_dir(), approvers=[DEMO_USER],
                                        incidents_channel=INCIDENTS_CHANNEL)
            async with open_deps(settings, config=config, clock=system_clock, use_store=True) as deps:
                print(f"  store: a temporary SQLite file ({db.name}); runbooks: {len(deps.runbooks)} loaded from "
                      f"{shipped_runbooks_dir()}", file=out)
                print("The bot's real clients talk to it exactly as they would to production. "
                      "(It is a simulator: it answers the bot's own queries only.)\n", file=out)
                biggest = await _alert_storm(deps, sb, out)
                await _judge_deploys(deps, out)
                caller = Caller(user=DEMO_USER, channel=DEMO_CHANNEL, user_name="you")
                if interactive:
                    print("You are an approver here. Type `/sre help`, `/sre status checkout`, `/sre incidents`, "
                          "`/sre run argocd.rollback checkout`, or a question like `why is checkout slow?` "
                          "(exit with Ctrl-D).", file=out)
                    await repl(deps, inp, out, caller=caller)
                else:
                    print("Not a terminal: playing the guided tour.\n", file=out)
                    await play_script(deps, script if script is not None else tour(biggest), out, caller=caller)
    print(_NEXT, file=out)
    return 0


async def run_sandbox(scenario: str | None, *, host: str = "127.0.0.1", port: int = 9990,
                      write_config: str | None = None, approvers: Sequence[str] = (),
                      channel: str | None = None, send_alerts: str | None = None, alert_token: str | None = None,
                      out: TextIO = sys.stdout) -> int:
    sc = _load(scenario)
    ports = SandboxPorts(prometheus=port, loki=port + 1, argocd=port + 2, alertmanager=port + 3,
                         tempo=port + 4, pagerduty=port + 5, opsgenie=port + 6) if port else None

    async def ready(sb: Sandbox) -> None:
        print(f"sre-bot sandbox — scenario `{sc.name}` on loopback. Point the bot at it:\n", file=out)
        for name, url in sb.urls.as_env().items():
            print(f"export {name}={shlex.quote(url)}", file=out)  # the paging keys are JSON
        if write_config:
            config = with_every_section(sb.config, runbooks_dir=shipped_runbooks_dir(), approvers=approvers,
                                        incidents_channel=channel or INCIDENTS_CHANNEL)
            header = (f"sre-bot config for sandbox {sc.name}: services, signals, runbooks, actions, incidents.\n"
                      + ("# actions.approvers: nobody yet, so actions are only suggested: add your Slack member id "
                         "(profile → Copy member ID)\n# or run `sre-bot sandbox --write-config FILE --approver U…`.\n"
                         if not approvers else "")
                      + f"# incidents.channel: {channel or INCIDENTS_CHANNEL} (invite the bot there). "
                        "`sre-bot sandbox --send-alerts URL` replays\n# the scenario's alert storm into the bot's "
                        "POST /alertmanager (with SRE_BOT_ALERTMANAGER_TOKEN).")
            Path(write_config).write_text(config_yaml(config, header=header))
            print(f"export SRE_BOT_CONFIG={write_config}", file=out)
        else:
            print("# and write its config with --write-config sre-bot.yaml", file=out)
        print("\nThen `sre-bot serve` (with your Slack tokens) or `sre-bot doctor`. Ctrl-C stops the sandbox.",
              file=out, flush=True)
        if send_alerts:
            try:
                sent = await send_storm(sb.world, send_alerts, token=alert_token)
            except (RuntimeError, httpx.HTTPError) as e:
                print(f"\nThe alert storm was not delivered: {e}", file=out, flush=True)
            else:
                print(f"\nSent the scenario's alert storm to {send_alerts}: {sent.bodies} notifications, "
                      f"{sent.alerts} alerts in {sent.groups} groups.", file=out, flush=True)

    try:
        await run_forever(sc, on_ready=ready, host=host, ports=ports)
    except OSError as e:
        raise ConfigError(f"cannot listen on {host}:{port}..{port + 6}: {e.strerror}; try --port") from None
    except ValueError as e:
        raise ConfigError(str(e)) from None
    return 0
