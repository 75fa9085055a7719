"""doctor against the sandbox and a fake Slack: every configured system is ok."""

from __future__ import annotations

import io

from sre_bot.cli.doctor import doctor
from sre_bot.sandbox import load_scenario
from sre_bot.sandbox.server import Sandbox
from sre_bot.settings import load_settings


async def test_doctor_all_ok_against_sandbox(fake_slack, tmp_path, monkeypatch):
    """With the sandbox and the fake Slack, doctor reports ok for Slack and all four backends and exits 0."""
    monkeypatch.chdir(tmp_path)
    async with Sandbox(load_scenario()) as sb:
        settings = load_settings(None, SLACK_BOT_TOKEN="xoxb-1", SLACK_SIGNING_SECRET="s",
                                 SLACK_API_URL=fake_slack.api_url, **sb.urls.as_env())
        out = io.StringIO()
        code = await doctor(settings, out)
    text = out.getvalue()
    assert code == 0, text
    for name in ("slack", "prometheus", "loki", "argocd", "alertmanager"):
        assert any(line.startswith("[ok  ]") and f" {name} " in line for line in text.splitlines()), text


async def test_doctor_checks_the_model_without_spending_tokens(fake_slack, tmp_path, monkeypatch):
    """With a key, doctor asks the API about the model (no Messages request); a wrong model name is a problem."""
    from tests.fakes.anthropic_api import FakeAnthropic

    monkeypatch.chdir(tmp_path)
    async with Sandbox(load_scenario()) as sb:  # something to investigate: without it doctor says nothing is set
        with FakeAnthropic() as model:
            for name, code_expected, words in (("claude-sonnet-5-5", 0, "key works; model claude-sonnet-5-5"),
                                               ("gpt-9", 1, "model 'gpt-9' not found")):
                settings = load_settings(None, ANTHROPIC_API_KEY="k", ANTHROPIC_BASE_URL=model.url,
                                         ANTHROPIC_MODEL=name, **sb.urls.as_env())
                out = io.StringIO()
                code = await doctor(settings, out)
                line = next(x for x in out.getvalue().splitlines() if " anthropic " in x)
                assert code == code_expected and words in line, out.getvalue()
            assert model.bodies == []
