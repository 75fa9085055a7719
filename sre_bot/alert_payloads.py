"""Alertmanager payloads → typed alerts (`AlertEvent`), with a precise reason when the input is unusable.

Three shapes are accepted (`parse_alerts` tells them apart):

- a webhook body, version 4: `{"version": "4", "groupKey": …, "status": …, "alerts": [{status, labels,
  annotations, startsAt, endsAt, generatorURL, fingerprint}], "groupLabels", "commonLabels", …}`;
- a JSON list of such bodies (a capture of several notifications, in the order they arrived);
- a JSON list of alerts as `GET /api/v2/alerts` returns them (`fingerprint`, `status.state`: active, suppressed
  and unprocessed all mean firing) — or as Prometheus posts them to `POST /api/v2/alerts` (no fingerprint, no
  status: firing).

An alert's fingerprint is always computed exactly as Alertmanager computes it (`model.LabelSet.Fingerprint` in
prometheus/common, `labelSetToFingerprint`): 64-bit FNV-1a over the label names in sorted order, each name and
value followed by the byte 0xff, printed as 16 hex digits — so a posted alert gets the id Alertmanager would give
it, and a supplied fingerprint is never trusted: one that does not match its labels (a sender's own id, or a copy
of another alert's) is replaced by the computed one, and two label sets that share a fingerprint in one payload (a
true FNV collision) are told apart by giving the second a fingerprint from a stronger hash. So every alert keeps
its own identity and reaches an incident; each such change is described in `WebhookMessage.notes`. Go's zero time
(`0001-01-01T00:00:00Z`, a firing alert's `endsAt` in a webhook) means "no end". A firing alert keeps no `ends_at`
(the API's is only a predicted expiry). Every error is a `UsageError` naming the source, the index and the field.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .analysis.correlation import AlertEvent
from .errors import UsageError

__all__ = ["WebhookMessage", "parse_webhook", "parse_api_alerts", "parse_alerts", "parse_alerts_json",
           "load_alert_files", "fingerprint"]

_FNV_OFFSET = 14695981039346656037
_FNV_PRIME = 1099511628211
_MASK = 0xFFFFFFFFFFFFFFFF
_FRACTION = re.compile(r"(\.\d{6})\d+")
_API_FIRING = {"active", "suppressed", "unprocessed"}
_SURROGATE = re.compile("[\ud800-\udfff]")


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: Go's JSON decoder would have made it U+FFFD
        return _SURROGATE.sub("\ufffd", text).encode("utf-8")


def fingerprint(labels: Mapping[str, str]) -> str:
    """Alertmanager's fingerprint of a label set (FNV-1a 64 over sorted names and values, 0xff separated).

    Remembered for the last `_FINGERPRINTS` label sets: Alertmanager sends the same alerts again and again (every
    group and repeat interval), and the incident processor parses each stored body once more."""
    key = tuple(sorted(labels.items()))
    return _fingerprint(key)


_FINGERPRINTS = 2**14


@functools.lru_cache(maxsize=_FINGERPRINTS)
def _fingerprint(items: tuple[tuple[str, str], ...]) -> str:
    h = _FNV_OFFSET
    for item in items:  # sorted by name
        for part in item:
            for b in _utf8(part):
                h = ((h ^ b) * _FNV_PRIME) & _MASK
            h = ((h ^ 0xFF) * _FNV_PRIME) & _MASK
    return f"{h:016x}"


def _strong_fingerprint(labels: Mapping[str, str]) -> str:
    """16 hex digits of BLAKE2b over the sorted label set: an id for a label set whose FNV fingerprint clashes."""
    digest = hashlib.blake2b(digest_size=8, person=b"sre-bot-labels")
    for name in sorted(labels):
        digest.update(_utf8(name) + b"\xff" + _utf8(labels[name]) + b"\xff")
    return digest.hexdigest()


@dataclass(frozen=True)
class WebhookMessage:
    """One webhook notification: the group it describes and its alerts."""

    version: str
    group_key: str | None
    receiver: str | None
    status: str | None
    alerts: list[AlertEvent]
    group_labels: dict[str, str] = field(default_factory=dict)
    common_labels: dict[str, str] = field(default_factory=dict)
    common_annotations: dict[str, str] = field(default_factory=dict)
    external_url: str | None = None
    truncated_alerts: int = 0
    notes: tuple[str, ...] = ()  # what was changed to keep every alert apart (fingerprints), for the log


def _fail(where: str, message: str) -> UsageError:
    return UsageError(f"{where}: {message}")


def _str_map(value: Any, where: str, *, required: bool = False) -> dict[str, str]:
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise _fail(where, f"must be an object of strings, got {type(value).__name__}")
    for k, v in value.items():
        if not isinstance(v, str):
            raise _fail(f"{where}.{k}", f"must be a string, got {type(v).__name__}")
    return dict(value)


def _opt_str(value: Any, where: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _fail(where, f"must be a string, got {type(value).__name__}")
    return value


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _time(value: Any, where: str, *, required: bool) -> datetime | None:
    if value is None or value == "":
        if required:
            raise _fail(where, "is missing")
        return None
    if not isinstance(value, str):
        raise _fail(where, f"must be an RFC 3339 time string, got {type(value).__name__}")
    text = _FRACTION.sub(r"\1", value.strip()).replace("z", "Z").replace("Z", "+00:00")
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise _fail(where, f"not an RFC 3339 time: {value!r}") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    if t.year <= 1:  # Go's zero time: no value
        if required:
            raise _fail(where, f"is the zero time {value!r}")
        return None
    return t.astimezone(timezone.utc)


def _alert(raw: Any, where: str, *, status: str | None, group_key: str | None, received_at: datetime | None,
           notes: list[str]) -> AlertEvent:
    if not isinstance(raw, dict):
        raise _fail(where, f"must be an object, got {type(raw).__name__}")
    labels = _str_map(raw.get("labels"), f"{where}.labels", required=True)
    if not labels:
        raise _fail(f"{where}.labels", "is empty: an alert needs at least one label")
    supplied = _opt_str(raw.get("fingerprint"), f"{where}.fingerprint")
    fp = fingerprint(labels)
    if supplied is not None and supplied.lower() != fp:
        notes.append(f"{where}.fingerprint {supplied[:40]!r} does not match its labels: the bot uses {fp}, "
                     "Alertmanager's fingerprint of those labels")
    starts = _time(raw.get("startsAt"), f"{where}.startsAt", required=False)
    if starts is None:
        if raw.get("startsAt") in (None, ""):
            raise _fail(f"{where}.startsAt", "is missing")
        # Go's zero time: a sender's bug, not a reason to drop every other alert of the body. The receive time
        # stands in (the epoch when there is none, which the correlator sets aside as a clock far off, like any
        # time before 1970), and the note says so.
        starts = received_at or _EPOCH
        notes.append(f"{where}.startsAt is the zero time {raw.get('startsAt')!r}: the bot uses "
                     f"{'the time it received the notification' if received_at else 'the epoch'}")
    ends = _time(raw.get("endsAt"), f"{where}.endsAt", required=False)
    if status not in ("firing", "resolved"):
        raise _fail(f"{where}.status", f"must be firing or resolved, got {status!r}")
    return AlertEvent(
        fingerprint=fp, labels=labels, annotations=_str_map(raw.get("annotations"), f"{where}.annotations"),
        status=status, starts_at=starts, ends_at=ends if status == "resolved" else None,
        generator_url=_opt_str(raw.get("generatorURL"), f"{where}.generatorURL"), group_key=group_key,
        received_at=received_at)


def _keep_apart(events: list[AlertEvent], where: str, notes: list[str]) -> list[AlertEvent]:
    """One fingerprint for two label sets (an FNV-1a collision): every label set after the first gets its own id."""
    first: dict[str, dict[str, str]] = {}
    out = []
    for i, ev in enumerate(events):
        labels = first.setdefault(ev.fingerprint, ev.labels)
        if labels != ev.labels:
            strong = _strong_fingerprint(ev.labels)
            notes.append(f"{where}[{i}]: its labels and those of another alert here share the fingerprint "
                         f"{ev.fingerprint}; this one is kept apart as {strong}")
            ev = ev.model_copy(update={"fingerprint": strong})
        out.append(ev)
    return out


def parse_webhook(body: Any, *, where: str = "body", received_at: datetime | None = None) -> WebhookMessage:
    """A webhook v4 body (already decoded from JSON)."""
    if not isinstance(body, dict):
        raise _fail(where, f"a webhook body must be a JSON object, got {type(body).__name__}")
    version = body.get("version")
    if version is None:
        raise _fail(where, "missing `version` (Alertmanager webhook bodies carry \"version\": \"4\")")
    if version != "4":
        raise _fail(where, f"unsupported webhook version {version!r} (only \"4\" is understood)")
    alerts = body.get("alerts")
    if not isinstance(alerts, list):
        raise _fail(f"{where}.alerts", "must be a list" if alerts is not None else "is missing")
    group_key = _opt_str(body.get("groupKey"), f"{where}.groupKey")
    events = []
    notes: list[str] = []
    for i, raw in enumerate(alerts):
        w = f"{where}.alerts[{i}]"
        status = raw.get("status") if isinstance(raw, dict) else None
        events.append(_alert(raw, w, status=status, group_key=group_key, received_at=received_at, notes=notes))
    events = _keep_apart(events, f"{where}.alerts", notes)
    truncated = body.get("truncatedAlerts", 0)
    if not isinstance(truncated, int) or isinstance(truncated, bool) or truncated < 0:
        raise _fail(f"{where}.truncatedAlerts", f"must be a non-negative integer, got {truncated!r}")
    return WebhookMessage(
        version=version, group_key=group_key, receiver=_opt_str(body.get("receiver"), f"{where}.receiver"),
        status=_opt_str(body.get("status"), f"{where}.status"), alerts=events,
        group_labels=_str_map(body.get("groupLabels"), f"{where}.groupLabels"),
        common_labels=_str_map(body.get("commonLabels"), f"{where}.commonLabels"),
        common_annotations=_str_map(body.get("commonAnnotations"), f"{where}.commonAnnotations"),
        external_url=_opt_str(body.get("externalURL"), f"{where}.externalURL"), truncated_alerts=truncated,
        notes=tuple(notes))


def parse_api_alerts(items: Any, *, where: str = "alerts",
                     received_at: datetime | None = None) -> list[AlertEvent]:
    """A list of alerts as the v2 API returns (GET) or takes (POST) them."""
    if not isinstance(items, list):
        raise _fail(where, f"must be a list of alerts, got {type(items).__name__}")
    out = []
    notes: list[str] = []
    for i, raw in enumerate(items):
        w = f"{where}[{i}]"
        status = "firing"
        if isinstance(raw, dict) and raw.get("status") is not None:
            st = raw["status"]
            state = st.get("state") if isinstance(st, dict) else st
            if state in _API_FIRING or state == "firing":
                status = "firing"
            elif state == "resolved":
                status = "resolved"
            else:
                raise _fail(f"{w}.status.state", f"must be active, suppressed or unprocessed, got {state!r}")
        out.append(_alert(raw, w, status=status, group_key=None, received_at=received_at, notes=notes))
    return _keep_apart(out, where, notes)


def parse_alerts(data: Any, *, source: str = "input", received_at: datetime | None = None) -> list[AlertEvent]:
    """Any accepted shape (see the module docstring), decoded from JSON, as events in the order given."""
    if isinstance(data, dict):
        return parse_webhook(data, where=source, received_at=received_at).alerts
    if not isinstance(data, list):
        raise _fail(source, "expected a webhook body (object), a list of webhook bodies or a list of alerts, "
                            f"got {type(data).__name__}")
    if not data:
        return []
    first = data[0]
    if isinstance(first, dict) and ("version" in first or "groupKey" in first):
        out: list[AlertEvent] = []
        for i, body in enumerate(data):
            out.extend(parse_webhook(body, where=f"{source}[{i}]", received_at=received_at).alerts)
        return out
    if isinstance(first, dict) and "labels" in first:
        return parse_api_alerts(data, where=source, received_at=received_at)
    raise _fail(f"{source}[0]", "neither a webhook body (no `version`) nor an alert (no `labels`)")


def parse_alerts_json(text: str | bytes, *, source: str = "input",
                      received_at: datetime | None = None) -> list[AlertEvent]:
    """Decode JSON text, then `parse_alerts`."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        where = f" at line {e.lineno} column {e.colno}" if isinstance(e, json.JSONDecodeError) else ""
        raise _fail(source, f"not valid JSON{where}: {e.msg if isinstance(e, json.JSONDecodeError) else e}") \
            from None
    return parse_alerts(data, source=source, received_at=received_at)


def load_alert_files(paths: Sequence[str | Path]) -> list[AlertEvent]:
    """Every alert event of the files, file after file, in the order each file gives them."""
    out: list[AlertEvent] = []
    for p in paths:
        path = Path(p)
        try:
            text = path.read_bytes()
        except FileNotFoundError:
            raise UsageError(f"{path}: no such file") from None
        except IsADirectoryError:
            raise UsageError(f"{path}: is a directory, not a JSON file") from None
        except OSError as e:
            raise UsageError(f"{path}: cannot read it: {e.strerror or e}") from None
        out.extend(parse_alerts_json(text, source=str(path)))
    return out
