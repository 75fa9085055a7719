"""The generated world: determinism, event shapes, pods, logs and alerts."""

from __future__ import annotations

from datetime import timedelta

from sre_bot.clock import frozen_clock
from sre_bot.sandbox import Scenario, World, parse_scenario
from sre_bot.sandbox.generate import fingerprint
from tests.sandbox._support import ANCHOR, NOW, fixture

MIN = 60.0


def _snapshot(w: World) -> tuple[list[float], list[tuple[int, str]]]:
    values = [w.value(s.name, sig, ANCHOR - k * 97.0) for s in w.services for sig in w.signals_of(s.name)
              for k in range(0, 200, 7)]
    names = [s.name for s in w.services]
    lines = [(ns, line) for ns, _labels, line in w.log_entries(names, ANCHOR - 30 * MIN, ANCHOR)]
    return values, lines


def test_same_seed_and_now_give_the_same_world(scenario: Scenario) -> None:
    """Two worlds from the same seed and now agree on every value and log line; another seed differs."""
    a, b = _snapshot(World(scenario, NOW)), _snapshot(World(scenario, NOW))
    assert a == b and len(a[1]) > 1000
    other = _snapshot(World(scenario.model_copy(update={"seed": scenario.seed + 1}), NOW))
    assert other[0] != a[0] and other[1] != a[1]


def test_log_lines_do_not_depend_on_the_window_asked(world: World) -> None:
    """A narrow window returns exactly the lines the wide window has there (buckets are generated whole)."""
    wide = [e for e in world.log_entries(["checkout"], ANCHOR - 30 * MIN, ANCHOR)]
    lo, hi = ANCHOR - 20 * MIN - 17.5, ANCHOR - 18 * MIN + 3.25
    narrow = list(world.log_entries(["checkout"], lo, hi))
    assert narrow == [e for e in wide if lo * 1e9 <= e[0] <= hi * 1e9] and narrow


def test_onset_ramp_is_visible(world: World) -> None:
    """checkout's error ratio is at baseline before the deploy, ramps over 3 minutes, then holds high."""
    curve = world._curves[("checkout", "error_ratio")]
    before, start, mid, end = (curve.clean(ANCHOR + m * MIN)[0] for m in (-30, -24, -22.5, -21))
    assert before == start == 0.003
    assert abs(mid - (0.003 + (0.16 - 0.003) / 2)) < 1e-9
    assert end == 0.16
    noisy_before = max(world.value("checkout", "error_ratio", ANCHOR - k * MIN) for k in range(30, 120))
    noisy_after = min(world.value("checkout", "error_ratio", ANCHOR - k * MIN) for k in range(0, 20))
    assert noisy_before < 0.01 < 0.08 < noisy_after


def test_saturation_and_healthy_services(world: World) -> None:
    """payments-db's pool pins at max_connections; catalog's error ratio stays at its baseline."""
    conns = [world.value("payments-db", "db_connections", ANCHOR - k * MIN) for k in range(0, 20)]
    assert all(195 <= c <= 200 for c in conns)
    catalog = [world.value("catalog", "error_ratio", ANCHOR - k * MIN) for k in range(0, 360)]
    assert max(catalog) < 0.005


def test_p99_never_below_p95_and_ratios_stay_in_range(world: World) -> None:
    """Generated latencies keep p99 above p95, and ratios stay within [0, 1]."""
    for svc in ("frontend", "checkout", "payments-api"):
        for k in range(0, 360, 3):
            t = ANCHOR - k * MIN
            assert world.value(svc, "latency_p99", t) >= world.value(svc, "latency_p95", t)
            assert 0 <= world.value(svc, "error_ratio", t) <= 1


def test_data_stops_at_the_clock_and_starts_at_retention(scenario: Scenario) -> None:
    """Samples exist from now - duration up to the clock, and keep coming as the clock advances."""
    later = NOW + timedelta(minutes=10)
    w = World(scenario, NOW, frozen_clock(later))
    pts = w.sample("checkout", "request_rate", ANCHOR - 7 * 3600, ANCHOR + 3600, 60)
    assert pts[0][0] == ANCHOR - 6 * 3600 and pts[-1][0] == later.timestamp()
    assert w.value("checkout", "error_ratio", later.timestamp()) > 0.08  # the incident is still in progress


def test_pods_change_with_the_deployed_revision(world: World) -> None:
    """checkout's pods after the bad deploy have a new ReplicaSet hash; logs come from the serving pods."""
    old, new = world.pods("checkout", ANCHOR - 30 * MIN), world.pods("checkout", ANCHOR)
    assert len(new) == 2 and set(old).isdisjoint(new)
    assert old[0].rsplit("-", 1)[0] != new[0].rsplit("-", 1)[0]
    recent = {labels["pod"] for _ns, labels, _line in world.log_entries(["checkout"], ANCHOR - 10 * MIN, ANCHOR)}
    assert recent <= set(new)


def test_new_error_templates_start_at_onset(world: World) -> None:
    """The pool-exhaustion and timeout lines appear only from the incident onset on."""
    def count(svc: str, text: str, lo: float, hi: float) -> int:
        return sum(text in line for _ns, _l, line in world.log_entries([svc], ANCHOR + lo * MIN, ANCHOR + hi * MIN))

    pool = "could not obtain connection from pool within 5000ms"
    assert count("payments-api", pool, -120, -24) == 0 and count("payments-api", pool, -24, 0) > 1000
    assert count("checkout", "timeout calling payments-api", -120, -24) == 0
    assert count("checkout", "timeout calling payments-api", -24, 0) > 500
    assert count("checkout", "starting checkout service", -26, -23) > 0


def test_alerts_at_now(world: World) -> None:
    """Firing alerts are those started and not resolved; silenced and inhibited ones are suppressed."""
    alerts = {(a.labels["alertname"], a.labels["service"]): a for a in world.alerts()}
    assert ("KubePodCrashLooping", "cart") not in alerts  # resolved 4h ago
    assert alerts[("HighErrorRate", "checkout")].state == "active"
    assert alerts[("CatalogCacheHitRateLow", "catalog")].silenced_by
    budget = alerts[("PaymentsErrorBudgetBurn", "payments-api")]
    assert budget.inhibited_by == [alerts[("DBConnectionPoolExhausted", "payments-db")].fingerprint]
    assert [a.fingerprint for a in world.alerts()] == sorted(a.fingerprint for a in alerts.values())
    assert [a.labels["alertname"] for a in world.alerts(ANCHOR - 22 * MIN)] == ["CatalogCacheHitRateLow"]


def test_fingerprints_match_alertmanager() -> None:
    """Fingerprints are computed exactly as Alertmanager computes them (checked on real captured alerts)."""
    real = fixture("alertmanager", "api_v2_alerts_GET.json")
    assert real and all(fingerprint(a["labels"]) == a["fingerprint"] for a in real)


def test_up_goes_down_with_an_event() -> None:
    """An `up` event takes a service's target down for the span of the episode, then back up."""
    sc = parse_scenario({"name": "outage", "duration": "1h", "services": [{"name": "web", "signals": {
        "up": {"level": 1, "noise": 0, "events": [{"at": "-20m", "until": "-10m", "set": 0}]}}}]})
    w = World(sc, NOW)
    assert [w.value("web", "up", ANCHOR + m * MIN) for m in (-30, -15, -5)] == [1.0, 0.0, 1.0]
