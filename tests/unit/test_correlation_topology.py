"""Correlation on a topology (issue 17): merge sources, Argo CD groups, hubs, learned ties, the time rule,
set_topology and the root service by onset order."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from sre_bot.analysis.correlation import (
    RULE_ORDER,
    AlertEvent,
    Assignment,
    CorrelationRules,
    Correlator,
    Merge,
    Tie,
    Topology,
    correlate,
    root_service,
)

T0 = datetime(2026, 11, 21, 14, 0, tzinfo=timezone.utc)
LEAVES = ["ad", "cart", "currency", "product-catalog", "recommendation", "shipping"]


def alert(fp: str, name: str = "HighErrorRate", service: str | None = None, at: float = 0, **labels: str) -> AlertEvent:
    """An alert `at` seconds after T0 (labels as keyword arguments)."""
    lab = {"alertname": name, **({"service": service} if service else {}), **labels}
    return AlertEvent(fingerprint=fp, labels=lab, starts_at=T0 + timedelta(seconds=at))


def joined(a: Assignment) -> Merge:
    """The merge of an alert that joined an incident."""
    assert a.merge is not None, "the alert opened an incident"
    return a.merge


def groups(incidents) -> list[set[str]]:
    return sorted((set(i.alerts) for i in incidents), key=lambda s: sorted(s))


def hub_topology(**extra) -> Topology:
    """frontend calls six services: a hub (hub_degree 6)."""
    return Topology.build(discovered=[("frontend", s) for s in LEAVES], **extra)


# --- sources and reasons ------------------------------------------------------------------------------------------

def test_rule_order_puts_learned_after_label_and_time_last():
    """The agreed order: group, graph, label, learned, deploy, time."""
    assert RULE_ORDER == ("group", "graph", "label", "learned", "deploy", "time")


def test_a_discovered_edge_says_so_in_the_merge():
    """A discovered call edge links with source "discovered" and a reason that names where it came from."""
    topo = Topology.build(discovered=[("checkout", "payments-api")])
    c = Correlator(CorrelationRules(), topology=topo)
    c.add(alert("co", service="checkout"))
    m = joined(c.add(alert("api", "HighLatency", "payments-api", at=40)))
    assert m.rule == "graph" and m.source == "discovered"
    assert m.reason == ("checkout calls payments-api (1 hop) — discovered from call-graph metrics; HighLatency "
                        "fired 40 s after HighErrorRate on checkout")


def test_a_configured_edge_keeps_its_reason_and_says_config():
    """The graph argument is a configured topology: source "config", the reason as before."""
    c = Correlator(CorrelationRules(), {"checkout": ["payments-api"]})
    c.add(alert("co", service="checkout"))
    m = joined(c.add(alert("api", service="payments-api", at=5)))
    assert m.source == "config" and m.reason.startswith("checkout depends on payments-api (1 hop);")
    same = joined(c.add(alert("co2", "HighLatency", "checkout", at=6)))
    assert same.source is None and same.reason.startswith("same service checkout")


def test_a_path_with_one_discovered_hop_is_discovered():
    """Two hops, one configured and one discovered: the weakest source wins."""
    topo = Topology.build(config={"checkout": ["payments-api"]}, discovered=[("payments-api", "payments-db")])
    c = Correlator(CorrelationRules(graph_hops=2), topology=topo)
    c.add(alert("db", "PostgresDown", "payments-db"))
    m = joined(c.add(alert("co", service="checkout", at=30)))
    assert m.source == "discovered"
    assert m.reason.startswith("checkout depends on payments-db through payments-api (2 hops) — partly discovered")


def test_other_rules_name_themselves_as_the_source():
    """group and label merges carry their rule as the source."""
    c = Correlator(CorrelationRules(), topology=Topology())
    c.add(alert("a", service="x", node="n1"))
    assert joined(c.add(alert("b", service="y", at=5, node="n1"))).source == "label"
    g = Correlator(CorrelationRules(), topology=Topology())
    g.add(AlertEvent(fingerprint="a", labels={"alertname": "X", "service": "x"}, starts_at=T0, group_key="g"))
    m = g.add(AlertEvent(fingerprint="b", labels={"alertname": "Y", "service": "x"}, starts_at=T0, group_key="g"))
    assert joined(m).rule == "group" and joined(m).source == "group"


def test_a_small_argo_cd_application_links_its_services_a_large_one_does_not():
    """Two workloads of one small application join (source discovered); an application of hub_degree services
    is no evidence."""
    small = Topology.build(groups={"payments-api": "payments", "payments-db": "payments"})
    c = Correlator(CorrelationRules(), topology=small)
    c.add(alert("db", "PostgresDown", "payments-db"))
    m = joined(c.add(alert("api", service="payments-api", at=20)))
    assert m.source == "discovered"
    assert m.reason.startswith("payments-api and payments-db belong to Argo CD application payments (1 hop)")
    big = Topology.build(groups={s: "shop" for s in LEAVES})
    incs = correlate([alert("a", "X", "ad"), alert("b", "Y", "cart", at=20)], CorrelationRules(), topology=big)
    assert groups(incs) == [{"a"}, {"b"}]


# --- hubs -------------------------------------------------------------------------------------------------------------

def test_a_hub_joins_but_does_not_glue_a_later_unrelated_alert():
    """frontend (six neighbours) joins ad's incident; cart, linked only through frontend and 5 min later, opens its
    own incident with a note; currency, within 2 min of frontend's alert, still joins."""
    c = Correlator(CorrelationRules(), topology=hub_topology())
    x = c.add(alert("ad", service="ad")).incident_key
    fe = c.add(alert("fe", "HighLatency", "frontend", at=30))
    assert fe.incident_key == x and joined(fe).rule == "graph"  # a hub's own alert may join
    near = c.add(alert("cur", service="currency", at=90))
    assert near.incident_key == x  # near-simultaneous with the hub's alert: linked
    far = c.add(alert("cart", service="cart", at=330))
    assert far.new and far.incident_key != x
    notes = c.incident(far.incident_key).related
    assert [r.incident for r in notes] == [x] and "frontend has 6 neighbours" in notes[0].reason
    assert "a hub" in notes[0].reason and "opened" in notes[0].reason
    assert [r.incident for r in c.incident(x).related] == [far.incident_key]


