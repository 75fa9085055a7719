"""Issue 14, item 15: a thread's conversation with the model lives in the store, one turn at a time.

It lived in process memory: a follow-up that reached another replica, or came after a restart, started over, and two
concurrent mentions in one thread mutated the same conversation. Driven through the real Bolt app over signed HTTP
with the real anthropic SDK against the fake Messages API (which validates every request it records), on SQLite and
PostgreSQL; the store's compare-and-set, expiry and cap are checked on both too.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import AsyncExitStack
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from sre_bot.investigation import Investigation
from sre_bot.llm.conversation import Conversation, Conversations
from sre_bot.models import Evidence, TimeRange
from sre_bot.sandbox.server import Sandbox
from sre_bot.store import open_store
from tests.fakes.anthropic_api import FakeAnthropic, delay
from tests.fakes.slack_api import BOT_USER_ID, FakeSlack
from tests.harness import BotUnderTest, running_bot
from tests.llm._script import answer
from tests.slack_signing import app_mention
from tests.store.conftest import pg_url, postgres_available, sqlite_url, store_url  # noqa: F401

THREAD = "1763700000.000100"
KEY = f"C9:{THREAD}"
FIRST = "why is payments-api slow?"
T0 = datetime(2026, 11, 21, 14, 0, tzinfo=timezone.utc)


@pytest.fixture
def model() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as m:
        yield m


def _env(shop: Sandbox, model: FakeAnthropic, db_url: str) -> dict[str, str]:
    return {**shop.urls.as_env(), "ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": model.url,
            "SRE_BOT_LLM_MAX_RETRIES": "0", "SRE_BOT_DB_URL": db_url}


def _answers(fake: FakeSlack) -> list[dict[str, Any]]:
    return [c.args for c in fake.calls("chat.update") if not c.args.get("text", "").startswith("🔎")]


async def _answered(fake: FakeSlack, count: int, timeout: float = 60) -> None:
    """Wait until `count` answers have replaced their "looking…" messages."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(_answers(fake)) < count:
        if loop.time() > deadline:
            raise AssertionError(f"{len(_answers(fake))} of {count} answers; calls: {fake.describe()}")
        await asyncio.sleep(0.05)


async def _mention(bot: BotUnderTest, question: str, *, first: bool = False) -> None:
    """`@sre-bot <question>` in channel C9: the thread's first message, or a reply in that thread."""
    text = f"<@{BOT_USER_ID}> {question}"
    body = app_mention(text, channel="C9", ts=THREAD) if first else app_mention(text, channel="C9", thread_ts=THREAD)
    resp = await bot.post(body)
    assert resp.status_code == 200


def _sent(body: dict[str, Any]) -> str:
    return json.dumps(body["messages"], ensure_ascii=False)


def _turn(summary: str) -> Any:
    return answer(summary=summary, insufficient_evidence=True)


async def _stored(bot: BotUnderTest) -> Conversation:
    assert bot.deps.store is not None
    conv = await Conversations(bot.deps.store.conversations).get(KEY, now=bot.deps.clock())
    assert conv is not None, "no conversation stored for the thread"
    return conv


