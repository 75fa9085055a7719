"""structlog configuration: console rendering on a terminal, JSON lines otherwise.

Surfaces bind context once per Slack event or webhook (`bind_request`), then log one summary line per turn.

Quiet by default: the bot's own lines log at `level`, every library (httpx's "HTTP Request: …" lines, Alembic's
plugin setup and "Running upgrade", drain3's "Starting Drain3 template miner", asyncio, Slack's SDKs, SQLAlchemy)
at WARNING, unless `level` is debug, when they all show. One-shot commands (`ask`, `doctor`, …) pass
`one_shot_level` so only warnings and errors reach stderr and the answer is alone on stdout.
"""

from __future__ import annotations

import logging
import sys
import uuid

import structlog

__all__ = ["configure_logging", "one_shot_level", "bind_request", "get_logger", "LIBRARY_LOGGERS"]

# Named as well as covered by the root logger's level: a library that set its own logger's level is held too.
LIBRARY_LOGGERS = ("httpx", "httpcore", "alembic", "drain3", "urllib3", "requests", "asyncio", "slack_bolt",
                   "slack_sdk", "sqlalchemy", "aiosqlite", "asyncpg", "anthropic", "aiohttp", "prometheus_api_client",
                   "matplotlib", "PIL")


class _CurrentStderr:
    """Whatever `sys.stderr` is at write time (a test harness or a daemon may swap it after configuration)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def one_shot_level(level: str, explicit: bool) -> str:
    """The level of a one-shot command: WARNING (nothing on stderr when all goes well) unless the person set
    SRE_BOT_LOG_LEVEL (`explicit`), when theirs."""
    return level if explicit else "warning"


def configure_logging(level: str = "info", fmt: str = "auto") -> None:
    """The bot's own lines at `level`; libraries at WARNING (or `level` when it is higher), all of them at debug."""
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer = structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer(colors=False)
    own = logging.getLevelName(level.upper())
    libraries = own if level == "debug" else max(own, logging.WARNING)
    logging.basicConfig(stream=_CurrentStderr(), format="%(message)s")
    logging.getLogger().setLevel(libraries)
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(libraries)
    logging.getLogger("sre_bot").setLevel(own)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(own),
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )


def bind_request(**context: object) -> str:
    """Start a fresh log context for one event/request; returns its correlation id."""
    cid = uuid.uuid4().hex[:12]
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(correlation_id=cid, **context)
    return cid


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
