"""A runbook run as it stands: each step's status, evidence and interpretation, the outcome, what was offered.

A step is `pending`, then `running`, then one of:

    ok        read, and its condition does not hold (or it has none: it only shows what it read)
    finding   its condition holds: `means` says what that is
    failed    it could not read (a backend down or not configured) or its condition could not be computed
    skipped   the root cause was already found, or a step it `needs` was not a finding

The interpretation is the deterministic one: the condition, the values it read, and `means` / `otherwise`.
A model's sentence, when there is one, is kept apart (`note`) and never changes a status. Pure.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from ..models import Evidence
from ..store.records import ActionRequest
from .conditions import Verdict
from .model import Runbook, Step

__all__ = ["StepStatus", "Outcome", "StepRun", "RemedyRun", "RunState", "new_run", "read_values", "interpret"]

StepStatus = Literal["pending", "running", "ok", "finding", "failed", "skipped"]
Outcome = Literal["running", "cause_found", "findings", "nothing_found", "incomplete"]


@dataclass
class StepRun:
    step: Step
    status: StepStatus = "pending"
    evidence: list[Evidence] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    interpretation: str = ""
    note: str | None = None  # the model's sentence, verified against the evidence
    note_quote: tuple[str, str] | None = None  # (evidence id, the verbatim text it quotes)


@dataclass
class RemedyRun:
    action: str
    describe: str
    kind: Literal["approve", "auto", "suggest", "off", "error", "unsupported"]
    note: str | None = None
    request: ActionRequest | None = None


@dataclass
class RunState:
    id: str
    runbook: Runbook
    service: str | None
    started_at: datetime
    requested_by: str | None
    steps: list[StepRun]
    outcome: Outcome = "running"
    cause: str | None = None  # what the stopping step's finding means
    cause_step: str | None = None
    remedies: list[RemedyRun] = field(default_factory=list)
    finished_at: datetime | None = None
    notes_by: str | None = None  # "claude-… (runbook_notes-v1)", or why there are no model notes

    def by_id(self, step_id: str) -> StepRun | None:
        return next((s for s in self.steps if s.step.id == step_id), None)

    @property
    def findings(self) -> list[StepRun]:
        return [s for s in self.steps if s.status == "finding"]

    @property
    def current(self) -> StepRun | None:
        return next((s for s in self.steps if s.status == "running"), None)


def new_run(runbook: Runbook, service: str | None, *, requested_by: str | None, now: datetime) -> RunState:
    return RunState(id=secrets.token_hex(6), runbook=runbook, service=service, started_at=now,
                    requested_by=requested_by, steps=[StepRun(s) for s in runbook.steps])


def _fmt(v: Any) -> str:
    if v is None:
        return "no data"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list):
        return "[" + ", ".join(str(x) for x in v[:8]) + (", …" if len(v) > 8 else "") + "]"
    if isinstance(v, str):
        return f'"{v[:80]}…"' if len(v) > 80 else f'"{v}"'
    return str(v)


def read_values(values: dict[str, Any], names: set[str] | None = None) -> str:
    """`value = 0.16, first = 0.003`: the values a condition read (all of them when `names` is None)."""
    keys = [k for k in values if names is None or k in names]
    return ", ".join(f"{k} = {_fmt(values[k])}" for k in keys if k != "body" or names is not None)


def interpret(step: Step, values: dict[str, Any], verdict: Verdict | None, names: set[str]) -> str:
    """The deterministic reading of a step that ran: the condition, what it read, and what that means."""
    if verdict is None:
        read = read_values(values)
        return f"read: {read}" if read else "read (no condition to test)"
    read = read_values(values, names)
    if verdict.matched:
        return f"`{step.when}` holds ({read}): {step.means or 'a finding'}"
    if verdict.unknown:
        return (f"no data for {', '.join(verdict.unknown)}, so `{step.when}` cannot hold"
                + (f": {step.otherwise}" if step.otherwise else ""))
    return f"`{step.when}` does not hold ({read})" + (f": {step.otherwise}" if step.otherwise else "")
