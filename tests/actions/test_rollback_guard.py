"""A rollback blamed on a revision (`away_from`, as the engine proposes it) is prepared only while the app runs that
revision and never returns to it: after checkout is rolled back, the same proposal would have rolled it back *to*
the bad deploy; now it is refused, saying why. Against the sandbox's Argo CD wire format."""

from __future__ import annotations

import pytest

from sre_bot.actions.catalog import validate_action
from sre_bot.actions.prepare import prepare
from sre_bot.errors import UsageError
from tests.runbooks._support import sandbox_deps

BAD = "4f1c2e9a7b3d"


def _rollback(**args: object):
    return validate_action("argocd.rollback", {"service": "checkout", **args}, reason="test", evidence_ids=[],
                           evidence={}, services={"checkout": "checkout"}, by_person=True)


async def test_the_blamed_revision_is_left_and_never_returned_to():
    async with sandbox_deps("checkout-bad-deploy") as (sb, deps):
        prepared = await prepare(deps, _rollback(away_from=BAD), now=deps.clock())
        assert prepared.args["from_revision"].startswith(BAD) and not prepared.args["to_revision"].startswith(BAD)
        assert deps.argocd is not None
        await deps.argocd.rollback(prepared.args["app"], prepared.args["to_history_id"])
        with pytest.raises(UsageError, match="no longer runs `4f1c2e9a7b`"):
            await prepare(deps, _rollback(away_from=BAD), now=deps.clock())
        # a person's own rollback (nothing blamed) is still theirs to ask for: to the deploy before, shown in the
        # preview, never to the revision that runs now
        person = await prepare(deps, _rollback(), now=deps.clock())
        assert person.args["to_revision"] != person.args["from_revision"]


async def test_an_explicit_target_that_is_the_blamed_revision_is_refused():
    async with sandbox_deps("checkout-bad-deploy") as (sb, deps):
        assert deps.argocd is not None
        app = await deps.argocd.get_app("checkout")
        bad_id = next(d.id for d in app.history if d.revision.startswith(BAD))
        older = next(d.id for d in app.history if not d.revision.startswith(BAD))
        await deps.argocd.rollback("checkout", older)
        with pytest.raises(UsageError):
            await prepare(deps, _rollback(away_from=BAD, to_history_id=bad_id), now=deps.clock())
