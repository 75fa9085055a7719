"""Every half minute: expire overdue approval requests and flag ones stuck mid-run, then redraw their messages."""

from __future__ import annotations

import asyncio
from contextlib import suppress

from slack_sdk.web.async_client import AsyncWebClient

from ..actions.approvals import sweep
from ..deps import Deps
from ..logging import get_logger
from ..store.errors import StoreError
from .approvals import redraw

__all__ = ["run_sweeper", "SWEEP_EVERY_S"]

log = get_logger(__name__)

SWEEP_EVERY_S = 30.0


async def sweep_once(client: AsyncWebClient, deps: Deps) -> int:
    changed = await sweep(deps)
    for req in changed:
        await redraw(client, deps, req)
    return len(changed)


async def run_sweeper(client: AsyncWebClient, deps: Deps, stop: asyncio.Event, *,
                      every_s: float = SWEEP_EVERY_S) -> None:
    """Until `stop` is set; a failed sweep is logged and the next one tries again."""
    while not stop.is_set():
        try:
            n = await sweep_once(client, deps)
            if n:
                log.info("swept approval requests", changed=n)
        except StoreError as e:  # the database is down or busy: one line, not a traceback every half minute
            log.warning("sweep failed: the store did not answer; retrying at the next interval", error=str(e),
                        transient=e.transient)
        except Exception:
            log.exception("sweep failed; retrying at the next interval")
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)
