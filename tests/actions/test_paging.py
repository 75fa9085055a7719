"""Paging through the real approvals path (the Bolt app over signed HTTP, the store on SQLite and PostgreSQL): what a
page carries is pinned and previewed, an approval sends exactly one trigger, the kill switch sends nothing, and the
routing key is never in the audit; `follow_page` acknowledges and resolves it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from sre_bot.actions.paging import dedup_key_for, follow_page, slack_link
from sre_bot.analysis.incident_model import Incident
from sre_bot.config import parse_config
from sre_bot.feedback.model import AnswerDraft, AnswerHypothesis
from sre_bot.store.feedback import StoredAnswer
from sre_bot.store.incidents import IncidentChange, Lease
from tests.actions._support import ACTIONS, APPROVE, ask, audit_kinds, button, click, message_with, request_message
from tests.fakes.paging import FakeOpsgenie, FakePagerDuty
from tests.fakes.slack_api import FakeSlack
from tests.harness import BotUnderTest, running_bot

KEY = "5e1f0c3a9b7d4e2f8a6c0b1d3e5f7a9c"
OG_KEY = "0b5e9b8e-3c1d-4f6a-9e2b-7c4d1a8f6e30"
T0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=20)
INCIDENT_TS = "1700000000.000100"


def _config(**escalation: Any) -> Any:
    return parse_config({
        "services": {"checkout": {"namespace": "shop"}, "payments": {"namespace": "shop"}},
        "actions": ACTIONS,
        "escalation": {"teams": {"payments-oncall": {"services": ["checkout"], "pagerduty": True, "opsgenie": True},
                                 "web": {"services": ["payments"], "opsgenie": True}}, **escalation}})


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'sre-bot.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def pd() -> Iterator[FakePagerDuty]:
    with FakePagerDuty({"payments-oncall": KEY}) as server:
        yield server


def _env(pd: FakePagerDuty, db_url: str, og: FakeOpsgenie | None = None) -> dict[str, str]:
    env = {"SRE_BOT_DB_URL": db_url, "PAGERDUTY_EVENTS_URL": pd.url,
           "SRE_BOT_PAGERDUTY_ROUTING_KEYS": json.dumps({"payments-oncall": KEY})}
    if og is not None:
        env |= {"OPSGENIE_API_URL": og.url, "SRE_BOT_OPSGENIE_API_KEYS": json.dumps({"payments-oncall": OG_KEY})}
    return env


async def _seed_incident(bot: BotUnderTest, *, answer: bool = True, resolved: bool = False,
                         answered_by: str = "engine") -> str:
    """Incident #1 on checkout, posted in C111 with its investigation answer in the thread (the store's own API)."""
    store = bot.deps.store
    assert store is not None
    inc = Incident(key="inc-checkout-1", alerts=["fp1", "fp2"], services=["checkout", "payments"],
                   severity="critical", started_at=T0, last_alert_at=T0 + timedelta(minutes=2),
                   title="HighErrorRate on checkout", root_service="checkout", root_reason="earliest onset",
                   firing=2, alert_names={"HighErrorRate": 2}, resolved=resolved,
                   resolved_at=T0 + timedelta(minutes=5) if resolved else None)
    now = datetime.now(timezone.utc)
    epoch = await store.leases.acquire("incidents", "test", ttl=timedelta(minutes=1), now=now)
    assert epoch is not None
    await store.incidents.apply([IncidentChange(incident=inc, channel="C111")], inbox_ids=[],
                                lease=Lease("incidents", "test", epoch), now=now, ttl=timedelta(minutes=1))
    await store.incidents.set_message(inc.key, ts=INCIDENT_TS)
    await store.incidents.set_investigation(inc.key, root="checkout", now=now, doc={
        "target": "checkout", "insufficient": False, "service": "checkout", "cause": "deploy bbb2222 18 min before",
        "cause_kind": "bad_deploy", "confidence": 0.7, "calibrated": 0.62,
        "evidence": [{"id": "e1", "quote": "checkout error rate 4.2% (baseline 0.3%)"}]})
    if answer:
        engine = answered_by == "engine"
        draft = AnswerDraft(question="why is checkout unhealthy?", answered_by=answered_by,  # type: ignore[arg-type]
                            engine="test", hypotheses=[
            AnswerHypothesis(service="checkout", cause="deploy bbb2222 18 min before", cause_kind="bad_deploy",
                             confidence=0.7, calibrated=0.62 if engine else None),
            AnswerHypothesis(service="payments", cause="saturation of the DB pool", cause_kind="saturation",
                             confidence=0.2, calibrated=0.15 if engine else None)])
        await store.feedback.add_answer(StoredAnswer(id="answer-0000000000000001", at=now, channel="C111",
                                                     message_ts="1700000000.000200", thread_ts=INCIDENT_TS,
                                                     draft=draft))
    return inc.key


