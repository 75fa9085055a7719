"""Issue 14 item 5: mentions and links from input never reach Slack as markup, neither in a message's top-level
`text` (what notifications show) nor in its blocks; the bot's own mentions and links still work.

Driven through the real surfaces: Alertmanager notifications posted to `/alertmanager` of the running bot, a signed
`/sre` slash command and a signed `app_mention`, with every Slack call recorded by the fake Slack Web API.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from tests.fakes.anthropic_api import FakeAnthropic, call, tool_use
from tests.fakes.slack_api import BOT_USER_ID, Call, FakeSlack
from tests.harness import running_bot
from tests.incidents._storm import CHANNEL, TOKEN, eventually, storm_config, top_level
from tests.llm._script import answer, evidence_in
from tests.slack_signing import app_mention, slash_command

# What a person or a system may put in an alert, a command or a question, and Slack would turn into a ping or link.
PINGS = ("<!channel>", "<!here>", "<!everyone>", "<@U0ATTACK1>", "<#C0ATTACK1|general>", "<!subteam^S0ATTACK1>",
         "<https://evil.example/phish|click me>")
# Any of them, whole or in part, left as markup (the escaped form `&lt;!channel&gt;` does not match).
_MARKUP = re.compile(r"<(?:!channel|!here|!everyone|@U0ATTACK|#C0ATTACK|!subteam\^S0ATTACK|https://evil\.example)")


def _strings(value: Any) -> list[str]:
    """Every string Slack reads as markup inside a JSON-like value: all of them but `plain_text` objects (headers,
    button labels), which Slack shows exactly as they are, mentions and all, without parsing them."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict) and value.get("type") == "plain_text":
        return []
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _leaks(calls: list[Call], *acks: httpx.Response) -> list[str]:
    """Each string a Slack call (or an ack's body) carried that holds input markup: text, blocks and all."""
    sent = [(f"{c.method} {k}", s) for c in calls for k in ("text", "blocks", "attachments")
            for s in _strings(c.args.get(k))]
    sent += [("ack", s) for r in acks if r.content for s in _strings(r.json())]
    return [f"{where}: {s}" for where, s in sent if _MARKUP.search(s)]


def _double_escaped(calls: list[Call], *acks: httpx.Response) -> list[str]:
    texts = [json.dumps(c.args, ensure_ascii=False) for c in calls] + [r.text for r in acks]
    return [t for t in texts if re.search(r"&amp;(?:lt|gt|amp);", t)]


async def _settled(bot: Any) -> bool:
    store = bot.deps.store
    return not await store.inbox_pending() and not await store.incidents.to_publish()


def _alert(alertname: str, service: str, summary: str, started: str) -> dict[str, Any]:
    return {"status": "firing", "startsAt": started, "endsAt": "0001-01-01T00:00:00Z",
            "labels": {"alertname": alertname, "service": service, "severity": "critical", "namespace": "shop"},
            "annotations": {"summary": summary, "description": " ".join(PINGS)},
            "generatorURL": "http://prometheus.example.local:9090/graph?g0.expr=up"}


def _notification(alerts: list[dict[str, Any]]) -> dict[str, Any]:
    common = {"alertname": alerts[0]["labels"]["alertname"]}
    return {"receiver": "sre-bot", "status": "firing", "alerts": alerts, "groupLabels": common,
            "commonLabels": common, "commonAnnotations": {}, "externalURL": "http://alertmanager.example.local:9093",
            "version": "4", "groupKey": '{}:{alertname="x"}', "truncatedAlerts": 0}