def test_a_non_hub_service_of_the_incident_still_links():
    """cart also calls ad (not a hub): cart joins ad's incident through ad, 5 min after the hub's alert."""
    topo = Topology.build(discovered=[*(("frontend", s) for s in LEAVES), ("cart", "ad")])
    c = Correlator(CorrelationRules(), topology=topo)
    x = c.add(alert("ad", service="ad", at=200)).incident_key
    c.add(alert("fe", service="frontend", at=30))
    a = c.add(alert("cart", service="cart", at=330))
    assert a.incident_key == x and joined(a).reason.startswith("cart calls ad (1 hop)")


def test_a_service_that_matched_two_open_incidents_links_only_what_fires_next_to_it():
    """api's alert touched both db's and search's incidents (it joined the nearer in time); checkout, linked only
    through api and 5 min later, is not glued to api's incident."""
    topo = Topology.build(config={"api": ["db", "search"], "checkout": ["api"]})
    c = Correlator(CorrelationRules(), topology=topo)
    x = c.add(alert("db", service="db")).incident_key
    y = c.add(alert("s", service="search", at=10)).incident_key
    api = c.add(alert("api", service="api", at=20))
    assert api.incident_key == y and [r.incident for r in api.related] == [x]
    later = c.add(alert("co", service="checkout", at=320))
    assert later.new and "an alert on api matched" in c.incident(later.incident_key).related[0].reason
    c2 = Correlator(CorrelationRules(), topology=topo)
    c2.add_many([alert("db", service="db"), alert("s", service="search", at=10), alert("api", service="api", at=20)])
    assert not c2.add(alert("co", service="checkout", at=60)).new  # within 2 min of api's alert: linked


def test_a_walk_of_two_hops_does_not_go_through_a_hub():
    """With graph_hops 2, ad and cart are two hops apart only through frontend (a hub): no link."""
    c = Correlator(CorrelationRules(graph_hops=2, use_groups=False), topology=hub_topology())
    c.add(alert("ad", service="ad"))
    assert c.add(alert("cart", service="cart", at=20)).new


# --- learned ties -----------------------------------------------------------------------------------------------------

def test_a_learned_tie_joins_with_its_history_as_the_reason():
    """checkout and payments-api alerted together in 7 of 9 incidents: they join, within the window only."""
    topo = Topology.build(ties={("payments-api", "checkout"): Tie(together=7, seen=9)})
    c = Correlator(CorrelationRules(), topology=topo)
    c.add(alert("co", service="checkout"))
    m = joined(c.add(alert("api", "HighLatency", "payments-api", at=60)))
    assert m.rule == "learned" and m.source == "learned"
    assert m.reason == ("payments-api and checkout alerted together in 7 of the last 9 incidents; HighLatency "
                        "fired 60 s after HighErrorRate on checkout")
    late = correlate([alert("co", service="checkout"), alert("api", service="payments-api", at=11 * 60)],
                     CorrelationRules(), topology=topo)
    assert len(late) == 2


