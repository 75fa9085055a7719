"""The incident memory's pure similarity: explained parts, and the properties a similarity must have."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from sre_bot.analysis.memory import Fingerprint, fingerprint_of, nearest, similarity, strength
from sre_bot.investigation import Investigation, RankedService
from sre_bot.models import Evidence, TimeRange

T0 = datetime(2026, 11, 3, 14, 0, tzinfo=timezone.utc)
WIN = TimeRange(start=T0 - timedelta(minutes=30), end=T0)

_keys = st.sampled_from(["db latency up", "db cpu up", "api errors up", "api latency up", "web rps down", "x y up"])
_sets = st.dictionaries(_keys, st.floats(0.05, 1.0), max_size=5)
_services = st.sampled_from(["db", "api", "web", "cart"])
fingerprints = st.builds(
    Fingerprint, suspects=st.lists(_services, max_size=3, unique=True).map(tuple),
    cause_kind=st.none() | st.sampled_from(["latency", "resource_saturation", "bad_deploy"]),
    signals=_sets, edges=_sets, logs=_sets, alerts=_sets, deploys=_sets)


@given(fingerprints, fingerprints)
def test_symmetric_and_bounded(a: Fingerprint, b: Fingerprint) -> None:
    """similarity(a, b) == similarity(b, a), always within [0, 1]."""
    ab, ba = similarity(a, b), similarity(b, a)
    assert ab.score == ba.score
    assert 0.0 <= ab.score <= 1.0


@given(fingerprints)
def test_identical_is_one(a: Fingerprint) -> None:
    """A fingerprint is fully similar to itself (and to its JSON round trip)."""
    assert similarity(a, a).score == 1.0
    assert similarity(a, Fingerprint.model_validate(a.model_dump(mode="json"))).score == 1.0


def _ev(what: str, service: str, **data: object) -> Evidence:
    return Evidence(id=f"ev-{what}-{service}-{sorted(data.items())!s:.60}", source="prometheus", kind=what,
                    label=f"{service} {what}", query="q", quote="q", service=service, data=dict(data))


def _inv(evidence: list[Evidence], ranking: list[tuple[str, str]]) -> Investigation:
    return Investigation(question="why is checkout slow?", summary="…", window=WIN, baseline=WIN,
                         evidence=evidence, ranking=[RankedService(service=s, score=0.5, confidence=0.5, cause=c,
                                                                   cause_kind=c) for s, c in ranking])


def test_fingerprint_of_an_investigation_and_the_words_it_gives() -> None:
    """Anomalies (with direction), edge findings, new log templates, firing alerts and deploys just before become
    the fingerprint; the explanation names what matched, part by part."""
    evidence = [
        _ev("anomaly", "payments-db", signal="connections", direction="up", z=30.0),
        _ev("anomaly", "payments-db", signal="latency", direction="up", z=12.0),
        _ev("anomaly", "checkout", signal="errors", direction="up", z=8.0),
        _ev("edge_anomaly", "checkout", client="checkout", server="payments-db", finding="latency", direction="up",
            z=9.0),
        _ev("log_shift", "payments-db", kind="new", template="pool exhausted after 30000 ms"),
        _ev("alert", "payments-db", alertname="DBConnectionPoolExhausted"),
        _ev("deploy", "checkout", deployed_at=(T0 - timedelta(minutes=20)).isoformat()),
        _ev("deploy", "checkout", deployed_at=(T0 - timedelta(days=3)).isoformat()),  # long before: not this one
    ]
    fp = fingerprint_of(_inv(evidence, [("payments-db", "resource_saturation"), ("checkout", "error_spike")]))
    assert fp.suspects == ("payments-db", "checkout") and fp.cause_kind == "resource_saturation"
    assert set(fp.signals) == {"payments-db connections up", "payments-db latency up", "checkout errors up"}
    assert fp.signals["payments-db connections up"] == 1.0 and fp.signals["checkout errors up"] < 1.0
    assert list(fp.edges) == ["checkout → payments-db latency up"]
    assert list(fp.logs) == ["payments-db: pool exhausted after <n> ms"]
    assert list(fp.alerts) == ["DBConnectionPoolExhausted on payments-db"] and list(fp.deploys) == ["checkout"]

    case = fp.confirmed("payments-db", "resource_saturation")
    today = fp.model_copy(update={"signals": {k: v for k, v in fp.signals.items() if k != "checkout errors up"}})
    s = similarity(case, today)
    assert 0.8 < s.score < 1.0
    because = s.because(limit=7)
    assert "same root service payments-db" in because
    assert "2 of 3 anomalous signals match: payments-db connections up, payments-db latency up" in because
    assert "alert DBConnectionPoolExhausted on payments-db in both" in because


def test_same_service_other_fault_scores_lower_than_a_recurrence() -> None:
    """A case of the same service with other symptoms is less similar than a recurrence of the same symptoms;
    a case of another service with nothing in common is near zero."""
    case = Fingerprint(suspects=("cart",), cause_kind="resource_saturation",
                       signals={"cart cpu up": 1.0, "cart latency up": 0.8, "web latency up": 0.6})
    again = Fingerprint(suspects=("cart", "web"), cause_kind="resource_saturation",
                        signals={"cart cpu up": 0.9, "cart latency up": 0.8, "web latency up": 0.5})
    other = Fingerprint(suspects=("cart", "web"), cause_kind="network",
                        edges={"web → cart network up": 1.0}, signals={"web latency up": 0.6})
    elsewhere = Fingerprint(suspects=("db",), cause_kind="latency", signals={"db latency up": 1.0})
    assert similarity(case, again).score > 0.85
    assert similarity(case, again).score > similarity(case, other).score > similarity(case, elsewhere).score
    assert similarity(case, elsewhere).score < 0.1
    assert "different root service (cart vs db)" in similarity(case, elsewhere).because(limit=9) or \
        similarity(case, elsewhere).because() == "nothing specific matched"


def test_nearest_orders_by_score_and_keeps_the_given_order_on_ties() -> None:
    """Closest first; equal scores keep the order given (newest first), at most k."""
    fp = Fingerprint(suspects=("cart",), signals={"cart cpu up": 1.0})
    same = Fingerprint(suspects=("cart",), signals={"cart cpu up": 1.0})
    half = Fingerprint(suspects=("cart",), signals={"cart cpu up": 1.0, "cart mem up": 1.0})
    far = Fingerprint(suspects=("db",), signals={"db cpu up": 1.0})
    got = nearest([("far", far), ("new", same), ("half", half), ("old", same)], fp, k=3)
    assert [name for name, _ in got] == ["new", "old", "half"]
    assert got[0][1].score == 1.0


def test_strength_is_log_scaled_and_bounded() -> None:
    """Weak changes count little, strong ones fully, unknown ones fully."""
    assert strength(None) == 1.0 and strength(float("inf")) == 1.0
    assert 0.05 <= strength(0.5) < strength(5) < strength(50) == 1.0
