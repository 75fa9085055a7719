"""The correlation benchmark's rows: storm kinds, the two-fold split, learned ties, the second-problem-hidden count,
and the OpenTelemetry demo graph written as service-graph series."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta

import pytest

from benchmarks._otel_demo_graph import BOOKINFO_EDGES, OTEL_DEMO_EDGES, demo_edges, openmetrics, to_alert_name
from benchmarks.correlation import T0 as BENCH_T0
from benchmarks.correlation import (
    Item,
    Result,
    Scenario,
    Storms,
    TruthAlert,
    _known,
    _Names,
    by_fold,
    hidden_scores,
    kind_storms,
    learn_ties,
    root_scores,
    split_halves,
    training_storms,
)


def _scenarios(n: int = 6) -> tuple[list[Scenario], _Names]:
    """`n` small scenarios: a root alert (depth 0) on svc<k>, and frontend one hop later."""
    names = _Names()
    out = []
    for k in range(n):
        root, front = names.add(f"svc{k}"), names.add("frontend")
        out.append(Scenario(f"scenario_{k}", [TruthAlert(f"Root{k}", root, "Service", "shop", 0),
                                              TruthAlert("HighRequestErrorRate", front, "Service", "shop", 1)],
                            {root}, [(front, root)]))
    return out, names


def _first_start(st: Storms, inst: str) -> float:
    return min(it.start for it in st.items if it.instance == inst).timestamp()


def test_split_halves_is_disjoint_complete_and_seeded() -> None:
    """The two halves share no scenario, cover all of them, and the same seed gives the same split."""
    scs, _ = _scenarios(7)
    a, b = split_halves(scs, 1)
    assert {s.name for s in a} | {s.name for s in b} == {s.name for s in scs}
    assert not {s.name for s in a} & {s.name for s in b}
    assert (len(a), len(b)) == (4, 3)
    assert [s.name for s in split_halves(scs, 1)[0]] == [s.name for s in a]


def test_single_storms_hold_each_scenario_of_its_half_alone() -> None:
    """Kind `single`: one storm per scenario, each from its own half, storms 3 h apart."""
    scs, names = _scenarios(6)
    halves = split_halves(scs, 2)
    st = kind_storms(halves, names, "single", count=0, seed=2)
    assert len(st.instances) == 6 and len({it.storm for it in st.items}) == 6
    for it in st.items:
        assert it.instance.split("#")[1] in {s.name for s in halves[it.fold]}
    starts = sorted(_first_start(st, i) for i in st.instances)
    assert all(b - a >= 3 * 3600 - 60 for a, b in zip(starts, starts[1:], strict=False))


@pytest.mark.parametrize(("kind", "minutes"), [("apart", 20), ("overlap", 2)])
def test_pair_storms_start_their_second_scenario_later(kind: str, minutes: int) -> None:
    """Kinds `apart` / `overlap`: two distinct scenarios, the second starting 20 / 2 min after the first (± the
    0–15 s jitter of a first alert)."""
    scs, names = _scenarios(6)
    st = kind_storms(split_halves(scs, 1), names, kind, count=5, seed=1)
    by_storm: dict[int, list[str]] = {}
    for inst in st.instances:
        by_storm.setdefault(int(inst.split("#")[0]), []).append(inst)
    assert len(by_storm) == 5
    for insts in by_storm.values():
        assert len(insts) == 2 and insts[0] != insts[1]
        gap = _first_start(st, insts[1]) - _first_start(st, insts[0])
        assert abs(gap - minutes * 60) <= 15


def test_mixed_storms_interleave_three_to_five_within_the_spread() -> None:
    """Kind `mixed5`: 3–5 scenarios (at most a half's worth) starting within 5 minutes of the storm's start."""
    scs, names = _scenarios(10)
    st = kind_storms(split_halves(scs, 1), names, "mixed5", count=6, seed=3)
    per: dict[str, list[str]] = {}
    for inst in st.instances:
        per.setdefault(inst.split("#")[0], []).append(inst)
    assert len(per) == 6
    for insts in per.values():
        assert 3 <= len(insts) <= 5
        starts = [_first_start(st, i) for i in insts]
        assert max(starts) - min(starts) <= 5 * 60 + 15


def test_shared_alert_belongs_to_the_scenario_that_fired_it_first() -> None:
    """Two scenarios of one storm with the same alert: one item, owned by the earlier scenario."""
    scs, names = _scenarios(2)
    st = kind_storms([scs, []], names, "apart", count=1, seed=1)
    front = [it for it in st.items if it.service == "frontend"]
    first = min(st.instances, key=lambda i: _first_start(st, i))
    assert len(front) == 1 and front[0].instance == first


def test_training_storms_come_only_from_the_training_half() -> None:
    """The learned rows' history: storms of every kind, all from the half given."""
    scs, names = _scenarios(8)
    a, _ = split_halves(scs, 1)
    tr = training_storms(a, names, count=2, seed=1)
    assert {i.split("#")[1] for i in tr.instances} <= {s.name for s in a}
    assert len({it.storm for it in tr.items}) == len(a) + 4 * 2


def _item(inst: str, service: str | None, minute: int, fold: int = 0) -> Item:
    t = BENCH_T0 + timedelta(minutes=minute)
    return Item(int(inst.split("#")[0]), inst, {"alertname": "X"}, t, t + timedelta(minutes=30), service, fold=fold)


def test_learned_ties_split_a_merged_incident_by_scenario() -> None:
    """An incident that joined two scenarios counts as two (a person split it); `seen` counts incidents where
    either service alerted."""
    items = [_item("0#a", "cart", 0), _item("0#a", "valkey-cart", 1), _item("0#b", "email", 2),
             _item("1#a", "cart", 0), _item("1#a", "valkey-cart", 1),
             _item("2#c", "cart", 0), _item("2#c", None, 1)]
    pred = ["i1", "i1", "i1", "i2", "i2", "i3", "i3"]
    ties = learn_ties(items, pred)
    assert set(ties) == {("cart", "valkey-cart")}  # email was in the merged incident, but from another scenario
    t = ties[("cart", "valkey-cart")]
    assert (t.together, t.seen) == (2, 3)
    assert t.strength == pytest.approx(2 / 3)


def test_hidden_counts_pairs_of_scenarios_with_the_same_main_incident() -> None:
    """Two scenarios whose alerts are mostly in one incident: one hidden pair; a third kept apart is not."""
    items = [_item("0#a", "x", 0), _item("0#a", "y", 1), _item("0#b", "z", 2), _item("0#b", "w", 3),
             _item("0#b", "v", 4), _item("0#c", "u", 5), _item("1#d", "x", 0)]
    st = Storms(items, {})
    pred = ["i1", "i1", "i1", "i1", "i9", "i2", "i3"]  # b: 2 of 3 in i1 (a's), c alone, storm 1 has one scenario
    h = hidden_scores(st, pred)
    assert (h["pairs"], h["hidden"], h["storms"], h["storms_hit"]) == (3, 1, 1, 1)
    assert h["rate"] == pytest.approx(1 / 3)
    assert hidden_scores(st, [it.instance for it in items])["hidden"] == 0


def test_root_accuracy_also_among_instances_whose_root_alerted() -> None:
    """Root service right over every scored instance, and over those whose true root has an alert at all."""
    items = [_item("0#a", "cart", 0), _item("0#a", "frontend", 1), _item("1#b", "frontend", 0),
             _item("2#c", "email", 0)]
    st = Storms(items, {"0#a": {"cart"}, "1#b": {"payment"}, "2#c": {"email"}})
    r = root_scores(st, ["i1", "i1", "i2", "i3"], {"i1": "cart", "i2": "frontend", "i3": "checkout"})
    assert (r["scored"], r["right"], r["reachable"], r["right_reachable"]) == (3, 1, 2, 1)
    assert r["accuracy"] == pytest.approx(1 / 3) and r["accuracy_reachable"] == pytest.approx(1 / 2)


def test_by_fold_runs_each_fold_alone_and_keeps_ids_apart() -> None:
    """A method run per fold sees only that fold's items; equal ids of two folds stay two clusters."""
    items = [_item("0#a", "x", 0, fold=0), _item("1#b", "y", 0, fold=1), _item("0#a", "z", 1, fold=0)]
    seen: list[tuple[int, int]] = []

    def run(its: Sequence[Item], fold: int) -> Result:
        seen.append((fold, len(its)))
        return ["g"] * len(its), {"g": its[0].service}

    pred, roots = by_fold(items, run)
    assert seen == [(0, 2), (1, 1)]
    assert pred == ["0/g", "1/g", "0/g"] and roots == {"0/g": "x", "1/g": "y"}


# --- the OpenTelemetry demo graph ---------------------------------------------------------------------------------

_SAMPLE = re.compile(r'^(\w+)\{([^}]*)\} (\S+) (\d+)$')


def test_openmetrics_text_is_counters_grouped_per_series() -> None:
    """The writer's text: TYPE lines, each series' samples together, timestamps every 15 s up to `end`, counters
    that never go down, and `# EOF` last."""
    end = 1_767_571_200
    text = openmetrics(end, minutes=10)
    lines = text.splitlines()
    assert lines[-1] == "# EOF" and text.endswith("\n")
    assert "# TYPE traces_service_graph_request counter" in lines
    assert "# TYPE istio_requests counter" in lines
    series: dict[str, list[tuple[int, float]]] = {}
    order: list[str] = []
    for line in lines:
        if line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        assert m, line
        key = f"{m.group(1)}{{{m.group(2)}}}"
        if not order or order[-1] != key:
            assert key not in series, f"{key} is split"
            order.append(key)
        series.setdefault(key, []).append((int(m.group(4)), float(m.group(3))))
    for key, pts in series.items():
        ts = [t for t, _ in pts]
        assert ts == list(range(end - 600, end + 1, 15)), key
        assert all(b >= a for (_, a), (_, b) in zip(pts, pts[1:], strict=False)), key
    requests = [k for k in series if k.startswith("traces_service_graph_request_total{")]
    assert len(requests) == len(OTEL_DEMO_EDGES)
    assert 'traces_service_graph_request_total{client="frontend",connection_type="",server="checkout"}' in series
    assert len([k for k in series if k.startswith("istio_requests_total{")]) == len(BOOKINFO_EDGES)
    assert all('reporter="source"' in k for k in series if k.startswith("istio"))


def test_demo_graph_is_the_published_architecture() -> None:
    """A few edges everyone who ran the demo knows, and the virtual caller `user` only as a client."""
    edges = {(c, s) for c, s, _ in OTEL_DEMO_EDGES}
    for e in [("frontend-proxy", "frontend"), ("frontend", "checkout"), ("checkout", "payment"),
              ("shipping", "quote"), ("cart", "valkey-cart"), ("checkout", "accounting")]:
        assert e in edges
    assert not any(s == "user" for _, s in edges)


def test_names_are_mapped_to_the_alerts_spelling() -> None:
    """Discovered names take the alerts' spelling; an Istio workload's version suffix goes unless the alerts name
    the versioned workload; unknown nodes keep their name; self-loops after mapping are dropped."""
    names = _Names()
    for n in ("product-catalog", "productpage-v1", "details", "reviews", "adservice", "ad", "ad"):
        names.add(n)
    known = _known(names)
    assert to_alert_name("productcatalog", known) == "product-catalog"
    assert to_alert_name("productcatalogservice", known) == "product-catalog"
    assert to_alert_name("productpage-v1", known) == "productpage-v1"
    assert to_alert_name("details-v1", known) == "details"
    assert to_alert_name("ad", known) == "ad"
    assert to_alert_name("llm", known) == "llm"
    assert demo_edges([("reviews-v2", "reviews-v1"), ("productpage-v1", "details-v1"),
                       ("productpage-v1", "details-v2")], known) == [("productpage-v1", "details")]


@pytest.mark.prometheus
def test_discovered_topology_reads_the_graph_back_from_a_real_prometheus() -> None:
    """The benchmark's discovered row: the written series in a real Prometheus, read back by the bot's discovery,
    every edge marked discovered and in the alerts' spelling."""
    from benchmarks.correlation import discover_topology
    from tests.realprom import require_binaries

    require_binaries()
    names = _Names()
    for n in ("frontend", "checkout", "productcatalog", "productpage-v1", "details"):
        names.add(n)
    topo, info = discover_topology(names)
    assert topo is not None
    assert set(topo.edges.values()) == {"discovered"}
    assert {("frontend", "checkout"), ("checkout", "productcatalog"), ("productpage-v1", "details")} <= set(topo.edges)
    assert not any("user" in e for e in topo.edges)
    assert info["raw_edges"] == len({(c, s) for c, s, _ in OTEL_DEMO_EDGES if c != "user"}) + len(BOOKINFO_EDGES)
