"""Helpers for the runbook tests: the shipped runbooks, the test scenarios, a bot's deps against a sandbox, one run."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sre_bot.actions.config import ActionsConfig
from sre_bot.compose import open_deps
from sre_bot.config import Config
from sre_bot.deps import Deps
from sre_bot.runbooks.config import RunbooksConfig
from sre_bot.runbooks.run import RunState
from sre_bot.sandbox import Sandbox, load_scenario
from sre_bot.services.caller import Caller
from sre_bot.services.runbook_commands import prepare_run, resolve_run, run_prepared
from sre_bot.settings import load_settings

__all__ = ["ROOT", "SHIPPED", "SCENARIOS", "scenario", "bot_config", "sandbox_deps", "run", "statuses",
           "audit_records"]

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "runbooks"
SCENARIOS = Path(__file__).resolve().parent / "scenarios"


def scenario(name: str):
    """A test scenario under tests/runbooks/scenarios, or a shipped one by name."""
    path = SCENARIOS / f"{name}.yaml"
    return load_scenario(path if path.exists() else name)


def bot_config(base: Config, *, runbooks_dir: Path = SHIPPED, approvers: bool = True, **runbooks: Any) -> Config:
    """`base` (a sandbox's config) with runbooks loaded from `runbooks_dir` and an approver, W222."""
    update: dict[str, Any] = {"runbooks": RunbooksConfig(dir=runbooks_dir, **runbooks)}
    if approvers:
        update["actions"] = ActionsConfig.model_validate({"approvers": {"users": ["W222"]}})
    return base.model_copy(update=update)


@asynccontextmanager
async def sandbox_deps(name: str, *, env: dict[str, str] | None = None, **config: Any
                       ) -> AsyncIterator[tuple[Sandbox, Deps]]:
    """A running sandbox of scenario `name` and the bot's deps (with a fresh SQLite store) pointed at it."""
    async with Sandbox(scenario(name)) as sb:
        with tempfile.TemporaryDirectory(prefix="sre-bot-rb-") as tmp:
            settings = load_settings(None, SRE_BOT_DB_URL=f"sqlite+aiosqlite:///{tmp}/sre-bot.db",
                                     **{**sb.urls.as_env(), **(env or {})})
            async with open_deps(settings, config=bot_config(sb.config, **config), use_store=True) as deps:
                yield sb, deps


async def run(deps: Deps, runbook: str, service: str | None, *, user: str = "W111",
              channel: str = "C111") -> RunState:
    """Run a runbook through the service layer, as `/sre runbook` does (without Slack)."""
    caller = Caller(user=user, channel=channel, user_name=user.lower())
    req = await resolve_run(deps, runbook, service)
    return await run_prepared(deps, req, prepare_run(deps, req, caller), caller, trigger={"kind": "test"})


def statuses(state: RunState) -> dict[str, str]:
    return {s.step.id: s.status for s in state.steps}


async def audit_records(deps: Deps, run_id: str) -> list[Any]:
    """The audit records of one run, oldest first (started, each step, finished)."""
    records = await deps.store.latest(500)  # type: ignore[union-attr]
    return [r for r in reversed(records) if r.data.get("run_id") == run_id]