def _roles_alternate(conv: Conversation) -> None:
    roles = [m["role"] for m in conv.messages]
    assert roles == ["user", "assistant"] * (len(roles) // 2), roles


async def test_follow_up_on_a_second_replica_continues_the_conversation(
        fake_slack: FakeSlack, shop: Sandbox, model: FakeAnthropic, store_url: str) -> None:  # noqa: F811
    """A follow-up answered by a second bot on the same store sends the model the first bot's turn."""
    model.enqueue(_turn("First look: the payments-db pool."), _turn("The DB is saturated."))
    env = _env(shop, model, store_url)
    async with running_bot(fake_slack, config=shop.config, incidents=False, **env) as a, \
            running_bot(fake_slack, config=shop.config, incidents=False, **env) as b:
        await _mention(a, FIRST, first=True)
        await _answered(fake_slack, 1)
        await _mention(b, "what about the DB?")
        await _answered(fake_slack, 2)
        stored = await _stored(b)
    model.assert_clean()
    first, follow_up = model.bodies
    assert FIRST in _sent(first) and "what about the DB?" not in _sent(first)
    sent = _sent(follow_up)
    assert FIRST in sent and "First look: the payments-db pool." in sent and "Follow-up question" in sent
    assert len(follow_up["messages"]) == 3  # question, its answer, then the follow-up with the owed tool result
    assert "The DB is saturated." in json.dumps(_answers(fake_slack)[-1]["blocks"])
    assert stored.version == 2 and len(stored.messages) == 4
    _roles_alternate(stored)


async def test_follow_up_after_a_restart_continues_the_conversation(
        fake_slack: FakeSlack, shop: Sandbox, model: FakeAnthropic, store_url: str) -> None:  # noqa: F811
    """The bot is stopped after the first answer; started again on the same store, it continues the thread."""
    model.enqueue(_turn("First look: the payments-db pool."), _turn("The DB is saturated."))
    env = _env(shop, model, store_url)
    async with running_bot(fake_slack, config=shop.config, incidents=False, **env) as before:
        await _mention(before, FIRST, first=True)
        await _answered(fake_slack, 1)
    async with running_bot(fake_slack, config=shop.config, incidents=False, **env) as after:
        await _mention(after, "what about the DB?")
        await _answered(fake_slack, 2)
    model.assert_clean()
    sent = _sent(model.bodies[-1])
    assert FIRST in sent and "First look: the payments-db pool." in sent and "Follow-up question" in sent


async def test_concurrent_mentions_on_two_replicas_both_end_up_in_the_conversation(
        fake_slack: FakeSlack, shop: Sandbox, model: FakeAnthropic, store_url: str) -> None:  # noqa: F811
    """Two follow-ups at once on two replicas (each saw only the first turn): both turns are stored, in order, and
    the next request carries all three, valid for the API."""
    model.enqueue(_turn("First look."), delay(3, _turn("Turn on A.")), delay(3, _turn("Turn on B.")),
                  _turn("All three seen."))
    env = _env(shop, model, store_url)
    async with running_bot(fake_slack, config=shop.config, incidents=False, **env) as a, \
            running_bot(fake_slack, config=shop.config, incidents=False, **env) as b:
        await _mention(a, FIRST, first=True)
        await _answered(fake_slack, 1)
        await asyncio.gather(_mention(a, "what about the DB?"), _mention(b, "and the cache?"))
        await _answered(fake_slack, 3)
        stored = await _stored(a)
        await _mention(b, "so which one?")
        await _answered(fake_slack, 4)
    model.assert_clean()
    concurrent = [_sent(model.bodies[1]), _sent(model.bodies[2])]
    assert sorted(("what about the DB?" in s, "and the cache?" in s) for s in concurrent) == [
        (False, True), (True, False)], "the two follow-ups were not concurrent"
    text = json.dumps(stored.messages, ensure_ascii=False)
    for said in (FIRST, "what about the DB?", "and the cache?", "First look.", "Turn on A.", "Turn on B."):
        assert said in text, said
    assert stored.version == 3 and len(stored.messages) == 6
    _roles_alternate(stored)
    last = _sent(model.bodies[3])
    assert all(q in last for q in (FIRST, "what about the DB?", "and the cache?", "so which one?"))


async def test_concurrent_mentions_on_one_bot_take_turns(
        fake_slack: FakeSlack, shop: Sandbox, model: FakeAnthropic, sqlite_url: str) -> None:  # noqa: F811
    """Two follow-ups at once on one bot: the second waits for the first and its request carries the first's turn."""
    model.enqueue(_turn("First look."), delay(1, _turn("One.")), _turn("Two."))
    async with running_bot(fake_slack, config=shop.config, incidents=False,
                           **_env(shop, model, sqlite_url)) as bot:
        await _mention(bot, FIRST, first=True)
        await _answered(fake_slack, 1)
        await asyncio.gather(_mention(bot, "what about the DB?"), _mention(bot, "and the cache?"))
        await _answered(fake_slack, 3)
        stored = await _stored(bot)
    model.assert_clean()
    earlier, later = _sent(model.bodies[1]), _sent(model.bodies[2])
    asked_first = "what about the DB?" if "what about the DB?" in earlier else "and the cache?"
    assert asked_first in later and "One." in later
    assert stored.version == 3 and len(stored.messages) == 6
    _roles_alternate(stored)


# -- the store underneath, on both dialects ------------------------------------------------------------------------

def _conversation(key: str = KEY, quote: str = "pool exhausted") -> Conversation:
    window = TimeRange(start=T0 - timedelta(hours=1), end=T0)
    engine = Investigation(question=FIRST, summary="likely payments-db", window=window,
                           baseline=TimeRange(start=T0 - timedelta(days=1), end=T0 - timedelta(hours=1)))
    ev = Evidence(id="ev-1", source="loki", kind="logs", label="payments-api logs", query='{app="payments-api"}',
                  quote=quote, data={"matched": 3, "ratio": float("nan")})
    return Conversation(key=key, engine=engine, window=window, evidence={"ev-1": ev}, visible={"ev-1": quote},
                        messages=[{"role": "user", "content": [{"type": "text", "text": FIRST}]},
                                  {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1",
                                                                     "name": "submit_answer", "input": {}}]}],
                        open_tool_uses=[{"type": "tool_result", "tool_use_id": "toolu_1", "content": "shown"}])


