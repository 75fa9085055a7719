"""Alert correlation: each merge rule, their fixed order, resolution, dedupe, arrival order, restore, root service."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from sre_bot.analysis.correlation import (
    AlertEvent,
    CorrelationRules,
    Correlator,
    correlate,
    root_service,
    service_from_labels,
    severity_of,
)

T0 = datetime(2026, 11, 21, 14, 0, tzinfo=timezone.utc)
SHOP = {"frontend": ["checkout"], "checkout": ["payments-api", "cart"], "payments-api": ["payments-db"],
        "payments-db": [], "cart": [], "search": []}


def alert(fp: str, name: str = "HighErrorRate", service: str | None = None, at: float = 0, *,
          status: str = "firing", ends: float | None = None, group: str | None = None, **labels: str) -> AlertEvent:
    """An alert `at` seconds after T0 (labels as keyword arguments)."""
    lab = {"alertname": name, **({"service": service} if service else {}), **labels}
    return AlertEvent(fingerprint=fp, labels=lab, status=status, starts_at=T0 + timedelta(seconds=at),
                      ends_at=T0 + timedelta(seconds=ends) if ends is not None else None, group_key=group)


def groups(incidents) -> list[set[str]]:
    return sorted((set(i.alerts) for i in incidents), key=lambda s: sorted(s))


def test_the_worked_example_of_the_module_docstring():
    """The example in correlation.py's docstring is what the code does."""
    graph = {"frontend": ["checkout"], "checkout": ["payments-api"], "payments-api": ["payments-db"]}
    c = Correlator(CorrelationRules(), graph)
    a = c.add(alert("db", "PostgresDown", "payments-db", 0))
    api = c.add(alert("api", "HighLatency", "payments-api", 40))
    assert api.merge.reason == ("payments-api depends on payments-db (1 hop); HighLatency fired 40 s after "
                                "PostgresDown on payments-db")
    assert c.add(alert("co", "HighErrorRate", "checkout", 90)).incident_key == a.incident_key
    b = c.add(alert("se", "HighErrorRate", "search", 120))
    cc = c.add(alert("disk", "NodeDiskFull", None, 240, node="n7"))
    cart = c.add(alert("cart", "HighLatency", "cart", 300, node="n7"))
    assert b.new and cc.new and cart.incident_key == cc.incident_key
    assert cart.merge.reason == "shares node=n7 with NodeDiskFull; HighLatency fired 60 s after NodeDiskFull"
    for fp, name, svc in (("db", "PostgresDown", "payments-db"), ("api", "HighLatency", "payments-api"),
                          ("co", "HighErrorRate", "checkout")):
        c.add(alert(fp, name, svc, {"db": 0, "api": 40, "co": 90}[fp], status="resolved", ends=1800))
    inc = c.incident(a.incident_key)
    assert inc.resolved and inc.root_service == "payments-db"
    assert inc.root_reason == "2 of the other 2 affected services depend on it (checkout, payments-api)"
    assert inc.title == "PostgresDown on payments-db (+2 more alerts, 3 services)"
    d = c.add(alert("db", "PostgresDown", "payments-db", 3000))
    assert d.new and d.follows == a.incident_key


def test_times_without_a_zone_are_utc():
    """A naive datetime is taken as UTC; an offset is converted."""
    naive = AlertEvent(fingerprint="a", starts_at=datetime(2026, 11, 21, 14, 0))
    offset = AlertEvent(fingerprint="b", starts_at=datetime(2026, 11, 21, 16, 0,
                                                              tzinfo=timezone(timedelta(hours=2))))
    assert naive.starts_at == offset.starts_at == T0 and naive.starts_at.tzinfo == timezone.utc


# --- rules --------------------------------------------------------------------------------------------------------

