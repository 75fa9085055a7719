"""(being built: see the issue's helper)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..errors import UsageError

if TYPE_CHECKING:
    from ..deps import Deps
    from ..store.records import ActionRequest
    from .catalog import ActionSpec
    from .executor import Outcome
    from .prepare import Prepared

__all__ = ["prepare_page", "run_page"]


async def prepare_page(deps: Deps, spec: ActionSpec, args: dict[str, Any], *, now: datetime, requested_by: str | None,
                   request_id: str, channel: str) -> Prepared:
    raise UsageError(f"{spec.name} is not available yet")


async def run_page(deps: Deps, req: ActionRequest) -> Outcome:
    from .executor import Outcome

    return Outcome(False, f"no executor for {req.action} yet")