def _no_secret(records: list[Any], *secrets: str) -> None:
    text = json.dumps([r.model_dump(mode="json") for r in records])
    for s in secrets:
        assert s not in text, "a key reached the audit"


async def test_an_approved_page_sends_exactly_the_pinned_trigger_once(fake_slack: FakeSlack, pd: FakePagerDuty,
                                                                      db_url: str) -> None:
    """`/sre run pagerduty.page checkout incident_id=1`: the preview names the team, PagerDuty and the summary; an
    approval (and a double click) sends one trigger with the incident's hypotheses, calibrated confidence, evidence
    and Slack links; the outcome keeps team and dedup key; the key is nowhere in the audit."""
    async with running_bot(fake_slack, config=_config(), incidents=False, **_env(pd, db_url)) as bot:
        key = await _seed_incident(bot)
        await ask(bot, fake_slack, "run pagerduty.page checkout incident_id=1")
        await fake_slack.wait_for("chat.postMessage")
        msg = request_message(fake_slack)
        shown = json.dumps(msg["blocks"], ensure_ascii=False)
        assert "Page team `payments-oncall` through PagerDuty" in shown and "sre-bot/inc-checkout-1" in shown
        assert "incident #1 CRITICAL · HighErrorRate on checkout" in shown and "62% calibrated" in shown
        assert pd.bodies == []  # nothing is sent before the approval
        await bot.post(click(APPROVE, msg, user="W222"))
        await bot.post(click(APPROVE, msg, user="W222"))
        await message_with(fake_slack, "*done*")
        assert len(pd.bodies) == 1 and pd.violations == []
        [sent] = pd.bodies
        assert sent["routing_key"] == KEY and sent["dedup_key"] == dedup_key_for(incident_key=key)
        payload = sent["payload"]
        assert payload["severity"] == "critical" and payload["source"] == "checkout"
        assert payload["group"] == "payments-oncall" and payload["class"] == "bad_deploy"
        assert payload["summary"].startswith("checkout: incident #1 CRITICAL · HighErrorRate on checkout — likely")
        details = payload["custom_details"]
        assert details["hypotheses"] == ["checkout: deploy bbb2222 18 min before (62% calibrated)",
                                         "payments: saturation of the DB pool (15% calibrated)"]
        assert details["evidence"] == ["checkout error rate 4.2% (baseline 0.3%)"]
        assert [x["href"] for x in sent["links"]] == [
            slack_link("C111", INCIDENT_TS),
            slack_link("C111", "1700000000.000200", thread_ts=INCIDENT_TS)]
        [page] = pd.receiver.pages
        assert page.status == "triggered" and page.team == "payments-oncall"
        rid = button(msg, APPROVE).split(":")[0]
        kinds = await audit_kinds(bot, rid)  # the second click is refused: already decided
        assert [k for k in kinds if k != "refused"] == ["suggested", "approved", "started", "succeeded"]
        assert kinds.count("refused") == 1
        req = await bot.deps.store.get_request(rid)
        assert req is not None and req.status == "succeeded"
        assert req.target_response == {"provider": "pagerduty", "team": "payments-oncall",
                                       "dedup_key": "sre-bot/inc-checkout-1", "status": "success",
                                       "message": "Event processed"}
        _no_secret(await bot.deps.store.latest(200), KEY)
        # the page follows the incident: acknowledged, then resolved, by its dedup key
        ack = await follow_page(bot.deps, provider="pagerduty", team="payments-oncall",
                                dedup_key=req.target_response["dedup_key"], event="acknowledge")
        assert ack.ok and page.status == "acknowledged"
        done = await follow_page(bot.deps, provider="pagerduty", team="payments-oncall",
                                 dedup_key="sre-bot/inc-checkout-1", event="resolve")
        assert done.ok and page.status == "resolved" and KEY not in json.dumps(done.response)