def test_same_group_key_joins_with_the_group_rule():
    """Alerts of one Alertmanager group on the same service (or naming none) join one incident, and the merge
    says so."""
    c = Correlator(CorrelationRules(), {})
    first = c.add(alert("a", service="checkout", group="g1", pod="checkout-7d9f8b6c5-x2k4q"))
    second = c.add(alert("b", service="checkout", at=30, group="g1", pod="checkout-7d9f8b6c5-b8w5z"))
    third = c.add(alert("c", "NodeDown", at=40, group="g1"))
    assert first.new and not second.new and second.incident_key == first.incident_key == third.incident_key
    assert second.merge.rule == "group" and "same Alertmanager group g1" in second.merge.reason
    assert second.merge.linked_alert == "a"


def test_a_group_alone_never_joins_two_unrelated_services():
    """`group_by: [alertname]` puts checkout's and search's HighLatency in one group: two incidents, not one."""
    incs = correlate([alert("a", "HighLatency", "checkout", group="g1"),
                      alert("b", "HighLatency", "search", at=30, group="g1")], CorrelationRules(), SHOP)
    assert groups(incs) == [{"a"}, {"b"}]


def test_use_groups_off_ignores_group_keys():
    """With use_groups false, a shared groupKey alone links nothing."""
    incs = correlate([alert("a", service="checkout", group="g1"), alert("b", service="search", at=30, group="g1")],
                     CorrelationRules(use_groups=False), SHOP)
    assert groups(incs) == [{"a"}, {"b"}]


def test_dependency_graph_within_hops_and_time_joins_with_a_reason():
    """A service one hop from an affected one, alerting 40 s later, joins: the reason names both and the gap."""
    c = Correlator(CorrelationRules(), SHOP)
    c.add(alert("db", "PostgresDown", "payments-db"))
    a = c.add(alert("api", "HighLatency", "payments-api", at=40))
    assert a.merge.rule == "graph"
    assert a.merge.reason == ("payments-api depends on payments-db (1 hop); HighLatency fired 40 s after "
                              "PostgresDown on payments-db")


def test_graph_reason_in_the_other_direction_and_through_a_middle_service():
    """A dependency alerting after its caller says who depends on whom; 2 hops name the service between."""
    c = Correlator(CorrelationRules(graph_hops=2), SHOP)
    c.add(alert("co", service="checkout"))
    r = c.add(alert("db", "PostgresDown", "payments-db", at=20)).merge.reason
    assert r.startswith("checkout depends on payments-db through payments-api (2 hops)")
    c2 = Correlator(CorrelationRules(), SHOP)
    c2.add(alert("co", service="checkout"))
    assert c2.add(alert("api", service="payments-api", at=5)).merge.reason.startswith(
        "checkout depends on payments-api (1 hop)")


def test_graph_hops_limit_and_window_are_respected():
    """Two hops apart with graph_hops 1, or one hop but further apart than the window: separate incidents."""
    far = correlate([alert("co", service="checkout"), alert("db", service="payments-db", at=10)],
                    CorrelationRules(), SHOP)
    assert groups(far) == [{"co"}, {"db"}]
    late = correlate([alert("db", service="payments-db"), alert("api", service="payments-api", at=11 * 60)],
                     CorrelationRules(window="10m"), SHOP)
    assert groups(late) == [{"api"}, {"db"}]


def test_same_service_is_the_graph_rule_at_zero_hops():
    """Two alerts on one service close in time join, even with no graph at all."""
    c = Correlator(CorrelationRules(), {})
    c.add(alert("a", "HighErrorRate", "checkout"))
    m = c.add(alert("b", "HighLatency", "checkout", at=90)).merge
    assert m.rule == "graph" and m.reason.startswith("same service checkout;") and "2 min after" in m.reason


def test_shared_node_label_joins_but_namespace_does_not_by_default():
    """Sharing a node links alerts close in time; sharing only a namespace does not (with the same alertname too,
    the time rule would: tests/unit/test_correlation_topology.py)."""
    incs = correlate([alert("disk", "NodeDiskFull", node="n7", namespace="shop"),
                      alert("cart", "HighLatency", "cart", at=60, node="n7", namespace="shop"),
                      alert("search", "SearchIndexStale", "search", at=60, node="n9", namespace="shop")],
                     CorrelationRules(), SHOP)
    assert groups(incs) == [{"cart", "disk"}, {"search"}]
    merge = next(i for i in incs if "disk" in i.alerts).merges[0]
    assert merge.rule == "label" and merge.reason.startswith("shares node=n7 with NodeDiskFull;")


