"""CPU-bound analysis off the event loop, bounded.

The pure functions in `analysis/` (drain3 log-template mining, anomaly scans, ranking) hold the GIL while they
run. On the event loop, one investigation's worth of them (tens to hundreds of milliseconds) delays every Slack ack
and health check queued behind it, and under load they pile up there without limit. Here they run elsewhere:

    processes > 0   a pool of that many worker processes (each has its own GIL, so the loop keeps its core);
                    started on first use from a fork server (a clean single-threaded parent, safe beside the
                    bot's threads), the analysis modules preloaded; at most `processes` functions run at once and
                    the rest wait their turn in the pool's queue
    processes = 0   one worker thread: no child processes (small installs, tests); the loop still gets the GIL
                    back every switch interval (5 ms) instead of after the whole function

`run` is the only entry point: `await offload.run(template_shifts, before, during, ...)` (tools reach it through
`deps.offload`, built by the composition root; `tools/_common.analyse` runs the function in place when a `Deps` was
built without one). The functions stay pure and get the same arguments wherever they run, so the results are the
same. A worker process that dies (killed, out of memory) breaks the pool: it is rebuilt and the call made again.
"""

from __future__ import annotations

import asyncio
import functools
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from ..logging import get_logger

__all__ = ["Offload", "default_processes", "PRELOAD"]

log = get_logger(__name__)

_T = TypeVar("_T")

# imported once in the fork server, so each worker starts with them loaded (drain3 takes ~0.2 s to import)
PRELOAD = ["sre_bot.analysis.anomaly", "sre_bot.analysis.log_shift", "sre_bot.analysis.log_templates",
           "sre_bot.analysis.ranking"]


def default_processes() -> int:
    """One worker process per core beyond the event loop's own, at least one and at most four."""
    return max(1, min(4, (os.cpu_count() or 2) - 1))


class Offload:
    """Where CPU-bound pure functions run: `processes` worker processes, or one thread when 0."""

    def __init__(self, processes: int) -> None:
        if processes < 0:
            raise ValueError(f"processes must be 0 or more, got {processes}")
        self.processes = processes
        self._executor: Executor | None = None
        self._closed = False

    @property
    def where(self) -> str:
        return f"{self.processes} worker process(es)" if self.processes else "one worker thread"

    def _pool(self) -> Executor:
        if self._closed:
            raise RuntimeError("the analysis pool is closed")
        if self._executor is None:
            if self.processes:
                ctx = multiprocessing.get_context("forkserver")
                ctx.set_forkserver_preload(PRELOAD)
                self._executor = ProcessPoolExecutor(self.processes, mp_context=ctx)
            else:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="analysis")
        return self._executor

    async def run(self, fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> _T:
        """`fn(*args, **kwargs)` in the pool; `fn` must be a module-level function (it is sent by name)."""
        loop = asyncio.get_running_loop()
        call = functools.partial(fn, *args, **kwargs)
        try:
            return await loop.run_in_executor(self._pool(), call)
        except BrokenProcessPool:
            log.warning("an analysis worker process died; restarting the pool", function=fn.__name__)
            self._replace()
            return await loop.run_in_executor(self._pool(), call)

    async def warm_up(self) -> None:
        """Start the workers now rather than on the first investigation (the server calls this at start)."""
        await self.run(_noop)

    def _replace(self) -> None:
        old, self._executor = self._executor, None
        if old is not None:
            old.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Stop the workers; calls still queued are cancelled."""
        self._closed = True
        self._replace()


def _noop() -> None:
    return None
