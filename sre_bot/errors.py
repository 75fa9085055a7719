"""The error tree, drawn once.

    SreBotError
    ├── ConfigError            invalid settings or YAML config; names the field and the reason
    ├── UsageError             bad input from a person (unknown verb, bad window, bad PromQL argument)
    ├── StoreError             the store (SQLite / PostgreSQL) failed: `store/errors.py`
    └── BackendError           a telemetry/control system failed; carries `backend` and `operation`
        ├── BackendUnavailable connection refused, DNS, 5xx
        ├── BackendTimeout     the call exceeded its timeout
        ├── QueryRejected      the system refused the query (PromQL/LogQL parse error, 400, 422)
        ├── NotFound           the object does not exist (404)
        └── Unauthorized       401/403: a token is missing, wrong or lacks permission

Who hears each failure: a UsageError goes back to the person who sent the input; a BackendError is said
plainly in the answer (the other backends' evidence is still shown); anything else is a bug, logged with a
correlation id that is the only thing the user sees.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError

__all__ = [
    "SreBotError",
    "ConfigError",
    "UsageError",
    "BackendError",
    "BackendUnavailable",
    "BackendTimeout",
    "QueryRejected",
    "NotFound",
    "Unauthorized",
    "validation_problems",
]


class SreBotError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(SreBotError):
    """The configuration is invalid; the message names the field and the reason."""


class UsageError(SreBotError):
    """A person's input cannot be used; the message says what to type instead."""


class BackendError(SreBotError):
    """A backend call failed. `kind` is a short stable word for metrics and the audit log."""

    kind = "error"

    def __init__(self, message: str, *, backend: str, operation: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.backend = backend
        self.operation = operation
        self.status = status  # the HTTP status when there was one

    def __str__(self) -> str:
        return f"{self.backend}: {self.args[0]}"


class BackendUnavailable(BackendError):
    kind = "unavailable"


class BackendTimeout(BackendError):
    kind = "timeout"


class QueryRejected(BackendError):
    kind = "rejected"


class NotFound(BackendError):
    kind = "not_found"


class Unauthorized(BackendError):
    kind = "unauthorized"


def validation_problems(err: ValidationError, limit: int = 10) -> str:
    """A pydantic ValidationError as one line: `field: message; other.field: message`."""
    return "; ".join(f"{'.'.join(map(str, x['loc'])) or 'input'}: {x['msg']}" for x in err.errors()[:limit])
