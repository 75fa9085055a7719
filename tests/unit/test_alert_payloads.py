"""Alertmanager payloads: the captured webhook v4 bodies and API v2 alerts parse; bad input says exactly what."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from sre_bot.alert_payloads import (
    fingerprint,
    load_alert_files,
    parse_alerts,
    parse_alerts_json,
    parse_api_alerts,
    parse_webhook,
)
from sre_bot.errors import UsageError

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "alertmanager"
START = datetime(2026, 11, 21, 5, 57, 9, tzinfo=timezone.utc)

pytestmark = pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"{FIXTURES} not present")


def load(name: str) -> object:
    return json.loads((FIXTURES / name).read_text())


def test_firing_webhook_body():
    """The crash-loop body: one firing alert with its group key, no end time (Go's zero time)."""
    msg = parse_webhook(load("webhook_v4_01_firing_crashloop.json"))
    assert msg.version == "4" and msg.receiver == "sre-bot" and msg.status == "firing"
    assert msg.group_key == '{}:{alertname="KubePodCrashLooping", namespace="shop"}'
    assert msg.common_labels["pod"] == "payment-7d9f8b6c5-x2k4q" and msg.truncated_alerts == 0
    [a] = msg.alerts
    assert a.fingerprint == "2eb2ddd1492c29c3" and a.status == "firing" and a.ends_at is None
    assert a.starts_at == START and a.group_key == msg.group_key and a.name == "KubePodCrashLooping"
    assert a.severity == "warning" and a.generator_url.startswith("http://prometheus.example.local:9090/")


def test_partially_resolved_and_resolved_bodies():
    """One body mixes firing and resolved alerts; the resolved one keeps its end time."""
    alerts = parse_webhook(load("webhook_v4_03_firing_partial_resolved.json")).alerts
    assert [(a.fingerprint, a.status) for a in alerts] == [("3614f7f0f1d913d7", "firing"),
                                                             ("68dcafe21791d75f", "resolved")]
    assert alerts[1].ends_at == datetime(2026, 11, 21, 5, 57, 16, tzinfo=timezone.utc)
    resolved = parse_webhook(load("webhook_v4_04_resolved_higherrorrate.json"))
    assert resolved.status == "resolved" and {a.status for a in resolved.alerts} == {"resolved"}


def test_api_v2_alerts_are_firing_without_the_predicted_end():
    """GET /api/v2/alerts: state active means firing; the predicted endsAt is dropped; no group key."""
    alerts = parse_api_alerts(load("api_v2_alerts_GET.json"))
    assert [a.fingerprint for a in alerts] == ["2eb2ddd1492c29c3", "3614f7f0f1d913d7", "68dcafe21791d75f"]
    assert all(a.status == "firing" and a.ends_at is None and a.group_key is None for a in alerts)
    assert alerts[0].starts_at == START  # ".000Z" fractions parse


def test_posted_alerts_get_alertmanagers_own_fingerprint():
    """Alerts as Prometheus posts them have no fingerprint: the computed one equals Alertmanager's."""
    posted = parse_alerts(load("alerts_posted.json"))
    api = {a.fingerprint: a.labels for a in parse_api_alerts(load("api_v2_alerts_GET.json"))}
    assert {a.fingerprint for a in posted} == set(api)
    for fp, labels in api.items():
        assert fingerprint(labels) == fp


def test_a_list_of_webhook_bodies_keeps_their_order():
    """A capture of five notifications: every alert event, body after body."""
    bodies = [load(p.name) for p in sorted(FIXTURES.glob("webhook_v4_*.json"))]
    events = parse_alerts(bodies, source="capture")
    assert len(events) == 8 and events[-1].status == "resolved" and events[0].name == "KubePodCrashLooping"


def test_files_load_each_shape(tmp_path):
    """load_alert_files reads a body, a list of bodies and a list of API alerts."""
    bodies = tmp_path / "bodies.json"
    bodies.write_text(json.dumps([load("webhook_v4_01_firing_crashloop.json"),
                                  load("webhook_v4_05_resolved_crashloop.json")]))
    events = load_alert_files([FIXTURES / "webhook_v4_02_firing_higherrorrate_2alerts.json", bodies,
                               FIXTURES / "api_v2_alerts_GET.json"])
    assert len(events) == 2 + 2 + 3


def test_nanosecond_times_and_offsets_parse():
    """Go prints up to nine fraction digits and may use an offset: both become UTC datetimes."""
    [a] = parse_api_alerts([{"labels": {"alertname": "X"}, "startsAt": "2026-11-21T07:57:09.123456789+02:00"}])
    assert a.starts_at == datetime(2026, 11, 21, 5, 57, 9, 123456, tzinfo=timezone.utc)


def _body(**over: object) -> dict:
    body = load("webhook_v4_02_firing_higherrorrate_2alerts.json")
    body.update(over)
    return body


@pytest.mark.parametrize("data, needle", [
    (_body(version="3"), "input: unsupported webhook version '3'"),
    ({"alerts": []}, "missing `version`"),
    (_body(alerts={"a": 1}), "input.alerts: must be a list"),
    (_body(alerts=[{"status": "firing", "labels": {"a": "b"}, "startsAt": "yesterday"}]),
     "input.alerts[0].startsAt: not an RFC 3339 time: 'yesterday'"),
    (_body(alerts=[{"status": "firing", "labels": {"a": "b"}}]), "input.alerts[0].startsAt: is missing"),
    (_body(alerts=[{"status": "pending", "labels": {"a": "b"}, "startsAt": "2026-11-21T05:57:09Z"}]),
     "input.alerts[0].status: must be firing or resolved, got 'pending'"),
    (_body(alerts=[{"status": "firing", "labels": {"a": 1}, "startsAt": "2026-11-21T05:57:09Z"}]),
     "input.alerts[0].labels.a: must be a string"),
    (_body(alerts=[{"status": "firing", "labels": {}, "startsAt": "2026-11-21T05:57:09Z"}]),
     "input.alerts[0].labels: is empty"),
    (_body(alerts=["x"]), "input.alerts[0]: must be an object"),
    (_body(truncatedAlerts=-1), "input.truncatedAlerts"),
    ([{"labels": {"a": "b"}, "startsAt": "2026-11-21T05:57:09Z"}, {"startsAt": "2026-11-21T05:57:09Z"}],
     "input[1].labels: must be an object"),
    ([{"labels": {"a": "b"}, "startsAt": "2026-11-21T05:57:09Z", "status": {"state": "gone"}}],
     "input[0].status.state: must be active, suppressed or unprocessed, got 'gone'"),
    ([load("webhook_v4_01_firing_crashloop.json"), _body(version="5")], "input[1]: unsupported webhook version"),
    ([{"foo": 1}], "input[0]: neither a webhook body"),
    ("text", "expected a webhook body (object), a list of webhook bodies or a list of alerts, got str"),
])
def test_bad_input_names_the_field(data, needle):
    """Each malformed payload raises UsageError naming where and why."""
    with pytest.raises(UsageError) as e:
        parse_alerts(data)
    assert needle in str(e.value)


def test_bad_json_and_missing_files(tmp_path):
    """Invalid JSON names the line and column; a missing file or a directory says so."""
    with pytest.raises(UsageError, match=r"x.json: not valid JSON at line 1 column 3"):
        parse_alerts_json("[{", source="x.json")
    with pytest.raises(UsageError, match="no such file"):
        load_alert_files([tmp_path / "nope.json"])
    with pytest.raises(UsageError, match="is a directory"):
        load_alert_files([tmp_path])
    assert parse_alerts([]) == []
