"""Time windows people type: `30m`, `2h`, `1h30m`, `1d`, `since 14:05`, `since 2026-11-21T14:05Z`.

Pure: `now` is always passed in. Times without a zone are UTC (the bot's answers are all in UTC).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from .errors import UsageError
from .models import TimeRange

__all__ = ["duration_field", "parse_duration", "parse_time", "parse_window", "looks_like_window", "format_duration",
           "format_ago", "MAX_WINDOW", "MAX_DURATION", "EARLIEST", "LATEST"]

MAX_WINDOW = timedelta(days=31)
MAX_DURATION = timedelta(days=3650)  # any duration a person or a config file writes: ten years is past every use
EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)  # the times people may name (Unix time and the years after)
LATEST = datetime(9000, 1, 1, tzinfo=timezone.utc)  # far enough from datetime.max that ± a duration still fits
_DURATION_RE = re.compile(r"^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_UNIT_SECONDS = (7 * 86400, 86400, 3600, 60, 1)
_WINDOW_HINT = "use a duration like 30m, 2h, 1d or `since 14:05`"


def parse_duration(text: str, *, longest: timedelta = MAX_DURATION, what: str = "a duration") -> timedelta:
    """`1h30m` -> 1:30:00. Prometheus-style units w, d, h, m, s; from 1s to `longest` (UsageError says so)."""
    t = text.strip().lower()
    m = _DURATION_RE.match(t)
    if not t or not m or not any(m.groups()):
        raise UsageError(f"`{text}` is not a duration: {_WINDOW_HINT}")
    too_long = f"`{text}` is too long: {what} is from 1s to {format_duration(longest)}"
    if any(g and len(g) > 12 for g in m.groups()):  # int() of thousands of digits is slow, then refused
        raise UsageError(too_long)
    seconds = sum(int(g) * n for g, n in zip(m.groups(), _UNIT_SECONDS, strict=True) if g)
    if seconds <= 0:
        raise UsageError(f"`{text}` is an empty window: {_WINDOW_HINT}")
    if seconds > min(longest, MAX_DURATION).total_seconds():
        raise UsageError(too_long)
    return timedelta(seconds=seconds)


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
        return _in_range(text, datetime.fromtimestamp(float(t), tz=timezone.utc))
    try:
        iso = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        pass
    else:
        return _in_range(text, iso if iso.tzinfo else iso.replace(tzinfo=timezone.utc))
    import dateparser  # ~0.1 s to import: only for the phrases the fast paths above do not read

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
    parsed = _in_range(text, parsed)
    if parsed > now and re.fullmatch(r"\d{1,2}:\d{2}(\s*utc)?", t.lower()):
        parsed -= timedelta(days=1)
    return parsed


def _in_range(text: str, t: datetime) -> datetime:
    """`t` in UTC, when it lies between EARLIEST and LATEST (arithmetic on it cannot overflow)."""
    try:
        utc = t.astimezone(timezone.utc)
    except OverflowError:  # 0001-01-01T00:00+14:00 is before datetime.min in UTC
        utc = None
    if utc is None or not EARLIEST <= utc <= LATEST:
        raise UsageError(f"`{text}` is out of range: a time is from {EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d} (UTC)")
    return utc


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
        window = TimeRange.ending(now, parse_duration(t, longest=MAX_WINDOW, what="a window"))
    if window.duration > MAX_WINDOW:
        raise UsageError(f"`{t}` is longer than {MAX_WINDOW.days} days: a window is from 1s to {MAX_WINDOW.days}d; "
                         "narrow it")
    return window


def looks_like_window(token: str) -> bool:
    t = token.strip().lower()
    m = _DURATION_RE.match(t)
    return bool(t) and (t.startswith("since ") or bool(m and any(m.groups())))


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
