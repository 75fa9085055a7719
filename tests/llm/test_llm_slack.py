"""The model investigates through Slack: the real Bolt app, the real anthropic SDK, a fake Messages API, the
sandbox shop's Prometheus, Loki, Argo CD and Alertmanager. What is shown is only what the evidence backs."""

from __future__ import annotations

import json

import pytest

from sre_bot.investigation import ENGINE_VERSION
from tests.fakes.anthropic_api import FakeAnthropic, call, delay, error, raw, text, tool_use
from tests.fakes.slack_api import BOT_USER_ID, FakeSlack
from tests.harness import running_bot
from tests.llm._script import answer, blocks_text, evidence_in, final_update, find
from tests.slack_signing import app_mention

QUESTION = f"<@{BOT_USER_ID}> why is payments-api slow?"


@pytest.fixture
def fake(fake_slack: FakeSlack) -> FakeSlack:
    return fake_slack


@pytest.fixture
def model():
    with FakeAnthropic() as m:
        yield m


def _env(shop, model, **extra: str) -> dict[str, str]:
    return {**shop.urls.as_env(), "ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": model.url,
            "SRE_BOT_LLM_MAX_RETRIES": "0", **extra}


async def _ask(fake, shop, model, question: str = QUESTION, **extra: str) -> str:
    async with running_bot(fake, config=shop.config, **_env(shop, model, **extra)) as bot:
        await bot.post(app_mention(question, channel="C9"))
        update = await final_update(fake)
    return blocks_text(update["blocks"])


def _investigate_then_answer(body):
    """Step 1: look at checkout's deploys and payments-api's pool errors, at once."""
    return tool_use(call("deploy_history", {"service": "checkout"}),
                    call("search_logs", {"service": "payments-api", "text": "pool"}))


def _grounded_answer(body):
    """Step 2: an answer quoting what came back, plus one invented quote and one invented action."""
    dep_id, dep_line = find(body, "4f1c2e9")
    log_id, log_line = find(body, "pool")
    return answer(
        summary="checkout's deploy 4f1c2e9 exhausted the payments-db pool through payments-api.",
        timeline=[{"at": "deploy", "text": "checkout deployed 4f1c2e9", "evidence_id": dep_id}],
        hypotheses=[{"service": "checkout", "cause": "bad deploy of checkout (4f1c2e9)", "confidence": 0.8,
                     "evidence_ids": [dep_id, log_id],
                     "quotes": [{"evidence_id": dep_id, "text": dep_line[:60]},
                                {"evidence_id": log_id, "text": log_line[-50:]},
                                {"evidence_id": log_id, "text": "the database was struck by lightning"}]}],
        suggested_actions=[{"action": "argocd.rollback", "args": {"service": "checkout"}, "reason": "deploy preceded it",
                            "evidence_ids": [dep_id]},
                           {"action": "drop_tables", "args": {"service": "payments-db"}, "reason": "why not",
                            "evidence_ids": [log_id]}],
        unknowns=["whether payments-db was resized"])


