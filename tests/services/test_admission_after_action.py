"""An executed action drops the investigations kept for reuse: a question right after a rollback is answered from
fresh evidence, not from the minute before it (`Admission.forget_finished`, called by `approvals._run`)."""

from __future__ import annotations

import asyncio

from sre_bot.services.admission import Admission


async def test_forget_finished_drops_kept_results_and_keeps_running_ones() -> None:
    adm = Admission(2)
    runs: list[str] = []

    async def start(name: str) -> str:
        runs.append(name)
        return name

    assert await adm.shared("checkout", lambda: start("checkout")) == "checkout"
    assert await adm.shared("checkout", lambda: start("checkout")) == "checkout"  # reused: one run
    assert runs == ["checkout"]

    release = asyncio.Event()

    async def slow() -> str:
        await release.wait()
        return "slow"

    pending = asyncio.create_task(adm.shared("payments", slow))
    await asyncio.sleep(0)
    assert adm.forget_finished() == 1  # checkout's kept answer goes; payments is still running
    joined = asyncio.create_task(adm.shared("payments", slow))
    release.set()
    assert await pending == "slow" and await joined == "slow"
    assert await adm.shared("checkout", lambda: start("checkout")) == "checkout"
    assert runs == ["checkout", "checkout"]  # asked again after the action: investigated afresh
