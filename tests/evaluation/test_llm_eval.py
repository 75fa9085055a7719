"""The eval measures the model's answers too, against the fake Messages API (no real model in tests)."""

from __future__ import annotations

import pytest

from sre_bot.evaluation.runner import run_scenario
from sre_bot.sandbox import load_scenario
from tests.fakes.anthropic_api import FakeAnthropic
from tests.llm._script import answer, evidence_in, find
from tests.sandbox._support import NOW


def _model(body: dict) -> object:
    """The scripted model: blames checkout's deploy with a real quote, invents a second one, suggests a rollback."""
    eid, line = find(body, "4f1c2e9")
    return answer(
        summary="checkout's deploy 4f1c2e9 started it; payments-db ran out of connections.",
        hypotheses=[{"service": "checkout", "cause": "a bad deploy of checkout exhausting payments-db",
                     "confidence": 0.8, "evidence_ids": [eid],
                     "quotes": [{"evidence_id": eid, "text": line},
                                {"evidence_id": eid, "text": "checkout was rolled back twice already today"}]}],
        suggested_actions=[{"action": "argocd.rollback", "args": {"service": "checkout"},
                            "reason": "the deploy right before the errors", "evidence_ids": [eid]}])


async def test_the_models_answer_is_scored_tokens_counted_and_only_verified_quotes_shown(monkeypatch) -> None:
    """answered_by llm; root, kind (from its words) and action right; the invented quote never reaches the reply."""
    with FakeAnthropic() as fake:
        fake.enqueue(_model)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
        r = await run_scenario(load_scenario("checkout-bad-deploy"), now=NOW, use_llm=True, env_file=None)
        fake.assert_clean()
        assert any(evidence_in(b) for b in fake.bodies)
    (c,) = r.cases
    assert c.answered_by == "llm" and c.top1 and c.confidence == 0.8 and c.calibrated is None
    assert c.cause_kind == "bad_deploy" and c.action_ok and c.actions == ["argocd.rollback checkout"]
    assert c.tokens["requests"] == 1 and c.tokens["input"] > 0 and (c.cost_usd or 0) > 0
    assert c.quotes_shown and c.quotes_verified == c.quotes_shown and c.unverified == []


async def test_without_a_key_the_engine_answers_and_says_why(monkeypatch) -> None:
    """No ANTHROPIC_API_KEY: use_llm changes nothing, the engine answers and the row says why."""
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    r = await run_scenario(load_scenario("no-cause-quiet"), now=NOW, use_llm=True, env_file=None)
    (c,) = r.cases
    assert c.answered_by == "engine" and c.abstained and "ANTHROPIC_API_KEY" in c.extra["why_engine"]


@pytest.mark.parametrize("text, kind", [
    ("a config change to the gateway timeout", "config_change"),
    ("bad deploy of checkout", "bad_deploy"),
    ("the card gateway is down", "dependency_outage"),
    ("payments-db connection pool exhausted", "resource_exhaustion"),
    ("the flash sale traffic", "traffic_spike"),
    ("something odd", None),
])
def test_model_cause_kind_is_read_from_its_words(text: str, kind: str | None) -> None:
    """The model's cause sentence maps to a truth cause kind by its words (config before deploy)."""
    from sre_bot.evaluation.scoring import model_cause_kind

    assert model_cause_kind(text) == kind