async def test_incident_message_from_an_alert_storm_carries_no_ping(fake_slack: FakeSlack) -> None:
    """An alert named `<!channel>` on service `<!here>` (and a second one joining it) makes an incident whose message,
    redraws and thread notes show those names escaped, in `text` and in blocks, never as a ping."""
    from datetime import datetime, timedelta, timezone

    now = datetime.now(timezone.utc)
    first = _alert("<!channel>", "<!here>", "<!everyone> checkout is down <@U0ATTACK1>",
                   (now - timedelta(minutes=3)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    second = _alert("<!channel>", "<!here>", "<#C0ATTACK1|general> also <https://evil.example/phish|click me>",
                    (now - timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    second["labels"]["pod"] = "<@U0ATTACK1>"
    async with running_bot(fake_slack, config=storm_config(), SRE_BOT_ALERTMANAGER_TOKEN=TOKEN) as bot:
        for body in (_notification([first]), _notification([first, second])):
            resp = await bot.http.post("/alertmanager", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
            assert resp.status_code == 200, resp.text
            await eventually(lambda: len(top_level(fake_slack.messages(CHANNEL))) == 1, what="the incident message")
            await eventually(lambda: _settled(bot), what="the notification published")
    calls = fake_slack.calls()
    assert [c for c in calls if c.method == "chat.postMessage"], [c.method for c in calls]
    assert _leaks(calls) == []
    [message] = top_level(fake_slack.messages(CHANNEL))
    assert "&lt;!channel&gt;" in message["text"] and "&lt;!here&gt;" in message["text"]  # shown, not dropped
    assert _double_escaped(calls) == []



async def test_incident_listing_and_detail_carry_no_ping(fake_slack: FakeSlack) -> None:
    """`/sre incidents` and `/sre incident 1` about an incident whose alert, service and pod are named like pings
    (a bare `<@U…>` included, which the reply's mrkdwn filter alone would keep) show them escaped, never as markup."""
    from datetime import datetime, timedelta, timezone

    now = datetime.now(timezone.utc)
    alert = _alert("<@U0ATTACK1>", "<!here>", "<!everyone> down", (now - timedelta(minutes=3)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"))
    alert["labels"]["pod"] = "<#C0ATTACK1|general>"
    async with running_bot(fake_slack, config=storm_config(), SRE_BOT_ALERTMANAGER_TOKEN=TOKEN) as bot:
        resp = await bot.http.post("/alertmanager", json=_notification([alert]),
                                   headers={"Authorization": f"Bearer {TOKEN}"})
        assert resp.status_code == 200, resp.text
        await eventually(lambda: _settled(bot), what="the notification published")
        acks = [await bot.post(slash_command(text=text, response_url=fake_slack.response_url(f"i{i}")))
                for i, text in enumerate(("incidents", "incident 1"))]
        calls = await fake_slack.wait_for("response_url", count=2, timeout=20)
    assert all(a.status_code == 200 for a in acks)
    assert _leaks(calls, *acks) == []
    assert any("&lt;@U0ATTACK1&gt;" in (c.args.get("text") or "") for c in calls)
    assert _double_escaped(calls, *acks) == []

async def test_slash_command_echo_carries_no_ping(fake_slack: FakeSlack, shop: Any) -> None:
    """`/sre logs checkout <!channel>` (and a filter full of other pings) is acked and answered with the input shown
    escaped: neither the ack nor the response carries a ping or a link that came from the command."""
    async with running_bot(fake_slack, config=shop.config, **shop.urls.as_env()) as bot:
        acks = []
        for i, text in enumerate(("logs checkout <!channel>", "logs checkout " + " ".join(PINGS),
                                  "status <!here>", "stauts <!everyone> <@U0ATTACK1>")):
            acks.append(await bot.post(slash_command(text=text, response_url=fake_slack.response_url(f"c{i}"))))
        calls = await fake_slack.wait_for("response_url", count=3, timeout=20)
    assert all(a.status_code == 200 for a in acks)
    assert _leaks(fake_slack.calls(), *acks) == []
    assert "&lt;!channel&gt;" in acks[0].json()["text"]
    assert any("&lt;!channel&gt;" in (c.args.get("text") or "") + json.dumps(c.args.get("blocks"))
               for c in calls)
    assert _double_escaped(fake_slack.calls(), *acks) == []


async def test_mention_question_carries_no_ping(fake_slack: FakeSlack, shop: Any) -> None:
    """A mention asking `status <!here>`, and a question about `<!here>` whose (scripted) model echoes pings in its
    summary, timeline and unknowns, are answered in their threads with no ping or link from the question or the
    model, in `text` or blocks, while the bot's own evidence links stay real links."""
    with FakeAnthropic() as model:
        model.enqueue(tool_use(call("firing_alerts", {"service": "checkout"})), lambda body: answer(
            summary="Checkout is slow for <!here> since the deploy <@U0ATTACK1> <!channel>", unknowns=list(PINGS),
            timeline=[{"at": "now", "text": " ".join(PINGS), "evidence_id": next(iter(evidence_in(body)))}]))
        env = {**shop.urls.as_env(), "ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": model.url,
               "SRE_BOT_LLM_MAX_RETRIES": "0"}
        async with running_bot(fake_slack, config=shop.config, **env) as bot:
            await bot.post(app_mention(f"<@{BOT_USER_ID}> status <!here>", channel="C6"))
            question = f"<@{BOT_USER_ID}> why is checkout slow for <!here> <@U0ATTACK1> <#C0ATTACK1|general>? " + \
                " ".join(PINGS)
            await bot.post(app_mention(question, channel="C7"))
            await eventually(lambda: {c.args["channel"] for c in fake_slack.calls("chat.update")
                                      if not (c.args.get("text") or "").startswith("🔎")} >= {"C6", "C7"},
                             timeout=30, what="both answers")
        model.assert_clean()
    calls = fake_slack.calls()
    assert _leaks(calls) == []
    answers = [c.args for c in calls if c.method == "chat.update" and not c.args["text"].startswith("🔎")]
    by_model = next(a for a in answers if a["channel"] == "C7")
    assert "&lt;!here&gt;" in by_model["text"]  # the model's summary is the fallback: shown, escaped
    assert re.search(r"<https?://[^|>]+\|[^>]+>", json.dumps(answers)), "the bot's own links are kept"
    assert _double_escaped(calls) == []


async def test_the_bots_own_mentions_still_ping(fake_slack: FakeSlack) -> None:
    """`/sre killswitch on` by an approver says who turned it on as a real `<@user>` mention, in blocks and `text`."""
    from sre_bot.actions.config import ActionsConfig
    from sre_bot.config import Config

    config = Config(actions=ActionsConfig.model_validate({"approvers": {"users": ["W111"]}}))
    async with running_bot(fake_slack, config=config) as bot:
        await bot.post(slash_command(text="killswitch on", response_url=fake_slack.response_url()))
        [call] = await fake_slack.wait_for("response_url", timeout=20)
    assert "<@W111>" in json.dumps(call.args.get("blocks")), call.args
    assert _leaks(fake_slack.calls()) == []


def test_mrkdwn_safe_keeps_the_bots_markup_and_nothing_else() -> None:
    """`mrkdwn_safe` keeps escaped entities and id mentions outside code (the shape the bot writes; services escape
    free text themselves), escapes the rest, and is idempotent; `link` cannot be broken out of, links only http(s)."""
    from sre_bot.slack.text import escape, link, mrkdwn_safe

    text = ("by <@W111> in <#C111> for <!subteam^S0SRE> · " + " ".join(PINGS) + " · `got <@U0ATTACK1>` · &lt;ok&gt;"
            " · a & b")
    safe = mrkdwn_safe(text)
    assert safe.startswith("by <@W111> in <#C111> for <!subteam^S0SRE> · &lt;!channel&gt;")
    assert not re.search(r"<(?:!channel|!here|!everyone|#C0ATTACK1\||https?:)", safe)  # broadcasts, labels, links
    assert "`got &lt;@U0ATTACK1&gt;`" in safe and "&lt;ok&gt; · a &amp; b" in safe
    assert mrkdwn_safe(safe) == safe and mrkdwn_safe(escape(text)) == escape(text)
    assert link("https://grafana.example/d?x=1&y=2|<!here>", "graph <x>") == \
        "<https://grafana.example/d?x=1&y=2%7C%3C!here%3E|graph &lt;x&gt;>"
    assert link("javascript:alert(1)", "graph") == "graph (javascript:alert(1))"