def test_shared_label_out_of_window_does_not_join():
    """The same node an hour later is a different incident."""
    incs = correlate([alert("a", node="n7"), alert("b", at=3600, node="n7")], CorrelationRules(), {})
    assert len(incs) == 2


def test_deploy_links_an_alert_on_the_deployed_service_beyond_the_window():
    """checkout deployed at 14:00; payments-api (its dependency) alerts at 14:03, checkout itself at 14:20."""
    deploys = {"checkout": [T0 - timedelta(minutes=0)]}
    c = Correlator(CorrelationRules(window="10m", deploy_window="30m"), SHOP, deploys)
    c.add(alert("api", service="payments-api", at=180))
    a = c.add(alert("co", service="checkout", at=20 * 60))
    assert not a.new and a.merge.rule == "deploy"
    assert a.merge.reason.startswith("checkout was deployed at 14:00:00 UTC, 20 min before this alert; the "
                                     "incident has HighErrorRate on payments-api (checkout depends on payments-api")
    none = correlate([alert("api", service="payments-api", at=180), alert("co", service="checkout", at=20 * 60)],
                     CorrelationRules(), SHOP)
    assert len(none) == 2  # without the deploy they are 17 min apart: too far


def test_deploy_links_a_neighbour_alert_to_an_incident_on_the_deployed_service():
    """The other way round: the deployed service's alert came first, its caller alerts 20 minutes later."""
    c = Correlator(CorrelationRules(), SHOP, {"payments-api": [T0]})
    c.add(alert("api", service="payments-api", at=60))
    a = c.add(alert("co", service="checkout", at=21 * 60))
    assert a.merge.rule == "deploy" and "payments-api was deployed at 14:00:00 UTC" in a.merge.reason


def test_deploy_after_the_alerts_or_too_old_links_nothing():
    """A deploy after the incident's alerts, or older than deploy_window, is not a reason."""
    for when in (T0 + timedelta(minutes=5), T0 - timedelta(hours=1)):
        incs = correlate([alert("api", service="payments-api", at=0), alert("co", service="checkout", at=20 * 60)],
                         CorrelationRules(), SHOP, {"checkout": [when]})
        assert len(incs) == 2, when


def test_rules_apply_in_fixed_order_group_before_graph_before_label():
    """An alert matching one incident by label and another by group joins the group one and notes the other."""
    c = Correlator(CorrelationRules(), SHOP)
    by_label = c.add(alert("n", "NodeDown", node="n1")).incident_key
    by_graph = c.add(alert("db", service="payments-db", at=1)).incident_key
    by_group = c.add(alert("s", "KubeQuotaExceeded", at=2, group="g")).incident_key  # no service: groups
    a = c.add(alert("x", service="payments-api", at=3, group="g", node="n1"))
    assert a.incident_key == by_group and a.merge.rule == "group"
    notes = {r.incident: r.rule for r in c.incident(by_group).related}
    assert notes == {by_graph: "graph", by_label: "label"}
    assert [r.incident for r in c.incident(by_graph).related] == [by_group]
    assert len(c.incidents()) == 3  # linked, not merged


def test_same_rule_prefers_fewer_hops_then_closest_in_time():
    """Two graph candidates: the same service beats a neighbour; between equals, the nearer in time wins."""
    c = Correlator(CorrelationRules(), SHOP)
    near = c.add(alert("a", service="payments-db", at=0)).incident_key
    same = c.add(alert("b", service="payments-api", at=700, group="other")).incident_key  # 11+ min: own incident
    a = c.add(alert("c", service="payments-api", at=705))
    assert a.incident_key == same and a.merge.reason.startswith("same service payments-api")
    assert near != same
    c2 = Correlator(CorrelationRules(), SHOP)
    early = c2.add(alert("a", service="cart", at=0)).incident_key
    late = c2.add(alert("b", service="payments-api", at=300)).incident_key
    assert early != late
    assert c2.add(alert("c", service="checkout", at=280)).incident_key == late


# --- resolution, dedupe, order ------------------------------------------------------------------------------------

