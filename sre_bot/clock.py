"""The clock is a dependency: production passes `system_clock`, tests a frozen one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

__all__ = ["Clock", "system_clock", "frozen_clock"]

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(timezone.utc)


def frozen_clock(at: datetime) -> Clock:
    def _now() -> datetime:
        return at

    return _now