async def test_store_saves_are_compare_and_set(store_url: str) -> None:  # noqa: F811
    """A save at a stale version writes nothing and says so; an expired row is replaced, its version counting on."""
    day = timedelta(days=1)
    async with await open_store(store_url) as store:
        rows = store.conversations
        assert await rows.save(KEY, "a", expected=0, now=T0, ttl=day, keep=10) == 1
        assert await rows.save(KEY, "b", expected=0, now=T0, ttl=day, keep=10) is None  # someone made it first
        assert await rows.save(KEY, "c", expected=1, now=T0, ttl=day, keep=10) == 2
        assert await rows.save(KEY, "d", expected=1, now=T0, ttl=day, keep=10) is None  # lost the race
        assert await rows.load(KEY, now=T0) == (2, "c")
        later = T0 + day + timedelta(seconds=1)
        assert await rows.load(KEY, now=later) is None and not await rows.exists(KEY, now=later)
        assert await rows.save(KEY, "e", expected=2, now=later, ttl=day, keep=10) is None  # expired meanwhile
        assert await rows.save(KEY, "f", expected=0, now=later, ttl=day, keep=10) == 3
        assert await rows.load(KEY, now=later) == (3, "f")


async def test_store_keeps_a_bounded_number(store_url: str) -> None:  # noqa: F811
    """Beyond `keep` conversations the least recently saved go, and expired ones are deleted."""
    async with await open_store(store_url) as store:
        rows = store.conversations
        for i in range(5):
            await rows.save(f"C1:{i}", "x", expected=0, now=T0 + timedelta(seconds=i), ttl=timedelta(hours=1),
                            keep=3)
        later = T0 + timedelta(minutes=10)
        await rows.save("C1:new", "x", expected=0, now=later, ttl=timedelta(hours=1), keep=3)
        assert await rows.count(now=later) == 3
        assert [await rows.exists(f"C1:{i}", now=later) for i in range(5)] == [False, False, False, True, True]


async def test_conversation_round_trips_through_the_store(store_url: str) -> None:  # noqa: F811
    """NUL, a lone surrogate, emoji and NaN in the evidence are stored and read back on both databases."""
    async with await open_store(store_url) as store:
        convs = Conversations(store.conversations)
        conv = _conversation(quote="pool\x00 exhausted \ud800 🔥")
        assert await convs.put(conv, now=T0)
        back = await convs.get(KEY, now=T0)
    assert back is not None and back.version == 1
    assert back.evidence["ev-1"].quote == "pool\x00 exhausted \ud800 🔥"
    assert back.messages == conv.messages and back.open_tool_uses == conv.open_tool_uses
    assert back.engine == conv.engine and back.window == conv.window


async def test_put_rebases_a_turn_that_lost_the_race(store_url: str) -> None:  # noqa: F811
    """Two turns started from the same version: the second saved goes after the first, owed results re-pointed."""
    async with await open_store(store_url) as store:
        convs = Conversations(store.conversations)
        assert await convs.put(_conversation(), now=T0)
        mine, theirs = await convs.get(KEY, now=T0), await convs.get(KEY, now=T0)
        assert mine is not None and theirs is not None
        for conv, (q, tid) in ((theirs, ("theirs?", "toolu_2")), (mine, ("mine?", "toolu_3"))):
            conv.messages += [{"role": "user", "content": [*conv.open_tool_uses, {"type": "text", "text": q}]},
                              {"role": "assistant", "content": [{"type": "tool_use", "id": tid,
                                                                 "name": "submit_answer", "input": {}}]}]
            conv.open_tool_uses = [{"type": "tool_result", "tool_use_id": tid, "content": "shown"}]
        assert await convs.put(theirs, now=T0) and await convs.put(mine, now=T0)
        stored = await convs.get(KEY, now=T0)
    assert stored is not None and stored.version == 3
    asked = [b.get("text") for m in stored.messages if m["role"] == "user" for b in m["content"]]
    assert [a for a in asked if a] == [FIRST, "theirs?", "mine?"]
    owed_in_mine = stored.messages[4]["content"][0]
    assert owed_in_mine["tool_use_id"] == "toolu_2"  # answers the tool_use of the turn saved before it
    assert stored.open_tool_uses[0]["tool_use_id"] == "toolu_3"


