"""Investigations admitted through a bounded line, and repeated questions sharing one investigation.

A burst of questions (everyone mentions the bot during an incident) used to start every investigation at once: they
split the CPU and all finished late together. Now:

    Admission(running)
    ├── turn(waiting)        a question's `slot`, taken only when it must start work nobody else has started
    │                        (`Turn.share`): a question joining another's evidence never waits in line
    ├── slot(waiting)        hold one of `running` slots; when all are taken, wait in line, first come first
    │                        served, at most `waiting` in line: one more is refused at once with `Busy` ("ask again
    │                        in a minute"; nothing was started, nothing is half done). The mention's first
    │                        "looking…" message says how many questions are ahead (`ahead_of_a_new_question`),
    │                        and whoever waited hears when their turn comes (`reporting`). The place in line is
    │                        not updated as it moves: with a hundred in line that would be thousands of Slack
    │                        updates (chat.update is rate limited) to say what the answer soon says.
    └── shared(key, start)   one investigation per `key` (the resolved service and the window to the minute): the
                             first asker starts it in its own task (one asker giving up does not cancel it for the
                             others); later askers await the same result, or the same failure. A finished one is
                             reused while its key holds, for at most REUSE_S seconds (KEEP of them, newest kept).

`reporting(progress)` names, for the task that asks, where the queue's news goes (the mention's "looking…"
message); without it the wait is silent (the CLI, the evaluation).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Generic, TypeVar, cast

from ..deadline import postpone
from ..errors import UsageError
from ..logging import get_logger

__all__ = ["Admission", "Turn", "Busy", "reporting", "report", "ahead_text", "REUSE_S", "KEEP"]

log = get_logger(__name__)

_T = TypeVar("_T")

REUSE_S = 60.0  # a finished investigation answers the same key for at most this long (the key is to the minute)
KEEP = 64  # finished investigations kept for reuse, newest first

Report = Callable[[str], Awaitable[None]]
_reporter: ContextVar[Report | None] = ContextVar("sre_bot_admission_reporter", default=None)


class Busy(UsageError):
    """Too many questions already in line: the person is asked to try again (their question was not started)."""

    def __init__(self, running: int, waiting: int) -> None:
        self.running, self.waiting = running, waiting
        super().__init__(f"I'm busy: {running} investigation(s) are running and {waiting} question(s) are waiting "
                         "already. Please ask again in a minute.")


@contextlib.contextmanager
def reporting(progress: Report | None) -> Iterator[None]:
    """Queue news for the questions asked inside this block goes to `progress` ("3 questions ahead of yours")."""
    token = _reporter.set(progress)
    try:
        yield
    finally:
        _reporter.reset(token)


async def report(text: str) -> None:
    """Tell whoever asked (when anyone listens); a failed report never costs the answer."""
    progress = _reporter.get()
    if progress is None:
        return
    try:
        await progress(text)
    except Exception as e:  # noqa: BLE001 (progress is a courtesy)
        log.warning("queue progress not reported", error=str(e))


def ahead_text(ahead: int, running: int) -> str:
    """The "looking…" line for a question that waits: how many are ahead of it."""
    if ahead <= 0:
        return f"next in line ({running} investigation(s) running)"
    return f"waiting my turn: {ahead} question{'s' if ahead != 1 else ''} ahead of yours"


@dataclass(eq=False)
class _Waiter:
    turn: asyncio.Future[None]


@dataclass(eq=False)
class _Shared(Generic[_T]):
    task: asyncio.Task[_T]
    started: float
    finished: float | None = None
    askers: int = 1


@dataclass(eq=False)
class Admission:
    """At most `running` investigations at once, a bounded line behind them, and one investigation per key."""

    running: int
    _busy: int = 0
    _line: deque[_Waiter] = field(default_factory=deque)
    _shared: OrderedDict[Hashable, _Shared[object]] = field(default_factory=OrderedDict)
    joined: int = 0  # calls answered by joining work started or done by another (tests, the benchmark)

    def __post_init__(self) -> None:
        if self.running < 1:
            raise ValueError(f"running must be at least 1, got {self.running}")

    # -- the line ------------------------------------------------------------------------------------------------

    @property
    def in_line(self) -> int:
        return len(self._line)

    @property
    def in_progress(self) -> int:
        return self._busy

    def ahead_of_a_new_question(self) -> int | None:
        """How many questions a question asked now would have ahead of it; None when it would start at once."""
        if self._busy < self.running and not self._line:
            return None
        return len(self._line)

    @contextlib.asynccontextmanager
    async def slot(self, waiting: int) -> AsyncIterator[float]:
        """Hold a slot; yields the seconds spent in line (0.0: none). `Busy` when `waiting` questions are in line
        already."""
        started = time.monotonic()
        waited = 0.0
        if self._busy < self.running and not self._line:
            self._busy += 1
        else:
            if len(self._line) >= waiting:
                log.warning("investigation refused: the line is full", running=self._busy, waiting=len(self._line))
                raise Busy(self._busy, len(self._line))
            await self._wait_turn()
            waited = time.monotonic() - started
        if waited > 0.5:
            log.info("investigation waited for a free slot", seconds=round(waited, 2), slots=self.running)
        try:
            yield waited
        finally:
            self._release()

    async def _wait_turn(self) -> None:
        me = _Waiter(asyncio.get_running_loop().create_future())
        self._line.append(me)
        try:
            await me.turn
        except BaseException:
            if me.turn.done() and not me.turn.cancelled():
                self._release()  # the slot was handed over just as this asker gave up: pass it on
            else:
                with contextlib.suppress(ValueError):
                    self._line.remove(me)
                me.turn.cancel()
            raise

    def _release(self) -> None:
        while self._line:
            nxt = self._line.popleft()
            if not nxt.turn.done():
                nxt.turn.set_result(None)  # the slot passes straight to the next in line
                return
        self._busy -= 1

    def turn(self, waiting: int) -> Turn:
        """A question's turn, taken only when it must start work of its own (`Turn.share`)."""
        return Turn(self, waiting)

    # -- sharing -------------------------------------------------------------------------------------------------

    def joinable(self, key: Hashable) -> bool:
        """Whether `shared(key, …)` would join work in progress or reuse work done, rather than start it."""
        entry = self._shared.get(key)
        return entry is not None and (entry.finished is None or time.monotonic() - entry.finished <= REUSE_S)

    def kept(self) -> list[Hashable]:
        """The keys of the work in progress or kept for reuse, oldest first."""
        return list(self._shared)

    async def shared(self, key: Hashable, start: Callable[[], Awaitable[_T]]) -> _T:
        """The result of the one investigation for `key`: started by this call, or joined."""
        now = time.monotonic()
        entry = self._shared.get(key)
        if entry is not None and self.joinable(key):
            entry.askers += 1
            self.joined += 1
            self._shared.move_to_end(key)  # (no progress line: its answer comes with the first asker's)
            return cast(_T, await asyncio.shield(entry.task))
        task: asyncio.Task[_T] = asyncio.create_task(_run(start))
        fresh: _Shared[_T] = _Shared(task=task, started=now)
        self._shared[key] = fresh  # type: ignore[assignment]
        task.add_done_callback(lambda t: self._finished(key, fresh, t))
        self._evict()
        return await asyncio.shield(task)

    def forget_finished(self) -> int:
        """Drop every finished investigation kept for reuse (an action just changed the system: the next question
        must see it); ones still running keep their askers. Returns how many were dropped."""
        done = [k for k, e in self._shared.items() if e.finished is not None]
        for k in done:
            del self._shared[k]
        return len(done)

    def _finished(self, key: Hashable, entry: _Shared[_T], task: asyncio.Task[_T]) -> None:
        entry.finished = time.monotonic()
        failed = task.cancelled() or task.exception() is not None  # retrieved: no "never retrieved" warning
        if failed and self._shared.get(key) is entry:
            del self._shared[key]  # a failure reaches the askers already waiting, never a later one
        if entry.askers > 1:
            log.info("investigation shared", askers=entry.askers, failed=failed)

    def _evict(self) -> None:
        """Finished investigations past REUSE_S go (their evidence with them), and the oldest beyond KEEP."""
        now = time.monotonic()
        done = [k for k, e in self._shared.items() if e.finished is not None]
        stale = {k for k in done if now - (self._shared[k].finished or now) > REUSE_S}
        for k in [*stale, *[k for k in done if k not in stale][:max(0, len(done) - len(stale) - KEEP)]]:
            del self._shared[k]


class Turn:
    """One question's slot, taken the first time it must start shared work itself (a question whose evidence is
    being gathered, or was, for another takes no slot and never waits in line), then held until `close`."""

    def __init__(self, admission: Admission, waiting: int) -> None:
        self._admission, self._waiting = admission, waiting
        self._slot: contextlib.AbstractAsyncContextManager[float] | None = None
        self.waited = 0.0

    async def share(self, key: Hashable, start: Callable[[], Awaitable[_T]]) -> _T:
        """`Admission.shared`, taking this question's slot first when the work is not there to join."""
        if not self._admission.joinable(key):
            await self._take()
        return await self._admission.shared(key, start)

    async def _take(self) -> None:
        if self._slot is not None:
            return
        slot = self._admission.slot(self._waiting)
        self.waited = await slot.__aenter__()  # Busy when the line is full: nothing was started
        self._slot = slot
        postpone(self.waited)  # the time in line is the bot's, not the backends'
        if self.waited:
            await report("checking the telemetry")

    async def close(self) -> None:
        if self._slot is not None:
            slot, self._slot = self._slot, None
            await slot.__aexit__(None, None, None)


async def _run(start: Callable[[], Awaitable[_T]]) -> _T:
    return await start()
