"""The runbooks the bot loaded at start, and the health-check client their `http_check` steps use."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .model import Runbook

if TYPE_CHECKING:
    from ..backends.http_check import HttpCheckBackend

__all__ = ["RunbookLibrary"]


@dataclass(frozen=True)
class RunbookLibrary:
    runbooks: Mapping[str, Runbook] = field(default_factory=dict)
    http: HttpCheckBackend | None = None  # None: no `runbooks.http_allow`, so no health check can run
    source: str | None = None  # the folder they came from

    def get(self, name: str) -> Runbook | None:
        return self.runbooks.get(name)

    def __len__(self) -> int:
        return len(self.runbooks)

    def all(self) -> list[Runbook]:
        return [self.runbooks[n] for n in sorted(self.runbooks)]
