"""Shared by the store tests: the reference time, and a second OS process (`_claimer.py`) to race against."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

__all__ = ["T0", "spawn_claimer", "read_line", "say_go"]

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
_CLAIMER = Path(__file__).with_name("_claimer.py")


async def spawn_claimer(url: str, user: str, mode: str, ids: Sequence[str] = ()) -> asyncio.subprocess.Process:
    """Start `_claimer.py` (see its docstring for the modes) with pipes on stdin and stdout."""
    return await asyncio.create_subprocess_exec(sys.executable, str(_CLAIMER), url, user, mode, *ids,
                                                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)


async def read_line(proc: asyncio.subprocess.Process) -> str:
    """The next line the process prints (fails the test if it exits first or takes over 30 s)."""
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), timeout=30)
    assert line, f"the claimer process exited early with {await proc.wait()}"
    return line.decode().strip()


async def say_go(*procs: asyncio.subprocess.Process) -> None:
    """Release processes waiting after "ready", as close together as possible."""
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(b"go\n")
    await asyncio.gather(*(p.stdin.drain() for p in procs))  # type: ignore[union-attr]
