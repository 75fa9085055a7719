"""Ties learned from past incidents: decayed counts of services that alerted in the same incident
(`analysis/learned_ties.py`), read from the incidents the processor stored (SQLite and PostgreSQL) and discovered
with the rest of the topology."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from sre_bot.analysis.learned_ties import MAX_SERVICES, PastIncident, learn_ties
from sre_bot.analysis.topology import Tie
from sre_bot.deps import Deps
from sre_bot.incidents.processor import IncidentProcessor
from sre_bot.incidents.topology import discover
from sre_bot.sandbox.bot_config import sandbox_config
from sre_bot.sandbox.scenario import load_scenario
from sre_bot.settings import load_settings
from sre_bot.store import Store
from sre_bot.store.incident_history import past_incidents
from tests.incidents._storm import STORM, storm
from tests.store import conftest as _stores
from tests.store.helpers import T0

# the store fixtures: each store test once on SQLite, once on PostgreSQL
store, store_url, sqlite_url, pg_url, postgres_available = (
    _stores.store, _stores.store_url, _stores.sqlite_url, _stores.pg_url, _stores.postgres_available)

NOW = datetime(2026, 3, 1, tzinfo=timezone.utc)


def _past(days_ago: float, *services: str, learned: tuple[str, ...] = ()) -> PastIncident:
    return PastIncident(at=NOW - timedelta(days=days_ago), services=frozenset(services),
                        learned_only=frozenset(learned))


def test_pairs_count_together_and_either_counts_seen() -> None:
    """cart and redis together in 3 incidents, cart alone in 1: together 3 of the 4 where either alerted."""
    ties = learn_ties([_past(0, "cart", "redis")] * 3 + [_past(0, "cart")], now=NOW)
    assert ties == {("cart", "redis"): Tie(together=3.0, seen=4.0)}
    assert ties[("cart", "redis")].strength == 0.75


def test_older_incidents_count_less() -> None:
    """An incident one half-life (30 days) old counts half, two half-lives a quarter."""
    ties = learn_ties([_past(30, "a", "b"), _past(60, "a", "b")], now=NOW)
    assert ties[("a", "b")] == Tie(together=0.75, seen=0.75)


def test_a_service_brought_in_by_a_learned_tie_does_not_strengthen_it() -> None:
    """redis there only through the learned rule: seen, never together (a tie cannot feed itself)."""
    ties = learn_ties([_past(0, "cart", "redis", "api", learned=("redis",))], now=NOW)
    assert set(ties) == {("api", "cart")}


def test_a_very_broad_incident_adds_to_seen_only() -> None:
    """An incident of more services than MAX_SERVICES says nothing about which pairs belong together."""
    broad = _past(0, "a", "b", *(f"s{i}" for i in range(MAX_SERVICES)))
    ties = learn_ties([_past(0, "a", "b"), broad], now=NOW)
    assert ties == {("a", "b"): Tie(together=1.0, seen=2.0)}


def test_half_life_must_be_positive() -> None:
    with pytest.raises(ValueError):
        learn_ties([], now=NOW, half_life=timedelta(0))


async def test_resolved_incidents_in_the_store_become_ties(store: Store) -> None:
    """The storm through the processor: the resolved payments incident ties its four services; the open disk
    incident teaches nothing yet; `discover` (no Prometheus, no Argo CD) returns those ties with the config."""
    _, bodies = storm(T0)
    for _, body in bodies:
        await store.inbox_add(body, alerts=len(body["alerts"]), source="alertmanager", now=T0)
    deps = Deps(settings=load_settings(None, SRE_BOT_TOPOLOGY_REFRESH="0"),
                config=sandbox_config(load_scenario(STORM)), store=store, clock=lambda: T0)
    processor = IncidentProcessor(deps, holder="A")
    while (await processor.step()).bodies:
        pass
    past = await past_incidents(store, since=T0 - timedelta(days=1))
    assert [p.services for p in past] == [frozenset({"payments-db", "payments-api", "checkout", "frontend"})]
    assert past[0].learned_only == frozenset()
    topo = await discover(deps, now=T0)
    assert set(topo.ties) == {("checkout", "frontend"), ("checkout", "payments-api"), ("checkout", "payments-db"),
                              ("frontend", "payments-api"), ("frontend", "payments-db"),
                              ("payments-api", "payments-db")}
    assert topo.tie("payments-db", "frontend") == Tie(together=1.0, seen=1.0)
    assert "frontend ~ payments-db  (alerted together in 1 of 1 past incidents)" in topo.describe()
    assert topo.source("checkout", "payments-api") == "config"  # the storm config's depends_on stays on top
    assert await past_incidents(store, since=T0) == []  # resolved before `since`