def test_resolved_incident_never_absorbs_and_a_recurrence_follows_it():
    """Once every alert resolved, the same alert firing again opens a new incident that names the old one."""
    c = Correlator(CorrelationRules(), SHOP)
    first = c.add(alert("db", "PostgresDown", "payments-db")).incident_key
    c.add(alert("api", service="payments-api", at=30))
    c.add(alert("db", "PostgresDown", "payments-db", status="resolved", ends=300))
    r = c.add(alert("api", service="payments-api", at=30, status="resolved", ends=320))
    assert r.resolved and c.incident(first).resolved
    assert c.incident(first).resolved_at == T0 + timedelta(seconds=320)
    again = c.add(alert("db", "PostgresDown", "payments-db", at=400))
    assert again.new and again.follows == first and again.incident_key != first
    assert c.incident(again.incident_key).follows == first
    other = c.add(alert("co", service="payments-api", at=410))  # a new alert near the old one joins the new
    assert other.incident_key == again.incident_key


def test_new_alert_matching_only_a_resolved_incident_opens_one_that_follows_it():
    """A different alert that would have joined a resolved incident opens a new one linked by `follows`."""
    c = Correlator(CorrelationRules(), SHOP)
    old = c.add(alert("a", service="checkout")).incident_key
    c.add(alert("a", service="checkout", status="resolved", ends=60))
    a = c.add(alert("b", service="checkout", at=120))
    assert a.new and a.follows == old


def test_a_stale_firing_copy_after_resolution_is_ignored():
    """A late firing copy with the same start as the resolved alert is not a recurrence."""
    c = Correlator(CorrelationRules(), {})
    key = c.add(alert("a", service="x")).incident_key
    c.add(alert("a", service="x", status="resolved", ends=60))
    r = c.add(alert("a", service="x"))
    assert r.repeat and r.incident_key == key and len(c.incidents()) == 1 and c.incident(key).resolved


def test_duplicates_update_status_but_never_join_twice():
    """The same fingerprint again is a repeat: one alert in the incident, status and counts follow it."""
    c = Correlator(CorrelationRules(), {})
    key = c.add(alert("a", service="x")).incident_key
    c.add(alert("b", service="x", at=10))
    r = c.add(alert("a", service="x"))
    assert r.repeat and not r.new and r.merge is None
    inc = c.incident(key)
    assert inc.alerts == ["a", "b"] and inc.firing == 2 and len(inc.merges) == 1
    c.add(alert("a", service="x", status="resolved", ends=100))
    assert c.incident(key).firing == 1 and not c.incident(key).resolved


def test_out_of_order_arrival_never_mixes_problems_and_links_what_it_splits():
    """Shuffled arrival never mixes the two problems; a chain split by arrival order is linked, not fused."""
    storm = [alert("db", service="payments-db", at=0), alert("api", service="payments-api", at=40),
             alert("co", service="checkout", at=90), alert("fe", service="frontend", at=120),
             alert("s1", service="search", at=30), alert("s2", service="search", at=200)]
    expected = groups(correlate(storm, CorrelationRules(), SHOP))
    assert expected == [{"api", "co", "db", "fe"}, {"s1", "s2"}]
    rng = random.Random(7)
    for _ in range(20):
        shuffled = storm[:]
        rng.shuffle(shuffled)
        c = Correlator(CorrelationRules(), SHOP)
        c.add_many(shuffled)
        got = groups(c.incidents())
        # an arrival order can leave a chain split (frontend first, then db: not adjacent) but never mixes search in
        assert all(g <= {"api", "co", "db", "fe"} or g <= {"s1", "s2"} for g in got), got
    # checkout first, then an earlier db (2 hops away: its own incident), then api, adjacent to both: it joins the
    # closer in time and records the possible merge instead of fusing the two incidents
    c = Correlator(CorrelationRules(), SHOP)
    co, db, api, _ = c.add_many([storm[2], storm[0], storm[1], storm[3]])
    assert groups(c.incidents()) == [{"api", "db"}, {"co", "fe"}]
    assert api.incident_key == db.incident_key
    assert [(r.incident, r.alert) for r in c.incident(co.incident_key).related] == [(db.incident_key, "api")]
    assert c.incident(db.incident_key).started_at == T0


