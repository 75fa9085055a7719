"""One scenario through the bot's real surfaces, scored against its truth (evaluation/runner.py)."""

from __future__ import annotations

from sre_bot.evaluation.runner import eval_settings, run_scenario
from sre_bot.sandbox import load_scenario
from tests.sandbox._support import NOW


async def test_the_default_scenario_is_answered_right_and_fully_grounded() -> None:
    """checkout-bad-deploy: one incident of four notified alerts, checkout first, a rollback, every quote true."""
    r = await run_scenario(load_scenario("checkout-bad-deploy"), now=NOW, use_llm=False)
    assert r.error is None and r.correlation is not None
    # the silenced and inhibited alerts are not notified; the resolved one is gone
    assert r.correlation.alerts == 4 and r.correlation.f1 == 1.0 and r.correlation.incidents == 1
    (c,) = r.cases
    assert c.answered_by == "engine" and c.top1 and c.kind_ok and c.action_ok
    assert c.actions == ["argocd.rollback checkout"] and c.truth_action == "argocd.rollback checkout"
    assert c.quotes_shown and c.quotes_verified == c.quotes_shown == c.quotes_source_checked
    assert 0 < (c.confidence or 0) <= 1 and c.point == (c.confidence, True)


async def test_a_down_backend_is_said_and_a_no_cause_question_abstains() -> None:
    """Loki down: the answer names it; a question about a healthy service gets "insufficient evidence"."""
    loki = await run_scenario(load_scenario("loki-down-bad-deploy"), now=NOW, use_llm=False)
    (c,) = loki.cases
    assert c.gaps_expected == ["loki"] and c.gaps_said == ["loki"] and c.top1
    two = await run_scenario(load_scenario("no-cause-wrong-service"), now=NOW, use_llm=False)
    deploy, fine = two.cases
    assert deploy.top1 and not deploy.abstained
    assert fine.truth_cause == "none" and fine.abstained and fine.action_ok and fine.point is None


async def test_two_unrelated_incidents_stay_apart() -> None:
    """Two incidents at once: the correlator makes two incidents, and each question finds its own root."""
    r = await run_scenario(load_scenario("two-incidents-deploy-and-smtp"), now=NOW, use_llm=False)
    assert r.correlation is not None and r.correlation.truth_incidents == 2
    assert r.correlation.incidents == 2 and r.correlation.f1 == 1.0
    assert [c.services[0] for c in r.cases] == ["cart", "smtp-relay"]


def test_eval_settings_pin_the_engine_and_keep_the_models_settings(monkeypatch) -> None:
    """A developer's SRE_BOT_DEFAULT_WINDOW does not change the numbers; the model's settings pass through."""
    monkeypatch.setenv("SRE_BOT_DEFAULT_WINDOW", "5m")
    monkeypatch.setenv("SRE_BOT_LLM_MAX_STEPS", "3")
    monkeypatch.setenv("GRAFANA_URL", "https://grafana.example.com")
    s = eval_settings({"PROMETHEUS_URL": "http://127.0.0.1:9"}, env_file=None)
    assert s.default_window == "1h" and s.grafana_url is None and s.llm_max_steps == 3
    assert str(s.prometheus_url) == "http://127.0.0.1:9/" and s.loki_url is None
