"""The pages store on SQLite and PostgreSQL: an incident is offered once, states move by compare-and-set, the first
acknowledgement wins and redraws the message, a decision is written only when it changes, and a person's page
request about an incident is found for following."""

from __future__ import annotations

from datetime import timedelta

from sre_bot.store import ActionRequest, Store
from sre_bot.store.pages import Page, PageStore, dedup_key, rule_page_id
from tests.store.helpers import T0


def _page(key: str = "inc-1", **kw: object) -> Page:
    fields: dict = dict(id=rule_page_id(key), incident_key=key, team="payments", provider="pagerduty",
                        dedup_key=dedup_key(key), state="offering", created_at=T0, updated_at=T0)
    fields.update(kw)
    return Page(**fields)


async def test_offer_once_and_move_by_compare_and_set(store: Store) -> None:
    """A second offer of the same incident loses; a move from a state the row is no longer in does nothing."""
    pages = PageStore(store)
    assert await pages.offer(_page()) is not None
    assert await pages.offer(_page(team="other")) is None
    assert await pages.waiting_by_team() == {"payments": 1}  # an offer waiting counts against the hourly limit
    assert await pages.move(rule_page_id("inc-1"), "offering", "requested", now=T0, request_id="r-1")
    assert not await pages.move(rule_page_id("inc-1"), "offering", "requested", now=T0)
    assert await pages.move(rule_page_id("inc-1"), "requested", "triggered", now=T0 + timedelta(minutes=1))
    assert await pages.waiting_by_team() == {}
    got = await pages.by_request("r-1")
    assert got is not None and got.state == "triggered" and got.triggered_at == T0 + timedelta(minutes=1)
    assert [p.id for p in await pages.open()] == [rule_page_id("inc-1")]
    assert await pages.move(got.id, "triggered", "resolved", now=T0 + timedelta(minutes=5))
    assert await pages.open() == [] and (await pages.for_incident("inc-1"))[0].resolved_at is not None


async def test_first_acknowledgement_wins(store: Store) -> None:
    """Two clicks: the first is recorded and kept; `ack_of` reads it back."""
    pages = PageStore(store)
    assert await pages.ack_of("inc-2") is None
    first = await pages.acknowledge("inc-2", user="U1", user_name="ana", now=T0)
    second = await pages.acknowledge("inc-2", user="U2", user_name="bo", now=T0 + timedelta(seconds=3))
    assert first.by == "U1" and second.by == "U1" and second.at == T0
    ack = await pages.ack_of("inc-2")
    assert ack is not None and ack.by_name == "ana"


async def test_decision_written_only_when_it_changes(store: Store) -> None:
    """The same decision twice is one change; a new one is another (also after an acknowledgement row exists)."""
    pages = PageStore(store)
    assert await pages.decided("inc-3", "escalation: not offered: open less than 10m", now=T0)
    assert not await pages.decided("inc-3", "escalation: not offered: open less than 10m", now=T0)
    assert await pages.decided("inc-3", "escalation: not offered: resolved", now=T0)
    await pages.acknowledge("inc-4", user="U1", user_name=None, now=T0)
    assert await pages.decided("inc-4", "escalation: not offered: acknowledged by <@U1>", now=T0)
    assert await pages.decision_of("inc-4") == "escalation: not offered: acknowledged by <@U1>"


async def test_page_requests_counted_and_untracked_found(store: Store) -> None:
    """A person's page request that ran counts for the rate limit and is found for following until a row tracks it."""
    pages = PageStore(store)
    req = ActionRequest(id="r-person-0000000001", action="pagerduty.page", args={"service": "payments-api", "team": "payments",
                                                                      "incident_id": "inc-5", "severity": "critical"},
                        preview="page", risk="medium", reversible=True, reason="by hand", evidence_ids=[],
                        source={"kind": "person"}, requested_by="U9", channel="C1", created_at=T0,
                        expires_at=T0 + timedelta(minutes=15))
    await store.create_request(req)
    assert await pages.page_requests_since(T0 - timedelta(hours=1)) == []
    assert await store.claim("r-person-0000000001", user="U9", user_name=None, now=T0) is not None
    await store.finish("r-person-0000000001", ok=True, detail="sent", response={}, now=T0)
    assert [a for a, _ in await pages.page_requests_since(T0 - timedelta(hours=1))] == ["pagerduty.page"]
    assert await pages.page_requests_since(T0 + timedelta(minutes=1)) == []
    found = await pages.untracked()
    assert [(r[0], r[3]) for r in found] == [("r-person-0000000001", "U9")]
    assert await pages.untracked(incident_key="other") == []
    await pages.offer(_page("inc-5", id="r-person-0000000001", request_id="r-person-0000000001", state="triggered"))
    assert await pages.untracked() == []
