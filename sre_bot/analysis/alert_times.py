"""Alert times far from the clock: which to set aside, and what to use instead. Pure: the clock comes in as the
time each alert was received (`AlertEvent.received_at`), never read here.

An alert's `startsAt` (and a resolved alert's `endsAt`) is the sender's claim. A Prometheus with a skewed clock, a
hand-written `POST /api/v2/alerts` or a bad template can claim a start hours ahead, on 9999-12-31, or before 1970
(Go's zero time is 0001-01-01). Taken at face value, one such time moves the correlator's notion of "now" and with
it which incidents are still open. So a time is set aside when it is

  - more than `max_clock_skew` (default 5m) after the moment the bot received the notification — nothing starts
    or resolves after the bot was told about it; or
  - at or before 1970-01-01 (the Unix epoch: no real alert started or ended then) —

and the receive time is used instead. The alert keeps a `SkewedTime` note (which field, what was claimed, what
was used), which the incident's message, thread, timeline and `sre-bot correlate` show. A time set aside is set
aside the same way when Alertmanager repeats the alert (every notification of its group carries it): the repeat
keeps the first replacement, so the incident does not creep forward with each repeat. Without a receive time
nothing is replaced (a library caller's alerts are taken at face value).

`replay_arrivals` gives a replay of captured files, which has no receive times, stand-ins from the capture itself
(its docstring says how).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

from .incident_model import AlertEvent, SkewedTime

__all__ = ["EPOCH", "checked_times", "replay_arrivals", "plus", "minus", "describe_gap"]

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MAX = datetime.max.replace(tzinfo=timezone.utc)
_MIN = datetime.min.replace(tzinfo=timezone.utc)


def plus(t: datetime, d: timedelta) -> datetime:
    """`t + d`, held at the largest time Python can represent instead of raising OverflowError."""
    try:
        return t + d
    except OverflowError:
        return _MAX if d > timedelta(0) else _MIN


def minus(t: datetime, d: timedelta) -> datetime:
    """`t - d`, held at the smallest (or largest) representable time instead of raising OverflowError."""
    try:
        return t - d
    except OverflowError:
        return _MIN if d > timedelta(0) else _MAX


def describe_gap(d: timedelta) -> str:
    """A coarse, readable length: '3 h 0 min', '2 days', 'about 7,974 years'."""
    s = abs(d.total_seconds())
    if s < 90:
        return f"{round(s)} s"
    if s < 90 * 60:
        return f"{round(s / 60)} min"
    if s < 48 * 3600:
        h, m = divmod(round(s / 60), 60)
        return f"{h} h {m} min" if m else f"{h} h"
    days = s / 86400
    if days < 730:
        return f"{round(days):,} days"
    return f"about {round(days / 365.2425):,} years"


def _why(which: str, claimed: datetime, received: datetime) -> str:
    if claimed <= EPOCH:
        return "is at or before 1970-01-01, not a real time"
    return f"is {describe_gap(claimed - received)} after its notification arrived"


def _check(which: str, claimed: datetime, received: datetime, tolerance: timedelta) -> SkewedTime | None:
    if claimed <= EPOCH or claimed > plus(received, tolerance):
        return SkewedTime(which=which, reported=claimed, used=received, why=_why(which, claimed, received))
    return None


def _reused(which: str, claimed: datetime | None, previous: AlertEvent | None) -> SkewedTime | None:
    if previous is None or claimed is None:
        return None
    return next((s for s in previous.skewed if s.which == which and s.reported == claimed), None)


def checked_times(alert: AlertEvent, *, tolerance: timedelta, previous: AlertEvent | None = None,
                  received_at: datetime | None = None) -> AlertEvent:
    """The alert with its start (and a resolved alert's end) replaced when far from when it was received (see the
    module docstring). `previous`: the last event of this alert, whose replacement a repeat keeps; `received_at`
    stands in for an alert without one (a restore of rows stored without it). Already checked: returned as is."""
    if alert.skewed:
        return alert
    received = alert.received_at or received_at
    fixes: list[SkewedTime] = []
    starts, ends = alert.starts_at, alert.ends_at
    fix = _reused("startsAt", starts, previous) or (
        _check("startsAt", starts, received, tolerance) if received is not None else None)
    if fix is not None:
        fixes.append(fix)
        starts = fix.used
    if alert.status == "resolved" and ends is not None:
        fix = _reused("endsAt", ends, previous) or (
            _check("endsAt", ends, received, tolerance) if received is not None else None)
        if fix is not None:
            fixes.append(fix)
            ends = fix.used
        ends = max(ends, starts)
    if not fixes:
        return alert
    return alert.model_copy(update={"starts_at": starts, "ends_at": ends, "skewed": fixes})


def replay_arrivals(events: Sequence[AlertEvent], *, horizon: timedelta) -> list[AlertEvent]:
    """Stand-in receive times for a replay of captured notifications, which carry none.

    The capture is its own clock. A time an alert claims (its start; a resolved alert's end too) is *corroborated*
    when it is after 1970 and another alert of the capture claims a time within `horizon` of it (the replay passes
    `max_incident_age` + `window`: how long the correlator keeps an incident joinable). The events are in the
    order they arrived (file after file, notification after notification); each one's stand-in receive time is the
    latest corroborated time of the events up to and including it — Alertmanager sends a notification after the
    changes it reports — or, before any, the capture's earliest corroborated time. A storm's own times corroborate
    each other, so they are never set aside; a start on 9999-12-31, three hours past the rest of the capture or
    before 1970 is set aside like a live one, at the replay's clock when that notification arrived. The cost of
    having no clock: an alert alone more than `horizon` after everything else in the capture cannot be told from
    a skewed one, and is treated as skewed (the output says so). A capture with no corroborated time at all (one
    alert) has no clock to go by: its times are taken as they are. Events that already have a receive time keep it.
    """
    claims: list[tuple[datetime, int]] = []  # (time, index of the event)
    for i, e in enumerate(events):
        if e.starts_at > EPOCH:
            claims.append((e.starts_at, i))
        if e.status == "resolved" and e.ends_at is not None and e.ends_at > EPOCH:
            claims.append((e.ends_at, i))
    claims.sort()
    fps = [events[i].fingerprint for _, i in claims]
    # the nearest claim of another alert on each side, in time order: one pass each way
    before: list[int | None] = [None] * len(claims)
    after: list[int | None] = [None] * len(claims)
    for n in range(1, len(claims)):
        before[n] = n - 1 if fps[n - 1] != fps[n] else before[n - 1]
    for n in range(len(claims) - 2, -1, -1):
        after[n] = n + 1 if fps[n + 1] != fps[n] else after[n + 1]
    corroborated: list[datetime | None] = [None] * len(events)  # the latest corroborated claim of each event
    for n, (t, i) in enumerate(claims):
        near = [claims[k][0] for k in (before[n], after[n]) if k is not None]
        if any(abs(t - other) <= horizon for other in near):
            seen = corroborated[i]
            corroborated[i] = t if seen is None or t > seen else seen
    known = [t for t in corroborated if t is not None]
    if not known:
        return list(events)
    clock = min(known)
    out = []
    for e, latest in zip(events, corroborated, strict=True):
        if latest is not None and latest > clock:
            clock = latest
        out.append(e if e.received_at is not None else e.model_copy(update={"received_at": clock}))
    return out
