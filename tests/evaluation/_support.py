"""Helpers for the evaluation tests: the bot's answer on a sandbox scenario, with the sandbox's World."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sre_bot.clock import frozen_clock
from sre_bot.compose import open_deps
from sre_bot.deps import Deps
from sre_bot.evaluation.runner import eval_settings
from sre_bot.sandbox import Sandbox, load_scenario
from tests.sandbox._support import NOW


@asynccontextmanager
async def bot_on(name: str, **env: Any) -> AsyncIterator[tuple[Sandbox, Deps]]:
    """The sandbox for scenario `name` and the bot's Deps pointed at it (engine only unless env adds a model)."""
    async with Sandbox(load_scenario(name), clock=frozen_clock(NOW), now=NOW) as sb:
        settings = eval_settings({**sb.urls.as_env(), **env})
        async with open_deps(settings, config=sb.config, clock=frozen_clock(NOW), use_llm=bool(env)) as deps:
            yield sb, deps
