"""The deps of the action path: `Deps` whose store is certain, so the type checker proves every `deps.store` call.

Requests, the audit trail and the kill switch live in the store, so nothing on the action path can run without
one. A surface builds `ActionDeps` once where it enters that path (the Slack buttons when the app is built, a
command or an answer's proposals when they start):

    actions = ActionDeps.of(deps)       # UsageError, said to the person, when this surface has no store
    await approvals.decide(actions, click, "approve")
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from ..deps import Deps
from ..errors import UsageError

if TYPE_CHECKING:
    from ..store.store import Store

__all__ = ["ActionDeps", "NO_STORE"]

NO_STORE = "actions need the bot's store (SRE_BOT_DB_URL); this surface has none"


@dataclass(frozen=True, kw_only=True)
class ActionDeps(Deps):
    """`Deps` with a store that is not optional (everything else as in `Deps`)."""

    store: Store

    @classmethod
    def of(cls, deps: Deps) -> ActionDeps:
        """`deps` for the action path (itself when it already is); UsageError when it has no store."""
        if isinstance(deps, ActionDeps):
            return deps
        if deps.store is None:
            raise UsageError(NO_STORE)
        return cls(**{f.name: getattr(deps, f.name) for f in fields(deps) if f.init and f.name != "store"},
                   store=deps.store)
