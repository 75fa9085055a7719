"""A scenario's alerts as the webhook notifications Alertmanager would send for them (version 4), in time order.

Alerts are grouped by `group_by` (Alertmanager's default route here: `alertname`, `namespace`). Every time an
alert of a group starts or ends, that group sends one notification holding its firing alerts and the ones that
just resolved (each resolved alert is sent once, then dropped, as `send_resolved: true` does). Group labels,
`commonLabels`, `groupKey` (`{}:{alertname="X", namespace="shop"}`) and fingerprints are Alertmanager's.
Used by tests and the webhook benchmark to replay a storm against `POST /alertmanager`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from .generate import World, fingerprint
from .scenario import AlertSpec

__all__ = ["notifications", "GO_ZERO_TIME"]

GO_ZERO_TIME = "0001-01-01T00:00:00Z"


def _rfc3339(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _group_key(group: dict[str, str]) -> str:
    return "{}:{" + ", ".join(f'{k}="{v}"' for k, v in sorted(group.items())) + "}"


def _common(maps: Sequence[dict[str, str]]) -> dict[str, str]:
    if not maps:
        return {}
    first = maps[0]
    return {k: v for k, v in first.items() if all(m.get(k) == v for m in maps[1:])}


def notifications(world: World, *, until: float | None = None, group_by: Sequence[str] = ("alertname", "namespace"),
                  receiver: str = "sre-bot", external_url: str = "http://alertmanager.sandbox:9093",
                  ) -> list[tuple[float, dict[str, Any]]]:
    """`(time, webhook body)` for every change up to `until` (default: the scenario's now), oldest first."""
    until = world.now() if until is None else until
    events: list[tuple[float, int, AlertSpec]] = []
    for spec in world.scenario.alerts:
        starts = world.anchor + spec.starts.total_seconds()
        if starts <= until:
            events.append((starts, 0, spec))
        if spec.ends is not None and (ends := world.anchor + spec.ends.total_seconds()) <= until:
            events.append((ends, 1, spec))
    events.sort(key=lambda e: (e[0], e[1]))
    firing: dict[tuple[tuple[str, str], ...], dict[str, tuple[AlertSpec, dict[str, str], float]]] = {}
    out: list[tuple[float, dict[str, Any]]] = []
    i = 0
    while i < len(events):
        t = events[i][0]
        changed: dict[tuple[tuple[str, str], ...], list[tuple[AlertSpec, dict[str, str], float, float]]] = {}
        while i < len(events) and events[i][0] == t:
            _, kind, spec = events[i]
            labels = world.alert_labels(spec)
            gkey = tuple((k, labels.get(k, "")) for k in group_by)
            group = firing.setdefault(gkey, {})
            fp = fingerprint(labels)
            resolved = changed.setdefault(gkey, [])
            if kind == 0:
                group[fp] = (spec, labels, t)
            elif fp in group:
                spec0, labels0, starts0 = group.pop(fp)
                resolved.append((spec0, labels0, starts0, t))
            i += 1
        for gkey, resolved in changed.items():
            alerts = [_alert(spec, labels, starts, None) for spec, labels, starts in firing[gkey].values()]
            alerts += [_alert(spec, labels, starts, ends) for spec, labels, starts, ends in resolved]
            if not alerts:
                continue
            group_labels = {k: v for k, v in gkey if v}
            out.append((t, {
                "receiver": receiver,
                "status": "firing" if any(a["status"] == "firing" for a in alerts) else "resolved",
                "alerts": alerts, "groupLabels": group_labels,
                "commonLabels": _common([a["labels"] for a in alerts]),
                "commonAnnotations": _common([a["annotations"] for a in alerts]),
                "externalURL": external_url, "version": "4", "groupKey": _group_key(group_labels), "truncatedAlerts": 0,
            }))
    return out


def _alert(spec: AlertSpec, labels: dict[str, str], starts: float, ends: float | None) -> dict[str, Any]:
    return {
        "status": "firing" if ends is None else "resolved",
        "labels": dict(sorted(labels.items())),
        "annotations": dict(sorted(spec.annotations.items())),
        "startsAt": _rfc3339(starts),
        "endsAt": GO_ZERO_TIME if ends is None else _rfc3339(ends),
        "generatorURL": f"http://prometheus.sandbox:9090/graph?g0.expr={spec.alertname}&g0.tab=1",
        "fingerprint": fingerprint(labels),
    }