async def test_scripted_tool_use_conversation_end_to_end(fake, shop, model):
    """Mention → engine → model calls two tools in one step → grounded answer in the thread, with who answered."""
    model.enqueue(_investigate_then_answer, _grounded_answer)
    shown = await _ask(fake, shop, model)
    model.assert_clean()
    first, second = model.bodies
    # the engine's findings and the question went first; the system prompt and tools are cached
    assert "why is payments-api slow?" in first["messages"][0]["content"][0]["text"]
    assert first["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert first["tool_choice"] == {"type": "auto"}
    # both tool calls of step 1 were answered in one user turn
    results = model.tool_results(second)
    assert len(results) == 2 and all("<evidence id=" in r["content"] for r in results)
    # what is shown: verified quotes, the supported action, the removals said plainly, and who answered
    assert "bad deploy of checkout (4f1c2e9)" in shown and "the model said 0.80, uncalibrated" in shown
    assert "(the statistics engine's, for checkout)" in shown  # one calibrated number, the engine's, beside it
    assert "argocd.rollback(service=checkout)" in shown
    assert "drop_tables" not in shown.split("Grounding check")[0]
    assert "struck by lightning" not in shown
    assert "1 quote(s) removed" in shown and "1 suggested action(s) dropped" in shown
    assert "Drafted by claude-sonnet-5-5 (investigator-v1)" in shown and "needs a human check" in shown
    assert "whether payments-db was resized" in shown
    # progress was shown in place while it worked
    progress = [c.args["text"] for c in fake.calls("chat.update") if c.args["text"].startswith("🔎")]
    assert progress and "Looking" in progress[0]
    assert [c.method for c in fake.calls() if c.method.startswith("chat.")].count("chat.postMessage") == 1


async def test_repeated_call_is_refused_with_a_message_to_the_model(fake, shop, model):
    """The same call again (case and spacing aside) is not run; the model is told to use the result above."""
    model.enqueue(tool_use(call("golden_signals", {"service": "checkout"})),
                  tool_use(call("golden_signals", {"service": " checkout"}), call("list_services", {})),
                  answer(summary="Insufficient evidence to say more.", insufficient_evidence=True))
    await _ask(fake, shop, model)
    model.assert_clean()
    refused, listed = model.tool_results(model.bodies[2])
    assert refused["is_error"] and "already called" in refused["content"]
    assert "checkout -> depends on" in listed["content"]


async def test_step_cap_forces_a_final_answer(fake, shop, model):
    """With 3 steps allowed, the third request forces submit_answer and says why."""
    model.enqueue(tool_use(call("list_services", {})),
                  tool_use(call("firing_alerts", {"service": "checkout"})),
                  answer(summary="Insufficient evidence.", insufficient_evidence=True))
    shown = await _ask(fake, shop, model, SRE_BOT_LLM_MAX_STEPS="3")
    model.assert_clean()
    last = model.bodies[-1]
    assert [b["tool_choice"]["type"] for b in model.bodies] == ["auto", "auto", "tool"]
    assert last["tool_choice"]["name"] == "submit_answer"
    assert "the step limit is reached" in last["messages"][-1]["content"][-1]["text"]
    assert "Insufficient evidence" in shown


async def test_malformed_answer_gets_one_repair_then_the_engine_answers(fake, shop, model):
    """An answer that does not validate is sent back once with the errors; a second bad one ends in the engine."""
    model.enqueue(tool_use(call("submit_answer", {"summary": 5, "hypotheses": "none"})),
                  text("Here is my answer in prose, not JSON."))
    shown = await _ask(fake, shop, model)
    model.assert_clean()
    repair = model.tool_results(model.bodies[1])[0]
    assert repair["is_error"] and "could not be read" in repair["content"] and "summary" in repair["content"]
    assert model.bodies[1]["tool_choice"] == {"type": "tool", "name": "submit_answer"}
    assert "Answered by the statistics engine" in shown and "likely bad deploy of checkout" in shown
    assert "did not give a structured answer" in shown


async def test_a_repaired_answer_is_shown(fake, shop, model):
    """Prose first, then a valid answer after the repair prompt: the model's answer is shown."""
    model.enqueue(text("I think it's the deploy."), answer(summary="Insufficient evidence from my side.",
                                                          insufficient_evidence=True))
    shown = await _ask(fake, shop, model)
    model.assert_clean()
    assert "Insufficient evidence from my side." in shown and "Drafted by" in shown


@pytest.mark.parametrize("status,kind", [(429, "rate_limit_error"), (529, "overloaded_error"), (500, "api_error")])
async def test_api_errors_are_retried_then_the_engine_answers(fake, shop, model, status, kind):
    """429/529/500 are retried (bounded, honouring retry-after), then the engine's answer says what happened."""
    model.enqueue(*[error(status, kind, "busy", retry_after=0.01) for _ in range(3)])
    shown = await _ask(fake, shop, model, SRE_BOT_LLM_MAX_RETRIES="2")
    assert len(model.bodies) == 3 and model.unscripted == 0
    assert "Answered by the statistics engine" in shown and "after 2 retries" in shown
    assert "likely bad deploy of checkout" in shown


async def test_a_retry_that_succeeds_gives_the_model_answer(fake, shop, model):
    """One 429 then success: the person never sees the hiccup."""
    model.enqueue(error(429, "rate_limit_error", "slow down", retry_after=0.01),
                  answer(summary="Insufficient evidence.", insufficient_evidence=True))
    shown = await _ask(fake, shop, model, SRE_BOT_LLM_MAX_RETRIES="2")
    assert "Drafted by" in shown


async def test_deadline_ends_in_the_engine_answer(fake, shop, model):
    """A model slower than the deadline: the engine's answer, and the reason, within the deadline."""
    model.enqueue(delay(10, answer(summary="too late")))
    shown = await _ask(fake, shop, model, SRE_BOT_LLM_DEADLINE="2")
    assert "took longer than 2s" in shown and "Answered by the statistics engine" in shown


async def test_follow_up_in_the_thread_continues_with_the_same_evidence(fake, shop, model):
    """A second mention in the thread sends the earlier turns; a quote of first-turn evidence still verifies."""
    model.enqueue(_investigate_then_answer, _grounded_answer)

    def follow_up(body):
        assert "Follow-up question" in json.dumps(body["messages"][-1])
        dep_id, dep_line = find(body, "4f1c2e9")  # evidence from the first turn
        return answer(summary="The DB is saturated by checkout's new workers.",
                      hypotheses=[{"service": "checkout", "cause": "checkout's deploy", "confidence": 0.7,
                                   "evidence_ids": [dep_id], "quotes": [{"evidence_id": dep_id,
                                                                         "text": dep_line[:40]}]}])

    model.enqueue(follow_up)
    async with running_bot(fake, config=shop.config, **_env(shop, model)) as bot:
        await bot.post(app_mention(QUESTION, channel="C9", ts="1763700000.000100"))
        await final_update(fake)
        n = len(fake.calls("chat.update"))
        await bot.post(app_mention(f"<@{BOT_USER_ID}> what about the DB?", channel="C9",
                                   thread_ts="1763700000.000100"))
        while len([c for c in fake.calls("chat.update")[n:] if not c.args["text"].startswith("🔎")]) < 1:
            await fake.wait_for("chat.update", count=len(fake.calls("chat.update")) + 1, timeout=20)
        shown = blocks_text(fake.calls("chat.update")[-1].args["blocks"])
    model.assert_clean()
    assert len(model.bodies[-1]["messages"]) > 3  # the earlier turns went with it
    assert "The DB is saturated" in shown and "quote(s) removed" not in shown


async def test_without_a_key_the_engine_answers_and_says_so(fake, shop):
    """No ANTHROPIC_API_KEY: the engine's answer, and the footer says why there is no model answer."""
    async with running_bot(fake, config=shop.config, **shop.urls.as_env()) as bot:
        await bot.post(app_mention(QUESTION, channel="C9"))
        update = await final_update(fake)
    shown = blocks_text(update["blocks"])
    assert f"Answered by the statistics engine ({ENGINE_VERSION}); no LLM: ANTHROPIC_API_KEY is not set" in shown


async def test_tool_errors_go_back_to_the_model_not_the_user(fake, shop, model):
    """Unknown tools, bad arguments and unknown services come back as retryable tool errors."""
    model.enqueue(tool_use(call("delete_everything", {}), call("search_logs", {"service": "checkout", "limit": 0}),
                           call("deploy_history", {"service": "prod"})),
                  answer(summary="Insufficient evidence.", insufficient_evidence=True))
    await _ask(fake, shop, model)
    model.assert_clean()
    errors = model.tool_results(model.bodies[1])
    assert all(r["is_error"] for r in errors)
    assert "there is no tool 'delete_everything'" in errors[0]["content"]
    assert "limit" in errors[1]["content"] and "unknown service 'prod'" in errors[2]["content"]
    assert evidence_in(model.bodies[0])  # the engine's evidence went in the first message


async def test_a_response_that_is_not_a_message_ends_in_the_engine_answer(fake, shop, model):
    """A 200 whose body is not JSON (a broken proxy): the engine's answer, saying the response could not be read."""
    model.enqueue(raw(200, "<html>gateway</html>"))
    shown = await _ask(fake, shop, model)
    assert "could not be read" in shown and "Answered by the statistics engine" in shown
