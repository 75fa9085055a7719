"""What a question asks: the symptom, and the time it names ("around 04:02 UTC yesterday"). Pure: `now` passed in."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..errors import UsageError
from ..windows import MAX_WINDOW, parse_duration, parse_time

__all__ = ["Question", "parse_question", "SYMPTOMS"]

SYMPTOMS = {
    "latency": ("slow", "latency", "latent", "lag", "timeout", "timing out", "p95", "p99", "sluggish"),
    "errors": ("error", "5xx", "500", "503", "fail", "broken", "exception", "crash"),
    "saturation": ("cpu", "memory", "oom", "saturat", "throttl", "pool", "connections"),
    "traffic": ("traffic", "load", "spike", "requests"),
}
_TIME = re.compile(
    r"\b(?:at|around|near|about|since|from)\s+("
    r"\d{4}-\d{2}-\d{2}[t ]\d{2}:\d{2}(?::\d{2})?z?"
    r"|(?:yesterday|today)\s+(?:at\s+)?\d{1,2}:\d{2}(?:\s*utc)?"
    r"|\d{1,2}:\d{2}(?:\s*utc)?(?:\s+(?:yesterday|today))?"
    r"|\d+\s+(?:minutes?|hours?|days?)\s+ago)",
    re.IGNORECASE,
)
_LAST = re.compile(r"\b(?:in the |over the |for the )?(?:last|past)\s+"
                   r"(\d+\s*(?:m|h|d|min|mins|minutes?|hours?|days?))\b", re.IGNORECASE)
_UNIT = {"min": "m", "mins": "m", "minute": "m", "minutes": "m", "hour": "h", "hours": "h", "day": "d", "days": "d"}


@dataclass(frozen=True)
class Question:
    text: str
    symptom: str | None  # latency | errors | saturation | traffic
    at: datetime | None  # a time the question names
    window: timedelta | None  # "in the last 30m"


def _time(fragment: str, now: datetime) -> datetime:
    f = re.sub(r"\s*utc\b", "", fragment, flags=re.IGNORECASE).strip()
    m = re.fullmatch(r"(\d{1,2}:\d{2})\s+(yesterday|today)", f, flags=re.IGNORECASE)
    if m:
        f = f"{m.group(2)} {m.group(1)}"
    when = parse_time(f, now=now)
    if re.fullmatch(r"(?:today\s+)?(?:at\s+)?\d{1,2}:\d{2}", f, flags=re.IGNORECASE) and when > now:
        when -= timedelta(days=1)
    return when


def parse_question(text: str, *, now: datetime) -> Question:
    low = text.lower()
    symptom = next((name for name, words in SYMPTOMS.items() if any(w in low for w in words)), None)
    at = None
    m = _TIME.search(text)
    if m:
        try:
            at = _time(m.group(1), now)
        except UsageError:
            at = None
    window = None
    w = _LAST.search(text)
    if w:
        raw = w.group(1).replace(" ", "").lower()
        num, unit = re.match(r"(\d+)([a-z]+)", raw).groups()  # type: ignore[union-attr]
        try:
            window = parse_duration(num + _UNIT.get(unit, unit[0]), longest=MAX_WINDOW, what="a window")
        except UsageError:  # "the last 0 days": none; "the last 400 days": the widest (the answer shows its window)
            window = MAX_WINDOW if num.strip("0") else None
    return Question(text=text, symptom=symptom, at=at, window=window)