@pytest.mark.parametrize("tie", [Tie(together=2, seen=9), Tie(together=2, seen=2), Tie(together=2.9, seen=3)])
def test_a_weak_or_young_tie_links_nothing(tie):
    """Below learned_min strength or learned_min_incidents incidents together, a tie is no evidence."""
    topo = Topology.build(ties={("checkout", "payments-api"): tie})
    incs = correlate([alert("co", service="checkout"), alert("api", service="payments-api", at=30)],
                     CorrelationRules(), topology=topo)
    assert len(incs) == 2


def test_a_tie_with_a_hub_does_not_glue():
    """A tie to a hub service links only what fires within time_window of the hub's alert, like its edges."""
    topo = hub_topology(ties={("frontend", "search"): Tie(together=9, seen=10)})
    c = Correlator(CorrelationRules(), topology=topo)
    c.add(alert("fe", service="frontend"))
    assert c.add(alert("s1", service="search", at=300)).new
    assert c.add(alert("s2", "Other", service="search-indexer", at=301)).new


# --- the time rule ----------------------------------------------------------------------------------------------------

def test_no_topology_same_alertname_and_namespace_within_two_minutes_join():
    """With no topology at all, NoRequestsReceived on payment and email, 40 s apart in one namespace, join."""
    c = Correlator(CorrelationRules())
    c.add(alert("p", "NoRequestsReceived", "payment", namespace="shop"))
    m = joined(c.add(alert("e", "NoRequestsReceived", "email", at=40, namespace="shop")))
    assert m.rule == "time" and m.source == "time"
    assert m.reason == ("no topology links them; fired 40 s after NoRequestsReceived on payment, within 2 min, "
                        "with the same alertname=NoRequestsReceived, namespace=shop")


@pytest.mark.parametrize("second", [
    alert("e", "NoRequestsReceived", "email", at=40, namespace="other"),  # another namespace
    alert("e", "NoRequestsReceived", "email", at=40),  # no namespace: the rule needs both labels
    alert("e", "HighLatency", "email", at=40, namespace="shop"),  # another alertname
    alert("e", "NoRequestsReceived", "email", at=150, namespace="shop"),  # 2.5 min later
    alert("e", "NoRequestsReceived", "email", at=3600, namespace="shop"),  # an hour later
])
def test_the_time_rule_needs_both_labels_and_near_simultaneous(second):
    """Without the same namespace and alertname, or further apart than time_window, they stay apart."""
    incs = correlate([alert("p", "NoRequestsReceived", "payment", namespace="shop"), second], CorrelationRules())
    assert len(incs) == 2


def test_time_labels_can_be_changed_or_turned_off():
    """time_labels [namespace] joins on the namespace alone; an empty list turns the rule off."""
    pair = [alert("p", "NoRequestsReceived", "payment", namespace="shop"),
            alert("e", "HighLatency", "email", at=40, namespace="shop")]
    assert len(correlate(pair, CorrelationRules(time_labels=["namespace"]))) == 1
    same = [pair[0], alert("e", "NoRequestsReceived", "email", at=40, namespace="shop")]
    assert len(correlate(same, CorrelationRules(time_labels=[]))) == 2


def test_the_time_rule_never_joins_across_a_stronger_link():
    """cart is linked to frontend's incident (by an edge the hub rule did not let link): a near-simultaneous
    alert of the same name in another incident does not pull it there either."""
    c = Correlator(CorrelationRules(), topology=hub_topology())
    x = c.add(alert("fe", "HighLatency", "frontend", namespace="shop")).incident_key
    y = c.add(alert("r", "HighLatency", "search", at=170, namespace="shop")).incident_key
    assert x != y  # 170 s apart: further than time_window
    a = c.add(alert("cart", "HighLatency", "cart", at=200, namespace="shop"))
    assert a.new and a.incident_key not in (x, y)
    assert [r.incident for r in c.incident(a.incident_key).related] == [x]


def test_the_time_rule_is_the_weakest():
    """An alert that a graph edge links to one incident and the time rule to another joins the graph one."""
    topo = Topology.build(discovered=[("checkout", "payments-api")])
    c = Correlator(CorrelationRules(), topology=topo)
    by_graph = c.add(alert("co", "HighLatency", "checkout", namespace="a")).incident_key
    c.add(alert("x", "NoRequestsReceived", "other", at=5, namespace="shop"))
    a = c.add(alert("api", "NoRequestsReceived", "payments-api", at=10, namespace="shop"))
    assert a.incident_key == by_graph and joined(a).rule == "graph"


# --- set_topology -----------------------------------------------------------------------------------------------------