def test_batch_replay_orders_a_resolution_at_its_end_time():
    """In a batch, an alert that started before another's resolution still joins: events sort by when they happened."""
    events = [alert("a", service="checkout", at=0, status="resolved", ends=600),
              alert("a", service="checkout", at=0), alert("b", service="checkout", at=300)]
    incs = correlate(events, CorrelationRules(), SHOP)
    assert groups(incs) == [{"a", "b"}] and not incs[0].resolved


def test_unrelated_second_problem_in_the_storm_stays_its_own_incident():
    """A storm on the payments chain and, at the same time, a search outage: two incidents, not one."""
    storm = [alert(f"p{i}", name, svc, at=i * 15) for i, (name, svc) in enumerate(
        [("PostgresDown", "payments-db"), ("HighLatency", "payments-api"), ("HighErrorRate", "payments-api"),
         ("HighErrorRate", "checkout"), ("HighLatency", "frontend"), ("HighErrorRate", "frontend")])]
    storm += [alert("s1", "HighErrorRate", "search", at=20, namespace="shop"),
              alert("s2", "SearchIndexStale", "search", at=50, namespace="shop")]
    incs = correlate(storm, CorrelationRules(), SHOP)
    assert groups(incs) == [{"p0", "p1", "p2", "p3", "p4", "p5"}, {"s1", "s2"}]


def test_max_incident_age_stops_a_chain():
    """A chain of alerts each 5 min apart joins until the incident would span more than max_incident_age."""
    chain = [alert(f"a{i}", service="x", at=i * 300) for i in range(10)]
    incs = correlate(chain, CorrelationRules(max_incident_age="30m"), {})
    assert [len(i.alerts) for i in incs] == [7, 3]


# --- restore ------------------------------------------------------------------------------------------------------

def test_restore_continues_with_open_incidents():
    """A restarted correlator restored from incidents + alerts puts the next alert in the same incident."""
    c = Correlator(CorrelationRules(), SHOP)
    key = c.add(alert("db", service="payments-db")).incident_key
    c.add(alert("api", service="payments-api", at=40))
    done = c.add(alert("z", service="search", at=50)).incident_key
    c.add(alert("z", service="search", at=50, status="resolved", ends=100))
    saved = [(i, c.alerts_of(i.key)) for i in c.incidents()]

    fresh = Correlator(CorrelationRules(), SHOP)
    fresh.restore(saved)
    assert [i.model_dump() for i in fresh.incidents()] == [i.model_dump() for i, _ in saved]
    a = fresh.add(alert("co", service="checkout", at=100))
    assert a.incident_key == key and a.merge.rule == "graph"
    assert fresh.add(alert("api", service="payments-api", at=40)).repeat  # dedupe survives the restart
    again = fresh.add(alert("z", service="search", at=200))
    assert again.new and again.follows == done


def test_restore_refuses_missing_alerts():
    """Restoring an incident without its alerts is a programming error, said plainly."""
    c = Correlator(CorrelationRules(), {})
    c.add(alert("a", service="x"))
    inc = c.incidents()[0]
    with pytest.raises(ValueError, match="alerts missing"):
        Correlator().restore([(inc, [])])


# --- what an incident says ----------------------------------------------------------------------------------------

def test_severity_is_the_highest_and_title_names_the_most_severe_alert():
    """critical > error > warning > info > none; the title counts the other alerts and services."""
    incs = correlate([alert("a", "HighLatency", "checkout", severity="warning"),
                      alert("b", "PostgresDown", "payments-api", at=5, severity="critical"),
                      alert("c", "HighErrorRate", "checkout", at=6, severity="error"),
                      alert("d", "Info", "checkout", at=7, severity="info")], CorrelationRules(), SHOP)
    assert len(incs) == 1
    assert incs[0].severity == "critical"
    assert incs[0].title == "PostgresDown on payments-api (+3 more alerts, 2 services)"
    assert incs[0].alert_names == {"HighLatency": 1, "PostgresDown": 1, "HighErrorRate": 1, "Info": 1}
    single = correlate([alert("a", "Watchdog")], CorrelationRules(), {})[0]
    assert single.title == "Watchdog" and single.severity == "none"
    assert severity_of({"severity": "PAGE"}) == "critical" and severity_of({"severity": "weird"}) == "none"


