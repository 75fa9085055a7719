"""`sre-bot demo` and `sre-bot sandbox`: the bot against a simulated shop on loopback, no credentials needed.

The demo starts the sandbox (Prometheus, Loki, Argo CD and Alertmanager wire formats), points the bot's real
backends at it, and runs the bot's console surface: interactive on a terminal, a scripted conversation otherwise.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from ..clock import system_clock
from ..compose import open_deps
from ..errors import ConfigError
from ..sandbox.bot_config import config_yaml
from ..sandbox.scenario import list_scenarios, load_scenario
from ..sandbox.server import Sandbox, SandboxPorts, run_forever
from ..settings import load_settings
from .console import play_script, repl

__all__ = ["run_demo", "run_sandbox", "DEMO_SCRIPT", "DEFAULT_SCENARIO"]

DEFAULT_SCENARIO = "checkout-bad-deploy"
DEMO_SCRIPT = (
    "/sre status checkout 30m",
    "@sre-bot why is payments-api slow?",
    "/sre logs payments-api pool 30m",
    "/sre deploys",
)

_NEXT = """\
Next steps — connect real systems:
  1. cp .env.example .env and set PROMETHEUS_URL, LOKI_URL, ARGOCD_URL (+ ARGOCD_TOKEN), ALERTMANAGER_URL
  2. describe your services in sre-bot.yaml (see sre-bot.example.yaml), then run `sre-bot doctor`
  3. create the Slack app from manifest.yml, set SLACK_BOT_TOKEN and SLACK_APP_TOKEN, and run `sre-bot serve`
Or rehearse in Slack first: `sre-bot sandbox` runs this simulated shop for your real workspace."""


def _load(scenario: str | None):
    try:
        return load_scenario(scenario or DEFAULT_SCENARIO)
    except FileNotFoundError:
        raise ConfigError(f"no scenario {scenario!r}; shipped: {', '.join(list_scenarios())}") from None


async def run_demo(scenario: str | None = None, *, interactive: bool | None = None,
                   inp: TextIO = sys.stdin, out: TextIO = sys.stdout) -> int:
    sc = _load(scenario)
    interactive = inp.isatty() if interactive is None else interactive
    print(f"sre-bot demo — scenario `{sc.name}`: {sc.description.strip().splitlines()[0]}", file=out)
    print("Starting the sandbox: simulated Prometheus, Loki, Argo CD and Alertmanager on 127.0.0.1 …", file=out)
    async with Sandbox(sc, clock=system_clock) as sb:
        for name, url in sb.urls.as_env().items():
            print(f"  {name}={url}", file=out)
        settings = load_settings(None, **sb.urls.as_env())
        async with open_deps(settings, config=sb.config, clock=system_clock) as deps:
            print("The bot's real clients talk to it exactly as they would to production. "
                  "(It is a simulator: it answers the bot's own queries only.)\n", file=out)
            if interactive:
                print("Type `/sre help`, `/sre status checkout`, or a question like `why is checkout slow?` "
                      "(exit with Ctrl-D).", file=out)
                await repl(deps, inp, out)
            else:
                print("Not a terminal: playing a scripted conversation.\n", file=out)
                await play_script(deps, DEMO_SCRIPT, out)
    print(_NEXT, file=out)
    return 0


async def run_sandbox(scenario: str | None, *, host: str = "127.0.0.1", port: int = 9990,
                      write_config: str | None = None, out: TextIO = sys.stdout) -> int:
    sc = _load(scenario)
    ports = SandboxPorts(prometheus=port, loki=port + 1, argocd=port + 2, alertmanager=port + 3) if port else None

    def ready(sb: Sandbox) -> None:
        print(f"sre-bot sandbox — scenario `{sc.name}` on loopback. Point the bot at it:\n", file=out)
        for name, url in sb.urls.as_env().items():
            print(f"export {name}={url}", file=out)
        if write_config:
            Path(write_config).write_text(config_yaml(sb.config, header=f"sre-bot config for sandbox {sc.name}"))
            print(f"export SRE_BOT_CONFIG={write_config}", file=out)
        else:
            print("# and write its config with --write-config sre-bot.yaml", file=out)
        print("\nThen `sre-bot serve` (with your Slack tokens) or `sre-bot doctor`. Ctrl-C stops the sandbox.",
              file=out, flush=True)

    try:
        await run_forever(sc, on_ready=ready, host=host, ports=ports)
    except OSError as e:
        raise ConfigError(f"cannot listen on {host}:{port}..{port + 3}: {e.strerror}; try --port") from None
    except ValueError as e:
        raise ConfigError(str(e)) from None
    return 0
