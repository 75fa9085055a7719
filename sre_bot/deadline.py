"""One overall deadline per answer, and which systems did not answer within it.

A surface or service that answers a person (a mention, `/sre status`, an investigation) opens
`answer_deadline(seconds)`. Every backend read made under it, in any task it starts, gets at most the time left
(`call_budget`), and a system that timed out once is not asked again in the same answer: its later reads fail at
once with the same message. So one silent system costs one timeout, not one per query, and the answer names it once:

    with answer_deadline(15) as d:
        reply = await status_report(...)   # every read inside has ended (answered or not) 15 s from here
    d.close()                              # the answer is in: later reads here use their own timeouts again

    an answer (`silent`: backend -> how it failed; `closed` once the answer is in)
    ├── answer_deadline(s)  nested ones share the answer and keep the earlier end
    ├── best_effort(0.25)   an optional lookup (service discovery) gets a quarter of the time left, and its
    │                       timeouts are not held against the system, so the evidence after it still gets its turn
    ├── extended(90)        a part with its own limit (the model's tool loop): a new end, the same `silent`
    └── postpone(s)         time spent in the bot's own queue (waiting for a free investigation slot under
                            load) moves the end: the deadline bounds the wait on backends, not the bot's queue

Writes (actions) never take part: a person approved them and they keep their own timeouts. Time is the monotonic
clock: a deadline bounds elapsed time, not the wall clock that `now` reads. Nothing here does I/O.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

__all__ = ["Deadline", "Budget", "Skipped", "answer_deadline", "best_effort", "extended", "postpone", "current",
           "call_budget"]


@dataclass(eq=False)
class _Answer:
    """What every scope of one answer shares."""

    seconds: float  # the length people configured (SRE_BOT_ANSWER_DEADLINE), for messages
    silent: dict[str, str] = field(default_factory=dict)  # backend -> the message of its timeout
    closed: bool = False
    postponed: float = 0.0  # seconds spent in the bot's own queue (waiting for a free investigation slot)


@dataclass(eq=False)
class Deadline:
    """One scope of an answer: when its reads must end (`expires`, monotonic seconds)."""

    answer: _Answer
    end: float  # monotonic, before any postponement
    marks: bool = True  # False in a best-effort scope: its timeouts do not make a system silent

    @property
    def seconds(self) -> float:
        return self.answer.seconds

    @property
    def expires(self) -> float:
        return self.end + self.answer.postponed

    def remaining(self) -> float:
        return self.expires - time.monotonic()

    def silent_message(self, backend: str) -> str | None:
        """How `backend` failed earlier in this answer, or None when it has not."""
        return self.answer.silent.get(backend)

    def mark_silent(self, backend: str, message: str) -> None:
        if self.marks:
            self.answer.silent.setdefault(backend, message)

    def close(self) -> None:
        """The answer is in: reads made later in the same context (preparing proposed actions, say) are no longer
        held to it."""
        self.answer.closed = True


_current: ContextVar[Deadline | None] = ContextVar("sre_bot_answer_deadline", default=None)


def current() -> Deadline | None:
    """The deadline the running task answers within, if any (a closed one does not count)."""
    d = _current.get()
    return d if d is not None and not d.answer.closed else None


@contextlib.contextmanager
def _use(deadline: Deadline) -> Iterator[Deadline]:
    token = _current.set(deadline)
    try:
        yield deadline
    finally:
        _current.reset(token)


@contextlib.contextmanager
def answer_deadline(seconds: float) -> Iterator[Deadline]:
    """Answer within `seconds` from now; inside another answer's deadline, the earlier end wins."""
    outer = current()
    end = time.monotonic() + seconds
    if outer is None:
        scope = Deadline(answer=_Answer(seconds=seconds), end=end)
    else:
        scope = Deadline(answer=outer.answer, end=min(end, outer.expires) - outer.answer.postponed,
                         marks=outer.marks)
    with _use(scope) as d:
        yield d


@contextlib.contextmanager
def best_effort(share: float = 0.25) -> Iterator[Deadline | None]:
    """An optional lookup: at most `share` of the time left, and a timeout in it does not mark the system silent.
    Without an answer deadline this does nothing (the backends' own timeouts apply)."""
    outer = current()
    if outer is None:
        yield None
        return
    end = time.monotonic() + max(outer.remaining(), 0.0) * share
    with _use(Deadline(answer=outer.answer, end=end - outer.answer.postponed, marks=False)) as d:
        yield d


@contextlib.contextmanager
def extended(seconds: float, of: Deadline | None = None) -> Iterator[Deadline | None]:
    """A part with its own limit (the model's tool loop): `seconds` from now, remembering who was silent in the
    answer of `of` (default: the current deadline), even when that answer is closed. Without either: nothing."""
    base = of if of is not None else _current.get()
    if base is None:
        yield None
        return
    part = _Answer(seconds=seconds, silent=base.answer.silent)
    with _use(Deadline(answer=part, end=time.monotonic() + seconds)) as d:
        yield d


def postpone(seconds: float) -> None:
    """The current answer spent `seconds` in the bot's own queue (a free investigation slot under load): that
    time is not the backends' and does not count against the deadline."""
    d = current()
    if d is not None and seconds > 0:
        d.answer.postponed += seconds


@dataclass(frozen=True)
class Budget:
    """The time one backend call may take: its own timeout, or less when the answer's deadline is nearer."""

    seconds: float
    expires: float  # monotonic
    cut: bool  # True when the answer's deadline (not the backend's timeout) set `seconds`
    deadline: Deadline | None = None

    def within(self) -> str:
        """'within 10s', or 'within 3.2s (what was left of the answer's 15s deadline)'."""
        if not self.cut or self.deadline is None:
            return f"within {self.seconds:g}s"
        return f"within {self.seconds:.1f}s (what was left of the answer's {self.deadline.seconds:g}s deadline)"

    def left(self) -> float:
        return self.expires - time.monotonic()

    def silent_message(self, backend: str) -> str | None:
        return self.deadline.silent_message(backend) if self.deadline is not None else None

    def timed_out(self, backend: str, message: str) -> None:
        """Record that `backend` did not answer: later reads in this answer fail at once with `message`."""
        if self.deadline is not None:
            self.deadline.mark_silent(backend, message)


class Skipped(Exception):
    """A read that was not made: `message` says why (the system was silent earlier, or no time was left)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def call_budget(backend: str, where: str, timeout: float) -> Budget:
    """The budget of one read from `backend` (`where`: "Prometheus at http://…"), or `Skipped` when it must not
    be made: the system already failed to answer in this answer, or the answer's deadline has passed."""
    deadline = current()
    now = time.monotonic()
    if deadline is None:
        return Budget(seconds=timeout, expires=now + timeout, cut=False)
    earlier = deadline.silent_message(backend)
    if earlier is not None:
        raise Skipped(earlier)
    left = deadline.expires - now
    if left <= 0.0:
        raise Skipped(f"{where} not asked: the answer's {deadline.seconds:g}s deadline had passed")
    if left < timeout:
        return Budget(seconds=left, expires=deadline.expires, cut=True, deadline=deadline)
    return Budget(seconds=timeout, expires=now + timeout, cut=False, deadline=deadline)
