"""The admission line and sharing of `services/admission.py`, on a real event loop (no backends needed)."""

from __future__ import annotations

import asyncio

import pytest

from sre_bot.services.admission import Admission, Busy, ahead_text, report, reporting
from sre_bot.services.offload import Offload


async def _hold(adm: Admission, waiting: int, order: list[str], name: str, release: asyncio.Event) -> float:
    async with adm.slot(waiting) as waited:
        order.append(name)
        await release.wait()
        return waited


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_at_most_running_at_once_then_a_bounded_line_then_busy() -> None:
    """Two run, three wait in line in order, the sixth is refused at once with Busy, and every admitted one runs."""
    adm = Admission(2)
    release = asyncio.Event()
    order: list[str] = []
    tasks = [asyncio.create_task(_hold(adm, 3, order, f"q{i}", release)) for i in range(5)]
    await _settle()
    assert order == ["q0", "q1"] and adm.in_progress == 2 and adm.in_line == 3
    with pytest.raises(Busy) as refused:
        async with adm.slot(3):
            pytest.fail("admitted beyond the line's bound")
    assert "ask again in a minute" in str(refused.value) and "3 question(s) are waiting" in str(refused.value)
    assert adm.in_line == 3  # the refused one took no place
    release.set()
    waited = await asyncio.gather(*tasks)
    assert order == ["q0", "q1", "q2", "q3", "q4"]  # first come, first served: nothing lost
    assert waited[:2] == [0.0, 0.0] and all(w > 0 for w in waited[2:])
    assert adm.in_progress == 0 and adm.in_line == 0


async def test_the_place_in_line_a_new_question_would_have() -> None:
    """None while a slot is free; then how many are waiting ahead, as the first "looking…" line says it."""
    adm = Admission(1)
    assert adm.ahead_of_a_new_question() is None
    release = asyncio.Event()
    order: list[str] = []
    first = asyncio.create_task(_hold(adm, 10, order, "a", release))
    await _settle()
    assert adm.ahead_of_a_new_question() == 0
    assert ahead_text(0, 1) == "next in line (1 investigation(s) running)"
    waiting = [asyncio.create_task(_hold(adm, 10, order, f"w{i}", release)) for i in range(3)]
    await _settle()
    assert adm.ahead_of_a_new_question() == 3
    assert ahead_text(3, 1) == "waiting my turn: 3 questions ahead of yours"
    assert ahead_text(1, 1) == "waiting my turn: 1 question ahead of yours"
    release.set()
    await asyncio.gather(first, *waiting)


async def test_a_waiter_that_gives_up_leaves_the_line_and_the_slot_passes_on() -> None:
    """Cancelling a waiting question removes it from the line; the next one still gets the slot."""
    adm = Admission(1)
    release = asyncio.Event()
    order: list[str] = []
    first = asyncio.create_task(_hold(adm, 5, order, "a", release))
    await _settle()
    gives_up = asyncio.create_task(_hold(adm, 5, order, "b", release))
    after = asyncio.create_task(_hold(adm, 5, order, "c", release))
    await _settle()
    gives_up.cancel()
    await _settle()
    assert adm.in_line == 1
    release.set()
    await asyncio.gather(first, after)
    assert order == ["a", "c"] and adm.in_progress == 0


async def test_same_key_runs_once_and_everyone_gets_the_result() -> None:
    """Three askers of one key start one investigation; another key is its own."""
    adm = Admission(2)
    started: list[str] = []
    gate = asyncio.Event()

    async def work(name: str) -> str:
        started.append(name)
        await gate.wait()
        return f"answer of {name}"

    askers = [asyncio.create_task(adm.shared(("investigation", "checkout", 1, 2), lambda i=i: work(f"c{i}")))
              for i in range(3)]
    other = asyncio.create_task(adm.shared(("investigation", "cart", 1, 2), lambda: work("cart")))
    await _settle()
    gate.set()
    assert await asyncio.gather(*askers) == ["answer of c0"] * 3
    assert await other == "answer of cart"
    assert started == ["c0", "cart"] and adm.joined == 2
    # finished: reused for the same key while it holds
    assert await adm.shared(("investigation", "checkout", 1, 2), lambda: work("late")) == "answer of c0"
    assert "late" not in started


async def test_a_failure_reaches_every_waiter_and_is_not_reused() -> None:
    """The shared investigation's failure is raised to each asker; the next asker starts afresh."""
    adm = Admission(1)
    gate = asyncio.Event()
    runs = 0

    async def failing() -> str:
        nonlocal runs
        runs += 1
        await gate.wait()
        raise RuntimeError("the analysis pool is closed")

    askers = [asyncio.create_task(adm.shared("k", failing)) for _ in range(4)]
    await _settle()
    gate.set()
    results = await asyncio.gather(*askers, return_exceptions=True)
    assert runs == 1 and all(isinstance(r, RuntimeError) and "pool is closed" in str(r) for r in results)

    async def fine() -> str:
        return "ok"

    assert await adm.shared("k", fine) == "ok"


async def test_one_asker_giving_up_does_not_cancel_it_for_the_others() -> None:
    """The first asker is cancelled; the investigation it started still answers the second."""
    adm = Admission(1)
    gate = asyncio.Event()

    async def work() -> str:
        await gate.wait()
        return "done"

    first = asyncio.create_task(adm.shared("k", work))
    await _settle()
    second = asyncio.create_task(adm.shared("k", work))
    await _settle()
    first.cancel()
    await _settle()
    gate.set()
    assert await second == "done"
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_reports_go_to_whoever_listens_and_never_fail_the_answer() -> None:
    """`report` reaches the progress of the block it runs in; a failing progress is only logged."""
    heard: list[str] = []

    async def progress(text: str) -> None:
        heard.append(text)

    async def broken(text: str) -> None:
        raise ConnectionError("slack is down")

    await report("nobody listens")
    with reporting(progress):
        await report("checking the telemetry")
    with reporting(broken):
        await report("lost, harmlessly")
    assert heard == ["checking the telemetry"]


async def test_memo_computes_a_pure_function_once_per_key() -> None:
    """`Offload.memo`: concurrent and later callers of a key share one computation; a failure is not kept."""
    off = Offload(0)
    try:
        results = await asyncio.gather(*(off.memo(("sum", 1, 2), sum, [1, 2]) for _ in range(3)))
        assert results == [3, 3, 3] and off.memo_hits == 2
        assert await off.memo(("sum", 1, 2), sum, [1, 2]) == 3 and off.memo_hits == 3
        with pytest.raises(TypeError):
            await off.memo(("bad",), sum, ["a"])
        with pytest.raises(TypeError):
            await off.memo(("bad",), sum, ["a"])  # computed again: the failure was not remembered
        assert off.memo_hits == 3
    finally:
        off.close()
