"""A runbook file's shape: its name, when it matches, its read-only steps, and the remediation it may offer.

    name: db-connection-pool                 # lower case, digits and '-'; what `/sre runbook <name>` takes
    title: Database connection pool exhaustion
    description: ...
    match:                                   # when to suggest it in an incident thread
      alertnames: [DBConnectionPoolExhausted]
      hypothesis_kinds: [resource_saturation]
      services: []                           # only for these services (default: any)
    steps:
      - id: connections                      # lower case, digits and '_'; unique in the runbook
        title: Connections in use
        tool: promql                         # one of `steps.TOOLS`: read-only, always
        params: {query: 'sum(pg_stat_activity_count{$selector})', window: 30m}
        when: value >= 190                   # the condition; true makes the step a finding
        means: the database is at max_connections
        otherwise: connections are below the limit
        needs: [pool_alert]                  # run only when these earlier steps were findings (else skipped)
        stop: true                           # a finding here is the root cause: the run ends
    remediation:                             # catalog actions, offered for approval, never run by the runbook
      - action: argocd.rollback
        args: {service: '${upstream.service}'}
        reason: roll back the deploy that multiplied the connections
        if_found: [upstream]                 # default: offered when the root cause was found

Unknown keys are errors (a typo never goes unseen). Parsing checks the shape; `loader.py` checks the meaning
(tools, parameters, conditions, variables, actions).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Step", "Remediation", "MatchRule", "Runbook", "STEP_ID", "RUNBOOK_NAME", "MAX_STEPS"]

STEP_ID = r"^[a-z][a-z0-9_]{0,39}$"
RUNBOOK_NAME = r"^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$"
MAX_STEPS = 15


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Step(_Strict):
    id: str = Field(pattern=STEP_ID)
    title: str = Field(min_length=1, max_length=120)
    tool: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    when: str | None = None
    means: str = Field("", max_length=500)
    otherwise: str = Field("", max_length=500)
    needs: list[str] = Field(default_factory=list)
    stop: bool = False


class Remediation(_Strict):
    action: str
    args: dict[str, Any] = Field(default_factory=dict)
    reason: str = Field(min_length=3, max_length=300)
    if_found: list[str] = Field(default_factory=list)


class MatchRule(_Strict):
    alertnames: list[str] = Field(default_factory=list)
    hypothesis_kinds: list[str] = Field(default_factory=list)
    services: list[str] = Field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.alertnames and not self.hypothesis_kinds


class Runbook(_Strict):
    name: str = Field(pattern=RUNBOOK_NAME)
    title: str = Field(min_length=1, max_length=120)
    description: str = ""
    match: MatchRule = Field(default_factory=MatchRule)
    steps: list[Step] = Field(min_length=1, max_length=MAX_STEPS)
    remediation: list[Remediation] = Field(default_factory=list, max_length=5)
    source: str = ""  # the file it was loaded from (set by the loader)
    digest: str = ""  # sha256 of the file, first 12 hex digits: which version of the runbook ran
    needs_service: bool = False  # some template uses a service variable (set by the loader)

    def step(self, step_id: str) -> Step | None:
        return next((s for s in self.steps if s.id == step_id), None)
