"""Which error-log templates are new, or much more frequent, during the window than before it? Pure.

Both periods are mined together with drain3 so a template means the same thing in each; the example quoted is a
verbatim line from the window.

`shifts_by_service` runs the same comparison for every service of a scope in one call (one trip to the analysis
worker). Rates are per *covered* minute when the caller knows which minutes Loki holds any line for
(`active_minutes`): a gap in log collection then neither hides a template nor makes one look like a jump. With no
covered minute in the baseline nothing is called new (everything would be), and the caller says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from .log_templates import mine_templates

__all__ = ["LogShift", "template_shifts", "shifts_by_service", "active_minutes", "NEW_MIN_LINES", "JUMP_FACTOR"]

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


def shifts_by_service(before: Mapping[str, list[str]], during: Mapping[str, list[str]], *, before_minutes: float,
                      during_minutes: float, top: int = 3) -> dict[str, list[LogShift]]:
    """`template_shifts` of each service that has lines in the window; services with no shift are left out.
    Nothing is new against an empty baseline period (`before_minutes` 0): the result is empty."""
    if before_minutes <= 0 or during_minutes <= 0:
        return {}
    out = {}
    for svc in sorted(during):
        if not during[svc]:
            continue
        shifts = template_shifts(list(before.get(svc, [])), during[svc], before_minutes=before_minutes,
                                 during_minutes=during_minutes, top=top)
        if shifts:
            out[svc] = shifts
    return out


def active_minutes(samples: Iterable[tuple[float, float]], start_s: float, end_s: float, step_s: float = 60.0,
                   ) -> float:
    """Minutes of [start, end) with at least one line, from `count_over_time(...[step])` samples (t, count) taken
    every `step_s`: a sample at t counts the lines of (t - step, t]. Samples of several series may be mixed."""
    steps = {t for t, v in samples if v > 0 and start_s < t <= end_s + 1e-9}
    return len(steps) * step_s / 60.0
