"""Constants and helpers shared by the sandbox tests."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures"
NOW = datetime(2026, 11, 21, 14, 35, tzinfo=timezone.utc)
ANCHOR = NOW.timestamp()


def fixture(*parts: str) -> Any:
    """A real wire sample from ../shared/fixtures (the `response` part of a docs example)."""
    data = json.loads(FIXTURES.joinpath(*parts).read_text())
    return data["response"] if isinstance(data, dict) and "_request" in data else data
