"""The store's one error: a database operation failed, said plainly (which operation, which backend)."""

from __future__ import annotations

from ..errors import SreBotError

__all__ = ["StoreError", "own_copy"]


class StoreError(SreBotError):
    """A store operation failed: the database is unreachable, locked, at an unknown schema, or refused a write.

    `backend` is "sqlite" or "postgresql"; `operation` names the Store method ("claim", "open", ...). `transient`
    says the database asked to try again later and nothing was written (locked or busy, a serialization failure or
    deadlock, no free connection): the store has already retried, a bounded number of times, before raising it.
    The driver's exception is chained (`raise … from e`) for the developer log; the message is safe to show a person.
    """

    def __init__(self, message: str, *, backend: str, operation: str, transient: bool = False) -> None:
        super().__init__(message)
        self.backend = backend
        self.operation = operation
        self.transient = transient

    def __str__(self) -> str:
        return f"store ({self.backend}) {self.operation}: {self.args[0]}"


def own_copy(e: Exception) -> Exception:
    """A copy of a StoreError for one of the callers that shared a failed group write (chained to it), so each
    caller raises its own exception object; anything else as it is."""
    if not isinstance(e, StoreError):
        return e
    copy = StoreError(e.args[0], backend=e.backend, operation=e.operation, transient=e.transient)
    copy.__cause__ = e
    return copy
