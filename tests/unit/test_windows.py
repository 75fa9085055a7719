"""Windows people type: durations, `since`, and clear errors for everything else."""

from datetime import datetime, timedelta, timezone

import pytest

from sre_bot.errors import UsageError
from sre_bot.windows import format_duration, parse_duration, parse_time, parse_window

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("text, expected", [("30m", timedelta(minutes=30)), ("2h", timedelta(hours=2)),
                                            ("1h30m", timedelta(minutes=90)), ("1d", timedelta(days=1))])
def test_durations(text, expected):
    """Prometheus-style durations parse."""
    assert parse_duration(text) == expected


def test_default_window_is_one_hour_ending_now():
    """No window means the default, ending now."""
    w = parse_window(None, now=NOW)
    assert (w.start, w.end) == (NOW - timedelta(hours=1), NOW)


def test_since_clock_time_today_and_yesterday():
    """`since 09:05` is today; `since 14:05` (later than now) is yesterday."""
    assert parse_window("since 09:05", now=NOW).start == datetime(2026, 11, 21, 9, 5, tzinfo=timezone.utc)
    assert parse_window("since 14:05", now=NOW).start == datetime(2026, 11, 20, 14, 5, tzinfo=timezone.utc)


def test_absolute_times():
    """ISO 8601 and Unix seconds are accepted."""
    assert parse_time("2026-11-21T04:02:00Z", now=NOW) == datetime(2026, 11, 21, 4, 2, tzinfo=timezone.utc)
    assert parse_time("1763697720", now=NOW) == datetime.fromtimestamp(1763697720, tz=timezone.utc)


@pytest.mark.parametrize("text", ["0m", "5 parsecs", "since the dawn of time", "400d", "since 2027-01-01T00:00Z"])
def test_bad_windows_say_what_to_type(text):
    """Nonsense, empty, huge and future windows are refused with a hint."""
    with pytest.raises(UsageError):
        parse_window(text, now=NOW)


def test_format_duration():
    """Durations print compactly."""
    assert format_duration(timedelta(hours=2, minutes=30)) == "2h30m"