def test_set_topology_applies_to_later_alerts_and_keeps_open_incidents():
    """Rediscovered edges link the next alert; incidents already open keep their alerts; caches start over."""
    c = Correlator(CorrelationRules())
    x = c.add(alert("co", service="checkout")).incident_key
    y = c.add(alert("api", service="payments-api", at=10)).incident_key
    assert x != y
    assert c.add(alert("fe", service="frontend", at=15)).new  # no edge yet (and the walk is cached)
    c.set_topology(Topology.build(discovered=[("cart", "checkout"), ("frontend", "search")]))
    assert c.topology.source("cart", "checkout") == "discovered"
    a = c.add(alert("cart", service="cart", at=20))
    assert a.incident_key == x and joined(a).source == "discovered"
    assert c.incident(y).alerts == ["api"] and c.incident(x).alerts == ["co", "cart"]
    assert joined(c.add(alert("s", service="search", at=25))).rule == "graph"  # frontend's walk was recomputed


def test_correlate_takes_a_topology():
    """The batch function takes the same topology."""
    topo = Topology.build(discovered=[("checkout", "payments-api")])
    incs = correlate([alert("a", service="checkout"), alert("b", service="payments-api", at=5)], topology=topo)
    assert len(incs) == 1 and incs[0].merges[0].source == "discovered"


# --- root service -----------------------------------------------------------------------------------------------------

def test_root_prefers_the_service_whose_dependents_alerted_after_it():
    """payments has the most dependents but alerted 5 min after them: checkout, which alerted before its caller
    (within a minute counts as together), is the likelier root, and the reason says why."""
    g = {"frontend": ["checkout", "ad"], "checkout": ["payments"]}
    onsets = {"frontend": T0 + timedelta(seconds=20), "checkout": T0, "ad": T0 + timedelta(seconds=30),
              "payments": T0 + timedelta(minutes=5)}
    root, why = root_service(onsets, g)
    assert root == "checkout"
    assert why.startswith("1 of the other 3 affected services depend on it (frontend)")
    assert "payments (2 dependents) alerted after 2 of its own" in why


def test_root_callee_that_alerted_first_wins_over_more_dependents():
    """db alerted 3 min before both of its dependents: the root even where a service with as many dependents
    alerted after its own."""
    g = {"api": ["db", "cache"], "web": ["api"], "cache": []}
    onsets = {"db": T0, "api": T0 + timedelta(minutes=3), "web": T0 + timedelta(minutes=4),
              "cache": T0 + timedelta(minutes=6)}
    root, why = root_service(onsets, g)
    assert root == "db" and why.startswith("2 of the other 3 affected services depend on it (api, web)")


def test_root_with_no_edges_is_the_first_alert():
    """No affected service depends on another: the earliest alert's service."""
    c = Correlator(CorrelationRules(time_labels=["namespace"]))
    keys = {c.add(alert(svc, service=svc, at=10 * i, namespace="shop")).incident_key
            for i, svc in enumerate(["b", "a", "c"])}
    assert len(keys) == 1
    got = c.incident(keys.pop())
    assert got.root_service == "b" and got.root_reason.startswith("no affected service depends on another; b")


def test_incident_root_uses_the_discovered_topology():
    """The incident's root comes from the topology's edges, whatever their source."""
    topo = Topology.build(discovered=[("checkout", "payments-api"), ("frontend", "checkout")])
    incs = correlate([alert("api", service="payments-api"), alert("co", service="checkout", at=30),
                      alert("fe", service="frontend", at=90)], topology=topo)
    assert len(incs) == 1 and incs[0].root_service == "payments-api"


# --- settings -----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("field, value, needle", [
    ("time_window", "soon", "not a duration"), ("time_labels", ["bad-label"], "not valid label names"),
    ("learned_min", 0, "greater than"), ("learned_min_incidents", 0, "greater than"), ("hub_degree", 1, "greater"),
])
def test_new_rules_validate(field, value, needle):
    """Bad durations, label names, strengths and degrees are refused with the reason."""
    with pytest.raises(ValidationError, match=needle):
        CorrelationRules(**{field: value})


def test_the_time_rule_never_joins_two_services_the_config_names_apart():
    """The config names payment and search (`search: {}`) and links neither: the same alertname at the same time
    stays two incidents; a discovered topology's missing edge is no such word."""
    pair = [alert("p", "HighErrorRate", "payment", namespace="shop"),
            alert("s", "HighErrorRate", "search", at=15, namespace="shop")]
    config = {"checkout": ["payment"], "search": []}
    assert Topology.build(config=config).declared == {"checkout", "payment", "search"}
    assert len(correlate(pair, CorrelationRules(), config)) == 2
    assert len(correlate(pair, CorrelationRules(), topology=Topology.build(config=config))) == 2
    found = Topology.build(discovered=[("checkout", "payment"), ("frontend", "search")])
    assert len(correlate(pair, CorrelationRules(), topology=found)) == 1
