"""Helpers for the Slack hardening tests: the bot's log as JSON lines, and a check that it holds no traceback."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from sre_bot.logging import configure_logging

__all__ = ["json_log", "log_lines", "assert_no_traceback"]


@pytest.fixture
def json_log() -> Iterator[None]:
    """The bot logs JSON lines to stderr during the test (as `serve` does off a terminal); reset afterwards."""
    configure_logging("info", "json")
    yield
    structlog.reset_defaults()


def log_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """The JSON log lines written since the last call (lines that are not JSON come back as `{"raw": line}`)."""
    captured = capsys.readouterr()
    out = []
    for line in (captured.err + captured.out).splitlines():
        try:
            parsed = json.loads(line)
        except ValueError:
            parsed = None
        out.append(parsed if isinstance(parsed, dict) else {"raw": line})
    return out


def assert_no_traceback(lines: list[dict[str, Any]], caplog: pytest.LogCaptureFixture) -> None:
    """Neither the bot's log nor the standard library's (aiohttp, Bolt) holds a traceback or an error."""
    for line in lines:
        text = json.dumps(line)
        assert "Traceback" not in text and "exception" not in line, line
        assert line.get("level") not in ("error", "critical"), line
    for record in caplog.records:
        assert record.exc_info is None and record.levelno < logging.ERROR, (record.name, record.getMessage())