def test_title_singular_forms():
    """One other alert on the same service: "+1 more alert", no service count."""
    inc = correlate([alert("a", "X", "checkout"), alert("b", "Y", "checkout", at=1)], CorrelationRules(), {})[0]
    assert inc.title == "X on checkout (+1 more alert)"


def test_root_service_is_what_the_others_depend_on():
    """payments-db is depended on by every other affected service, even though it alerted last."""
    onsets = {"frontend": T0, "checkout": T0 + timedelta(seconds=10), "payments-db": T0 + timedelta(seconds=60)}
    root, why = root_service(onsets, SHOP)
    assert root == "payments-db"
    assert why == "2 of the other 2 affected services depend on it (checkout, frontend)"


def test_root_service_ties_break_by_onset_and_unrelated_services_by_first_alert():
    """Equal dependents: the earlier onset wins and the reason says so; none depend: the first to alert."""
    g = {"a": ["x", "y"]}
    root, why = root_service({"a": T0, "x": T0 + timedelta(seconds=9), "y": T0 + timedelta(seconds=3)}, g)
    assert root == "y" and "tied with x" in why
    root, why = root_service({"p": T0 + timedelta(seconds=5), "q": T0}, {})
    assert root == "q" and why.startswith("no affected service depends on another")
    assert root_service({}, {}) == (None, "no alert names a service")


def test_incident_root_service_and_services_by_onset():
    """The incident reports its services by onset and its root with the reason."""
    inc = correlate([alert("fe", service="frontend"), alert("co", service="checkout", at=10),
                     alert("api", service="payments-api", at=20)], CorrelationRules(), SHOP)[0]
    assert inc.services == ["frontend", "checkout", "payments-api"]
    assert inc.root_service == "payments-api" and inc.root_reason.startswith("2 of the other 2")


def test_service_comes_from_the_first_label_and_pods_lose_their_hashes():
    """service > app > job > deployment > pod > container; a pod name drops its ReplicaSet and pod hashes."""
    order = CorrelationRules().service_labels
    assert service_from_labels({"pod": "checkout-7d9f8b6c5-x2k4q", "container": "c"}, order) == "checkout"
    assert service_from_labels({"app": "cart", "pod": "checkout-7d9f8b6c5-x2k4q"}, order) == "cart"
    assert service_from_labels({"pod": "frontend-proxy"}, order) == "frontend-proxy"  # no hashes: kept
    assert service_from_labels({"namespace": "shop"}, order) is None
    assert service_from_labels({"service": "co"}, order, {"co": "checkout"}) == "checkout"


@pytest.mark.parametrize("field, value, needle", [
    ("window", "soon", "not a duration"), ("deploy_window", "0m", "empty window"),
    ("shared_labels", ["ok", "bad-label"], "not valid label names"), ("graph_hops", -1, "greater than"),
    ("surprise", 1, "Extra inputs"),
])
def test_rules_validate(field, value, needle):
    """Bad durations, label names, hop counts and unknown keys are refused with the reason."""
    with pytest.raises(ValidationError, match=needle):
        CorrelationRules(**{field: value})


def test_the_assignment_carries_the_notes_its_alert_added():
    """An alert that matched two incidents says so on its assignment (the processor's timeline reads it there)."""
    c = Correlator(CorrelationRules(), SHOP)
    by_label = c.add(alert("n", "NodeDown", node="n1")).incident_key
    by_graph = c.add(alert("db", service="payments-db", at=1)).incident_key
    a = c.add(alert("x", service="payments-api", at=3, node="n1"))
    assert a.incident_key == by_graph and [(r.incident, r.rule) for r in a.related] == [(by_label, "label")]
    assert c.add(alert("y", service="payments-api", at=4, node="n1")).related == []  # noted once per pair