async def test_nothing_is_sent_while_the_kill_switch_is_on(fake_slack: FakeSlack, pd: FakePagerDuty,
                                                           db_url: str) -> None:
    """With the kill switch on, an approval of a page is refused and PagerDuty hears nothing."""
    async with running_bot(fake_slack, config=_config(), incidents=False, **_env(pd, db_url)) as bot:
        await _seed_incident(bot, answer=False)
        await ask(bot, fake_slack, "run pagerduty.page checkout incident_id=#1", name="page")
        await fake_slack.wait_for("chat.postMessage")
        msg = request_message(fake_slack)
        await ask(bot, fake_slack, "killswitch on", user="W333", name="kill")
        await bot.post(click(APPROVE, msg, user="W222"))
        [eph] = await fake_slack.wait_for("chat.postEphemeral")
        assert "kill switch" in eph.args["text"].lower()
        assert pd.bodies == [] and pd.receiver.pages == []
        assert "refused" in await audit_kinds(bot, button(msg, APPROVE).split(":")[0])


async def test_a_throttled_page_is_sent_again_and_lands_once(fake_slack: FakeSlack, pd: FakePagerDuty,
                                                             db_url: str) -> None:
    """429 then 202: the approval ends succeeded with one page; a 400 ends failed with PagerDuty's words, once."""
    async with running_bot(fake_slack, config=_config(), incidents=False, **_env(pd, db_url)) as bot:
        pd.respond(429)
        await ask(bot, fake_slack, "run pagerduty.page checkout", name="one")
        await fake_slack.wait_for("chat.postMessage")
        msg = request_message(fake_slack)
        assert "No incident is attached" in json.dumps(msg["blocks"])
        await bot.post(click(APPROVE, msg, user="W222"))
        await message_with(fake_slack, "*done*")
        assert len(pd.bodies) == 2 and len(pd.receiver.pages) == 1
        assert pd.bodies[1]["dedup_key"] == "sre-bot/checkout"
        assert pd.bodies[1]["payload"]["custom_details"]["incident"] == "none"
        pd.respond(400, {"status": "invalid event", "message": "Event object is invalid",
                         "errors": ["'payload.summary' is missing or blank"]})
        await ask(bot, fake_slack, "run pagerduty.page checkout severity=warning", name="two")
        await fake_slack.wait_for("chat.postMessage", 2)
        msg2 = request_message(fake_slack)
        await bot.post(click(APPROVE, msg2, user="W222"))
        failed = await message_with(fake_slack, "missing or blank")
        assert "failed" in json.dumps(failed["blocks"]) and len(pd.bodies) == 3
        _no_secret(await bot.deps.store.latest(200), KEY)


