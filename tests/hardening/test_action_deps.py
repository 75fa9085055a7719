"""Issue 14, item 16 (the action path's part): the action path takes `ActionDeps`, whose store is not optional, and a
surface without a store is told so plainly instead of failing on `None`."""

from __future__ import annotations

from pathlib import Path

import pytest

from sre_bot.actions import approvals
from sre_bot.actions.catalog import validate_action
from sre_bot.actions.deps import NO_STORE, ActionDeps
from sre_bot.config import Config
from sre_bot.deps import Deps
from sre_bot.errors import UsageError
from sre_bot.services.action_commands import killswitch, list_actions
from sre_bot.settings import load_settings
from sre_bot.store import open_store


def _deps() -> Deps:
    return Deps(settings=load_settings(None), config=Config())


async def test_without_a_store_the_action_path_says_so() -> None:
    """No store (a one-shot command): proposing, auditing, `/sre actions` and `/sre killswitch` each raise a
    UsageError naming SRE_BOT_DB_URL, before anything is attempted."""
    deps = _deps()
    proposal = validate_action("argocd.rollback", {"service": "checkout"}, reason="r", evidence_ids=[], evidence={},
                               services={"checkout": "checkout"}, by_person=True)
    with pytest.raises(UsageError, match="SRE_BOT_DB_URL"):
        ActionDeps.of(deps)
    with pytest.raises(UsageError, match="SRE_BOT_DB_URL"):
        await approvals.propose(deps, proposal, source={"kind": "person"}, trigger={}, requested_by="W1",
                                channel="C1")
    with pytest.raises(UsageError, match="SRE_BOT_DB_URL"):
        await approvals.audit(deps, "refused", "x")
    for command in (list_actions(deps), killswitch(deps, "status", None)):
        with pytest.raises(UsageError) as raised:
            await command
        assert str(raised.value) == NO_STORE


async def test_action_deps_keep_every_other_dependency(tmp_path: Path) -> None:
    """`ActionDeps.of` keeps every field of the deps it is built from, and is built once: given `ActionDeps`, it
    returns them unchanged."""
    async with await open_store(f"sqlite+aiosqlite:///{tmp_path / 'sre-bot.db'}") as store:
        deps = Deps(settings=load_settings(None), config=Config(), store=store)
        actions = ActionDeps.of(deps)
        assert actions.store is store and actions.settings is deps.settings and actions.config is deps.config
        assert actions.metrics is deps.metrics and actions.clock is deps.clock and actions.runbooks is deps.runbooks
        assert ActionDeps.of(actions) is actions
        assert await approvals.kill_switch_state(actions) is None
