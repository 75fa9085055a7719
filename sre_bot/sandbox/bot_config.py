"""The sre-bot configuration that matches a scenario, so the bot and the simulated shop agree on names.

`sandbox_config(scenario)` gives the `Config` (services with namespace, depends_on, tier, argocd_app; the
scenario's extra signals); `with_every_section(config, …)` adds what the rest of the product needs to be tried
(the shipped runbooks, approvers and action policies, an incident channel, deploy verdicts posted there);
`config_yaml(config)` writes it as an `sre-bot.yaml` a team can keep and edit.

Paging: the sandbox's PagerDuty and Opsgenie receivers know one team, `SANDBOX_TEAM`, owning every service, with the
keys of `sandbox_paging_keys()` (fixed, so a written config and env keep working across restarts); the env of
`SandboxURLs.as_env()` carries them and `with_every_section` adds the matching `escalation:` section.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from ..actions.config import ActionsConfig, Approvers
from ..config import Config, Defaults, ServiceConfig
from ..deploys.config import DeploysConfig
from ..escalation.config import EscalationConfig, TeamRoute
from ..incidents.config import IncidentsConfig
from ..runbooks.config import RunbooksConfig
from .scenario import Scenario

__all__ = ["sandbox_config", "with_every_section", "config_yaml", "SANDBOX_TEAM", "sandbox_paging_keys"]

SANDBOX_TEAM = "shop-oncall"


def sandbox_paging_keys() -> dict[str, dict[str, str]]:
    """{"pagerduty": {team: 32-character routing key}, "opsgenie": {team: API key}}: fixed sandbox secrets."""
    def key(what: str) -> str:
        return hashlib.sha256(f"sre-bot sandbox {what} {SANDBOX_TEAM}".encode()).hexdigest()

    og = key("opsgenie")
    return {"pagerduty": {SANDBOX_TEAM: key("pagerduty")[:32]},
            "opsgenie": {SANDBOX_TEAM: f"{og[:8]}-{og[8:12]}-{og[12:16]}-{og[16:20]}-{og[20:32]}"}}


def sandbox_config(scenario: Scenario) -> Config:
    services = [
        ServiceConfig(
            name=s.name,
            namespace=scenario.namespace_of(s),
            depends_on=list(s.depends_on),
            tier=s.tier or s.kind,
            argocd_app=scenario.app_name(s),
        )
        for s in scenario.services
    ]
    return Config(
        defaults=Defaults(namespace=scenario.namespace),
        # A scenario's extra signal applies only to the services that produce it (no "no data" rows elsewhere).
        signals={
            name: c.signal().model_copy(update={"only": [s.name for s in scenario.services if name in s.shapes()]})
            for name, c in scenario.signals.items()
        },
        services=services,
    )


def with_every_section(config: Config, *, runbooks_dir: Path, approvers: Sequence[str] = (),
                       incidents_channel: str | None = None) -> Config:
    """`config` with runbooks, actions and incidents filled in, so every feature can be tried against the sandbox.

    `approvers`: Slack member ids (U…) who may approve; with none, actions are only suggested (the bot says so).
    Every action waits for a click (`approve`, the default)."""
    actions = ActionsConfig(approvers=Approvers(users=list(approvers)))
    return config.model_copy(update={
        "runbooks": RunbooksConfig(dir=runbooks_dir),
        "actions": actions,
        "incidents": IncidentsConfig(channel=incidents_channel, every="5s"),
        "deploys": DeploysConfig(channel=incidents_channel),  # a verdict on every Argo CD sync, bad ones posted
        # the sandbox's PagerDuty and Opsgenie receivers page this team (keys: SandboxURLs.as_env)
        "escalation": EscalationConfig(teams={SANDBOX_TEAM: TeamRoute(
            services=[s.name for s in config.services], pagerduty=True, opsgenie=True)}, default_team=SANDBOX_TEAM),
    })


def config_yaml(config: Config, *, header: str | None = None) -> str:
    """The config as YAML (defaults omitted), loadable with `sre_bot.config.load_config`."""
    data: dict[str, Any] = config.model_dump(mode="json", exclude_defaults=True)
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120)
    return (f"# {header}\n" if header else "") + text