@pytest.mark.parametrize("text, says", [
    ("run pagerduty.page payments", "team web is not paged through PagerDuty"),
    ("run pagerduty.page checkout team=nobody", "'nobody' is not a team"),
    ("run pagerduty.page checkout incident_id=42", "there is no incident 42"),
    ("run opsgenie.alert checkout", "no Opsgenie API key"),
])
async def test_a_page_that_cannot_be_sent_says_why_and_records_nothing(fake_slack: FakeSlack, pd: FakePagerDuty,
                                                                       tmp_path: Path, text: str, says: str) -> None:
    """A team that is not routed, not configured, or without a key, or an unknown incident: the person is told the
    fix and no request is created."""
    async with running_bot(fake_slack, config=_config(), incidents=False,
                           **_env(pd, f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")) as bot:
        answer = await ask(bot, fake_slack, text)
        assert says in json.dumps(answer), answer
        assert await bot.deps.store.pending(datetime.now(timezone.utc)) == []
        assert pd.bodies == []


async def test_no_team_owns_the_service(fake_slack: FakeSlack, pd: FakePagerDuty, tmp_path: Path) -> None:
    """A service in no team with no default team: the person is told to add it to `escalation.teams`."""
    cfg = parse_config({"services": {"checkout": {}}, "actions": ACTIONS,
                        "escalation": {"teams": {"payments-oncall": {"services": [], "pagerduty": True}}}})
    async with running_bot(fake_slack, config=cfg, incidents=False,
                           **_env(pd, f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")) as bot:
        answer = await ask(bot, fake_slack, "run pagerduty.page checkout")
        assert "no team owns checkout" in json.dumps(answer) and pd.bodies == []


async def test_a_resolved_incident_is_not_paged(fake_slack: FakeSlack, pd: FakePagerDuty, tmp_path: Path) -> None:
    """Paging about an incident that already resolved is refused."""
    async with running_bot(fake_slack, config=_config(), incidents=False,
                           **_env(pd, f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")) as bot:
        await _seed_incident(bot, resolved=True)
        answer = await ask(bot, fake_slack, "run pagerduty.page checkout incident_id=1")
        assert "nothing to page about" in json.dumps(answer) and pd.bodies == []


async def test_opsgenie_alert_is_created_once_and_closed(fake_slack: FakeSlack, pd: FakePagerDuty,
                                                         db_url: str) -> None:
    """`opsgenie.alert`: the approved create carries alias = dedup key, a P1 priority, the hypotheses in details;
    follow_page acknowledges and closes it by alias."""
    with FakeOpsgenie({"payments-oncall": OG_KEY}) as og:
        async with running_bot(fake_slack, config=_config(), incidents=False, **_env(pd, db_url, og)) as bot:
            await _seed_incident(bot)
            await ask(bot, fake_slack, "run opsgenie.alert checkout incident_id=inc-checkout-1")
            await fake_slack.wait_for("chat.postMessage")
            msg = request_message(fake_slack)
            assert "through Opsgenie" in json.dumps(msg["blocks"])
            await bot.post(click(APPROVE, msg, user="W222"))
            await message_with(fake_slack, "*done*")
            assert og.violations == [] and pd.bodies == []
            [created] = og.bodies
            assert created["alias"] == "sre-bot/inc-checkout-1" and created["priority"] == "P1"
            assert created["message"] == "checkout: #1 HighErrorRate on checkout" and created["entity"] == "checkout"
            assert "62% calibrated" in created["details"]["hypotheses"] and "team:payments-oncall" in created["tags"]
            [alert] = og.receiver.alerts
            for event in ("acknowledge", "resolve"):
                out = await follow_page(bot.deps, provider="opsgenie", team="payments-oncall",
                                        dedup_key="sre-bot/inc-checkout-1", event=event)  # type: ignore[arg-type]
                assert out.ok, out.detail
            assert alert.acknowledged and alert.status == "closed"
            _no_secret(await bot.deps.store.latest(200), OG_KEY, KEY)


async def test_a_models_confidence_is_said_to_be_uncalibrated(fake_slack: FakeSlack, pd: FakePagerDuty,
                                                              tmp_path: Path) -> None:
    """When the latest answer is the model's, the page quotes its stated confidence and says it is not calibrated."""
    async with running_bot(fake_slack, config=_config(), incidents=False,
                           **_env(pd, f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")) as bot:
        await _seed_incident(bot, answered_by="llm")
        await ask(bot, fake_slack, "run pagerduty.page checkout incident_id=1")
        await fake_slack.wait_for("chat.postMessage")
        assert "70% stated, not calibrated" in json.dumps(request_message(fake_slack)["blocks"], ensure_ascii=False)
