"""`sre-bot doctor` pings Tempo when TEMPO_URL is set: ok against the sandbox, the fix named when it refuses."""

from __future__ import annotations

import io

from sre_bot.cli.doctor import doctor
from sre_bot.sandbox import load_scenario
from sre_bot.sandbox.server import Sandbox
from sre_bot.settings import load_settings
from tests.fakes import free_port


async def test_doctor_pings_tempo(fake_slack, tmp_path, monkeypatch):
    """Sandbox Tempo: `[ok  ] tempo`; a Tempo that refuses: a problem naming TEMPO_URL; unset: no tempo line."""
    monkeypatch.chdir(tmp_path)
    async with Sandbox(load_scenario()) as sb:
        slack = dict(SLACK_BOT_TOKEN="xoxb-1", SLACK_SIGNING_SECRET="s", SLACK_API_URL=fake_slack.api_url)
        texts = []
        for tempo in (sb.urls.tempo, f"http://127.0.0.1:{free_port()}", None):
            env = {**sb.urls.as_env(), "TEMPO_URL": tempo} if tempo else {
                k: v for k, v in sb.urls.as_env().items() if k != "TEMPO_URL"}
            out = io.StringIO()
            await doctor(load_settings(None, **slack, **env), out)
            texts.append(out.getvalue())
    ok, down, unset = texts
    assert any(line.startswith("[ok  ]") and " tempo " in line for line in ok.splitlines()), ok
    line = next(x for x in down.splitlines() if " tempo " in x)
    assert not line.startswith("[ok  ]") and "check TEMPO_URL" in line and "unreachable" in line
    assert " tempo " not in unset
