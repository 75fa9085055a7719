"""The topology correlation works on, with each edge's source (sre_bot/analysis/topology.py)."""

from __future__ import annotations

from sre_bot.analysis.topology import Tie, Topology


def test_config_wins_over_discovered_and_sources_read_both_ways() -> None:
    topo = Topology.build(config={"checkout": ["payments-api"], "self": ["self"]},
                          discovered=[("frontend", "checkout"), ("checkout", "payments-api"), ("x", "x")],
                          groups={"payments-api": "payments", "payments-db": "payments"},
                          ties={("redis", "cart"): Tie(together=7, seen=9)})
    assert topo.depends_on() == {"checkout": ["payments-api"], "frontend": ["checkout"], "payments-api": []}
    assert topo.source("checkout", "payments-api") == "config" and topo.source("checkout", "frontend") == "discovered"
    assert topo.source("frontend", "payments-api") is None
    assert topo.tie("redis", "cart") == topo.tie("cart", "redis") and topo.tie("cart", "redis").strength == 7 / 9
    assert topo.group_of("payments-db") == "payments" and topo.group_of("cart") is None
    assert topo.services() == ["cart", "checkout", "frontend", "payments-api", "payments-db", "redis"]
    lines = topo.describe()
    assert "checkout → payments-api  (configured depends_on)" in lines
    assert "frontend → checkout  (discovered from call-graph metrics)" in lines
    assert "group payments: payments-api, payments-db  (Argo CD application)" in lines
    assert "cart ~ redis  (alerted together in 7 of 9 past incidents)" in lines
    assert Tie(0, 0).strength == 0.0
