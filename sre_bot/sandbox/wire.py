"""Small pieces of the real wire formats shared by the simulated servers: numbers, times, JSON bodies."""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from aiohttp import web

__all__ = ["prom_value", "prom_time", "rfc3339", "parse_time", "parse_duration", "json_response", "params",
           "SIMULATOR"]

SIMULATOR = "sre-bot sandbox simulator"
_DURATION_RE = re.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$")
_UNIT_S = (31536000, 604800, 86400, 3600, 60, 1, 0.001)


def prom_value(v: float) -> str:
    """A sample value as Prometheus writes it (Go's FormatFloat 'f', -1): "0.5", "44187648", "NaN", "+Inf"."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v == int(v) and abs(v) < 1e21:
        return str(int(v))
    return format(Decimal(repr(v)), "f")


def prom_time(t: float) -> int | float:
    """A timestamp as Prometheus writes it: seconds with at most millisecond precision, integral when whole."""
    r = round(t, 3)
    return int(r) if r == int(r) else r


def rfc3339(t: float, *, ms: bool = True) -> str:
    """`2026-11-21T05:57:09.969Z` (ms=True, Alertmanager) or `2026-11-21T05:57:09Z` (Kubernetes/Argo CD)."""
    whole = math.floor(t)
    dt = datetime.fromtimestamp(whole, tz=timezone.utc)
    base = dt.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{int(round((t - whole) * 1000)) % 1000:03d}Z" if ms else f"{base}Z"


def parse_time(text: str, *, loki: bool = False) -> float:
    """Unix seconds (float) or RFC 3339; with `loki`, an integer of more than 10 digits is nanoseconds."""
    s = text.strip()
    if loki and re.fullmatch(r"-?\d+", s):
        return int(s) / 1e9 if len(s) > 10 else float(int(s))
    try:
        return float(s)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise ValueError(f"cannot parse {text!r} to a valid timestamp") from None


def parse_duration(text: str) -> float:
    """Seconds from `15`, `1.5`, `30s`, `1m30s`, `500ms`, `1h`."""
    s = text.strip()
    try:
        return float(s)
    except ValueError:
        pass
    m = _DURATION_RE.match(s)
    if not s or not m or not any(m.groups()):
        raise ValueError(f"cannot parse {text!r} to a valid duration")
    return sum(int(g) * u for g, u in zip(m.groups(), _UNIT_S, strict=False) if g)


def json_response(data: Any, *, status: int = 200) -> web.Response:
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return web.Response(text=body, status=status, content_type="application/json")


async def params(request: web.Request) -> dict[str, str]:
    """Query-string and (for POST) form parameters, the form winning, as the real servers read them."""
    out = {k: v for k, v in request.query.items()}
    if request.method == "POST" and request.content_type == "application/x-www-form-urlencoded":
        form = await request.post()
        out.update({k: str(v) for k, v in form.items()})
    return out