async def test_without_a_store_conversations_stay_in_memory_and_bounded() -> None:
    """No store (the one-shot CLI): kept in process memory, least recently used out beyond `size`, expired by ttl."""
    convs = Conversations(size=2, ttl=timedelta(hours=1))
    for key in ("C1:a", "C1:b", "C1:c"):
        assert await convs.put(_conversation(key), now=T0)
    assert await convs.get("C1:a", now=T0) is None
    assert await convs.get("C1:b", now=T0) is not None and await convs.get("C1:c", now=T0) is not None
    assert await convs.get("C1:c", now=T0 + timedelta(hours=2)) is None


async def test_a_store_that_fails_costs_only_the_memory(sqlite_url: str) -> None:  # noqa: F811
    """With the store closed, saving and loading a conversation log a warning and report nothing kept."""
    async with AsyncExitStack() as stack:
        store = await open_store(sqlite_url)
        stack.push_async_callback(store.close)
        convs = Conversations(store.conversations)
        await store.close()
        assert await convs.put(_conversation(), now=T0) is False
        assert await convs.get(KEY, now=T0) is None and await convs.exists(KEY, now=T0) is False


def test_trim_keeps_a_conversation_within_the_budget() -> None:
    """An oversized conversation loses its oldest large tool results (said in a note), and evidence only they held."""
    conv = _conversation()
    conv.messages[0]["content"].insert(0, {"type": "tool_result", "tool_use_id": "toolu_0",
                                           "content": "<evidence id=\"ev-1\">" + "x" * 20_000})
    removed = conv.trim(max_tokens=1_000)
    assert removed == 1 and "removed to keep the conversation within the token budget" in json.dumps(conv.messages)
    assert conv.evidence == {} and conv.visible == {}


@pytest.mark.parametrize("payload", ["not json", "[]", '{"format": 99}', '{"format": 1, "key": "k"}',
                                     json.dumps({"format": 1, "key": "k", "engine": {}, "window": {},
                                                 "messages": [], "visible": [], "evidence": {}, "calls": {},
                                                 "open_tool_uses": []})])
async def test_an_unreadable_stored_conversation_starts_over(sqlite_url: str, payload: str) -> None:  # noqa: F811
    """A damaged or foreign row is not an error for the person: the thread starts over (and the next save wins)."""
    async with await open_store(sqlite_url) as store:
        assert await store.conversations.save(KEY, payload, expected=0, now=T0, ttl=timedelta(days=1), keep=10) == 1
        convs = Conversations(store.conversations)
        assert await convs.get(KEY, now=T0) is None
        assert await convs.put(_conversation(), now=T0)
        replaced = await convs.get(KEY, now=T0)
    assert replaced is not None and replaced.version == 2 and replaced.messages == _conversation().messages


async def test_waiting_for_the_thread_does_not_eat_the_answer_deadline(
        fake_slack: FakeSlack, shop: Sandbox, model: FakeAnthropic, sqlite_url: str) -> None:  # noqa: F811
    """A mention that waited longer than the answer deadline for the previous turn still gets its telemetry read."""
    model.enqueue(_turn("First look."), delay(6, _turn("One.")), _turn("Two."))
    env = {**_env(shop, model, sqlite_url), "SRE_BOT_ANSWER_DEADLINE": "5"}
    async with running_bot(fake_slack, config=shop.config, incidents=False, **env) as bot:
        await _mention(bot, FIRST, first=True)
        await _answered(fake_slack, 1)
        await _mention(bot, "what about the DB?")
        while len(model.bodies) < 2:  # the first follow-up is with the model (for 6 s)
            await asyncio.sleep(0.05)
        await _mention(bot, "what about checkout?")  # another service: the engine reads checkout's telemetry
        await _answered(fake_slack, 3)
    model.assert_clean()
    second = _sent(model.bodies[2])
    assert "what about checkout?" in second and "One." in second
    assert "deadline had passed" not in second and "deadline had passed" not in json.dumps(_answers(fake_slack)[-1])
