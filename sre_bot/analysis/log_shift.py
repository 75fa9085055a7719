"""Which error-log templates are new, or much more frequent, during the window than before it? Pure.

Both periods are mined together with drain3 so a template means the same thing in each; the example quoted is a
verbatim line from the window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .log_templates import mine_templates

__all__ = ["LogShift", "template_shifts", "NEW_MIN_LINES", "JUMP_FACTOR"]

NEW_MIN_LINES = 3
JUMP_FACTOR = 5.0


@dataclass(frozen=True)
class LogShift:
    template: str
    example: str
    example_index: int  # index of `example` in the `during` list
    before: int
    during: int
    kind: Literal["new", "jump"]
    rate_before: float  # lines per minute
    rate_during: float


def template_shifts(before: list[str], during: list[str], *, before_minutes: float, during_minutes: float,
                    top: int = 3) -> list[LogShift]:
    """New templates (absent before, at least NEW_MIN_LINES during) and jumps (rate up JUMP_FACTOR×), biggest first."""
    lines = before + during
    out = []
    for t in mine_templates(lines):
        idx_during = [i - len(before) for i in t.indexes if i >= len(before)]
        n_before = t.count - len(idx_during)
        n_during = len(idx_during)
        if not idx_during:
            continue
        rb = n_before / max(before_minutes, 1e-9)
        rd = n_during / max(during_minutes, 1e-9)
        if n_before == 0 and n_during >= NEW_MIN_LINES:
            kind: Literal["new", "jump"] = "new"
        elif n_before > 0 and rd >= JUMP_FACTOR * rb and n_during >= NEW_MIN_LINES:
            kind = "jump"
        else:
            continue
        first = min(idx_during)
        out.append(LogShift(template=t.template, example=during[first], example_index=first, before=n_before,
                            during=n_during, kind=kind, rate_before=rb, rate_during=rd))
    out.sort(key=lambda s: (s.kind != "new", -s.during))
    return out[:top]
