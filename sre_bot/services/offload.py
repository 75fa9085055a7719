"""CPU-bound analysis off the event loop, and a bound on how many investigations run at once.

The pure functions in `analysis/` (drain3 log-template mining, anomaly scans) hold the GIL while they run. On the
event loop, one investigation's worth of them delays every Slack ack and health check queued behind it, and under
load they pile up there without limit. Two things keep the loop free:

    run(fn, ...)           the function runs in a pool of `processes` worker processes (each has its own GIL, so
                           the loop keeps its core), at most that many at once, the rest in the pool's queue; with
                           processes=0, in one worker thread instead (the loop then still gets the GIL back every
                           switch interval, 5 ms, rather than after the whole function)
    admission              at most `investigations` investigations gather and analyse evidence at once; the others
                           wait their turn in a bounded line, and repeated questions share one investigation
                           (`services/admission.py`; the wait is the bot's, not a backend's: it does not count
                           against the answer's deadline, see `deadline.postpone`). This bounds what no pool can
                           move: the loop's own share of each investigation (HTTP clients, building evidence) and
                           the GIL the Prometheus threads take, so acks and health checks stay fast however many
                           arrive
    memo(key, fn, ...)     `run`, remembered: the same pure function of the same arguments (`key` names them) is
                           computed once while it is among the MEMO_SIZE newest, and concurrent callers share it

Workers are processes from a fork server (a clean single-threaded parent, safe beside the bot's threads) with the
analysis modules preloaded, at a lower CPU priority (nice 10) so that when analysis keeps every core busy the bot's
own process still gets the CPU first; they start on first use, from a thread, never on the loop. Tools reach `run`
through `deps.offload` (`tools/_common.analyse`, which runs the function in place when a `Deps` has none).
The functions stay pure and get the same arguments wherever they run, so the results are the same. A worker that
dies (killed, out of memory) breaks the pool: it is rebuilt and the call made once more.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import multiprocessing
import os
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from ..logging import get_logger
from .admission import Admission

__all__ = ["Offload", "default_processes", "PRELOAD", "DEFAULT_INVESTIGATIONS", "MEMO_SIZE"]

log = get_logger(__name__)

_T = TypeVar("_T")

DEFAULT_INVESTIGATIONS = 2
MEMO_SIZE = 256  # results of pure functions kept by `memo` (log templates of a service and window, say)
WORKER_NICENESS = 10  # analysis workers run at a lower CPU priority than the bot's own process

# imported once in the fork server, so each worker starts with them loaded (drain3 takes ~0.2 s to import)
PRELOAD = ["sre_bot.analysis.anomaly", "sre_bot.analysis.log_shift", "sre_bot.analysis.log_templates"]


def default_processes() -> int:
    """One worker process per core beyond the event loop's own, at least one and at most four."""
    return max(1, min(4, (os.cpu_count() or 2) - 1))


class Offload:
    """Where CPU-bound pure functions run (`processes` worker processes, or one thread when 0), and how many
    investigations may run at once."""

    def __init__(self, processes: int, investigations: int = DEFAULT_INVESTIGATIONS) -> None:
        if processes < 0:
            raise ValueError(f"processes must be 0 or more, got {processes}")
        if investigations < 1:
            raise ValueError(f"investigations must be at least 1, got {investigations}")
        self.processes = processes
        self.investigations = investigations
        self._executor: Executor | None = None
        self._starting: asyncio.Lock | None = None
        self.admission = Admission(investigations)
        self._memo: OrderedDict[Hashable, asyncio.Future[Any]] = OrderedDict()
        self.memo_hits = 0
        self._closed = False

    @property
    def where(self) -> str:
        return f"{self.processes} worker process(es)" if self.processes else "one worker thread"

    async def run(self, fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> _T:
        """`fn(*args, **kwargs)` in the pool; `fn` must be a module-level function (it is sent by name)."""
        loop = asyncio.get_running_loop()
        call = functools.partial(fn, *args, **kwargs)
        try:
            return await loop.run_in_executor(await self._pool(), call)
        except BrokenProcessPool:
            log.warning("an analysis worker process died; restarting the pool", function=fn.__name__)
            self._replace()
            return await loop.run_in_executor(await self._pool(), call)

    async def memo(self, key: Hashable, fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> _T:
        """`run(fn, ...)` once per `key` among the MEMO_SIZE newest keys; callers of a key being computed wait for
        it. `key` must determine the arguments (a digest of them, say): the function is pure, so the result is the
        one it would compute again. A failure is not remembered."""
        found = self._memo.get(key)
        if found is not None and not (found.done() and (found.cancelled() or found.exception() is not None)):
            self._memo.move_to_end(key)
            self.memo_hits += 1
            return await asyncio.shield(found)
        fut: asyncio.Future[_T] = asyncio.ensure_future(self.run(fn, *args, **kwargs))
        self._memo[key] = fut
        fut.add_done_callback(lambda f: self._forget_failed(key, f))
        while len(self._memo) > MEMO_SIZE:
            self._memo.popitem(last=False)
        return await asyncio.shield(fut)

    def _forget_failed(self, key: Hashable, fut: asyncio.Future[Any]) -> None:
        if (fut.cancelled() or fut.exception() is not None) and self._memo.get(key) is fut:
            del self._memo[key]

    async def warm_up(self) -> None:
        """Start the workers now rather than with the first investigation (`serve` calls this at start)."""
        await self._pool()

    async def _pool(self) -> Executor:
        if self._closed:
            raise RuntimeError("the analysis pool is closed")
        if self._executor is not None:
            return self._executor
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._executor is None:
                # starting processes blocks (the fork server answers each start): do it off the loop
                self._executor = await asyncio.to_thread(self._start)
        return self._executor

    def _start(self) -> Executor:
        if not self.processes:
            pool: Executor = ThreadPoolExecutor(1, thread_name_prefix="analysis")
            pool.submit(_noop).result()  # its thread starts here, not in a submit on the loop
            return pool
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
        pool = ProcessPoolExecutor(self.processes, mp_context=ctx, initializer=_lower_priority)
        # workers start on demand, in whichever thread submits: start them all here, in this one
        for f in [pool.submit(_noop) for _ in range(self.processes)]:
            f.result()
        return pool

    def _replace(self) -> None:
        old, self._executor = self._executor, None
        if old is not None:
            old.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Stop the workers; calls still queued are cancelled."""
        self._closed = True
        self._replace()


def _lower_priority() -> None:
    """In each worker: yield the CPU to the bot's own process when both want it (the loop answers Slack)."""
    with contextlib.suppress(AttributeError, OSError):  # no os.nice on Windows; a sandbox may forbid it
        os.nice(WORKER_NICENESS)


def _noop() -> None:
    return None
