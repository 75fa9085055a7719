"""Time windows people type: `30m`, `2h`, `1h30m`, `1d`, `since 14:05`, `since 2026-11-21T14:05Z`.

Pure: `now` is always passed in. Times without a zone are UTC (the bot's answers are all in UTC).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import dateparser

from .errors import UsageError
from .models import TimeRange

__all__ = ["duration_field", "parse_duration", "parse_time", "parse_window", "looks_like_window", "format_duration", "format_ago",
           "MAX_WINDOW"]

MAX_WINDOW = timedelta(days=31)
_DURATION_RE = re.compile(r"^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_UNITS = ("weeks", "days", "hours", "minutes", "seconds")
_WINDOW_HINT = "use a duration like 30m, 2h, 1d or `since 14:05`"


def parse_duration(text: str) -> timedelta:
    """`1h30m` -> 1:30:00. Prometheus-style units w, d, h, m, s."""
    t = text.strip().lower()
    m = _DURATION_RE.match(t)
    if not t or not m or not any(m.groups()):
        raise UsageError(f"`{text}` is not a duration: {_WINDOW_HINT}")
    d = timedelta(**{u: int(g) for u, g in zip(_UNITS, m.groups()) if g})
    if d <= timedelta(0):
        raise UsageError(f"`{text}` is an empty window: {_WINDOW_HINT}")
    return d


def duration_field(v: str) -> str:
    """A pydantic validator body: `v` unchanged when it is a duration, else ValueError with the reason."""
    try:
        parse_duration(v)
    except UsageError as e:
        raise ValueError(str(e)) from None
    return v


def parse_time(text: str, *, now: datetime) -> datetime:
    """An absolute or relative time: ISO 8601, Unix seconds, `14:05`, `yesterday 04:02`, `2 hours ago`.

    A bare clock time later than `now` means that time yesterday (people ask about the past)."""
    t = text.strip()
    if not t:
        raise UsageError("empty time")
    if re.fullmatch(r"\d{9,11}(\.\d+)?", t):
        return datetime.fromtimestamp(float(t), tz=timezone.utc)
    try:
        iso = datetime.fromisoformat(t.replace("Z", "+00:00"))
        return iso if iso.tzinfo else iso.replace(tzinfo=timezone.utc)
    except ValueError:
        pass
    parsed = dateparser.parse(
        t,
        settings={
            "RELATIVE_BASE": now.astimezone(timezone.utc).replace(tzinfo=None),
            "TIMEZONE": "UTC",
            "TO_TIMEZONE": "UTC",
            "RETURN_AS_TIMEZONE_AWARE": True,
            "PREFER_DATES_FROM": "past",
        },
        languages=["en"],
    )
    if parsed is None:
        raise UsageError(f"`{text}` is not a time I understand: try 14:05, 2026-11-21T14:05Z or `2 hours ago`")
    parsed = parsed.astimezone(timezone.utc)
    if parsed > now and re.fullmatch(r"\d{1,2}:\d{2}(\s*utc)?", t.lower()):
        parsed -= timedelta(days=1)
    return parsed


def parse_window(text: str | None, *, now: datetime, default: timedelta = timedelta(hours=1)) -> TimeRange:
    """A window ending now: a duration (`30m`) or `since <time>`."""
    if text is None or not text.strip():
        return TimeRange.ending(now, default)
    t = text.strip()
    if t.lower().startswith("since "):
        start = parse_time(t[6:], now=now)
        if start >= now:
            raise UsageError(f"`{t}` is in the future: the window must start before now")
        window = TimeRange(start=start, end=now)
    else:
        window = TimeRange.ending(now, parse_duration(t))
    if window.duration > MAX_WINDOW:
        raise UsageError(f"`{t}` is longer than {MAX_WINDOW.days} days: narrow the window")
    return window


def looks_like_window(token: str) -> bool:
    t = token.strip().lower()
    return bool(t) and (t.startswith("since ") or bool(_DURATION_RE.match(t) and any(_DURATION_RE.match(t).groups())))


def format_ago(now: datetime, t: datetime) -> str:
    """How long before `now` `t` was, coarsely: '3h ago', '12m ago', '40s ago' (or 'in the future')."""
    s = int((now - t).total_seconds())
    if s < 0:
        return "in the future"
    for unit, n in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= n:
            return f"{s // n}{unit} ago"
    return f"{s}s ago"


def format_duration(d: timedelta) -> str:
    """2:30:00 -> '2h30m'."""
    s = int(d.total_seconds())
    out = []
    for unit, n in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if s >= n:
            out.append(f"{s // n}{unit}")
            s %= n
    return "".join(out) or "0s"
