"""The sandbox: a simulated small shop that speaks the real wire formats of Prometheus, Loki, Argo CD and
Alertmanager, so the bot runs end to end with no credentials and no servers installed.

    scenario.py          the YAML scenario format (documented there) and `load_scenario`
    checks.py            cross-field rules; errors name the field (`services[checkout].signals.cpu`)
    signals.py / logs.py signals as functions of time; log lines per minute, both seeded
    matchers.py, logql.py label matchers and the LogQL subset the simulated Loki reads
    generate.py          `World`: a scenario anchored at `now`, with an advancing clock
    *_api.py             one aiohttp app per simulated server
    query_table.py       the PromQL the simulated Prometheus answers: the bot's signal, scope and call-graph queries
    server.py            `Sandbox`: all four on loopback; `run_forever` for `sre-bot sandbox`
    bot_config.py        `sandbox_config`: the bot's Config that matches a scenario
    openmetrics.py       `to_openmetrics`: raw metrics for a real Prometheus (promtool backfill)
"""

from .bot_config import config_yaml, sandbox_config
from .generate import World
from .openmetrics import to_openmetrics
from .scenario import Scenario, list_scenarios, load_scenario, parse_scenario
from .server import Sandbox, SandboxPorts, SandboxURLs, run_forever, start_sandbox

__all__ = [
    "Scenario", "load_scenario", "parse_scenario", "list_scenarios", "World", "sandbox_config", "config_yaml",
    "Sandbox", "SandboxPorts", "SandboxURLs", "start_sandbox", "run_forever", "to_openmetrics",
]
