"""The YAML `escalation:` section: which team owns which service, where each team is paged, and the rule that offers
to page the on-call for an incident nobody understands.

```yaml
escalation:
  teams:
    payments:
      services: [payments-api, checkout]   # service → team (a service in no team goes to `default_team`)
      pagerduty: true                      # routing key: SRE_BOT_PAGERDUTY_ROUTING_KEYS["payments"]
      opsgenie: false                      # API key: SRE_BOT_OPSGENIE_API_KEYS["payments"]
  default_team: platform
  unknown:                                 # the rule for incidents with no confident cause, runbook or past case
    enabled: true
    min_severity: critical                 # the incident's highest alert severity must be at least this
    after: 10m                             # still firing this long after it opened, and not acknowledged
    paging_severities: [critical, page]    # `auto` only for incidents whose alerts already carry one of these
    max_per_hour: 2                        # pages per team per hour, whoever asked
```
Whether a page needs a click is the `pagerduty.page` / `opsgenie.alert` policy of the autonomy ladder
(`actions.policies`), like every other action; the kill switch stops pages too.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..windows import duration_field, parse_duration

__all__ = ["TeamRoute", "UnknownIssueRule", "EscalationConfig", "SEVERITY_ORDER"]

# lowest first; an alert's `severity` label outside this list ranks as "warning"
SEVERITY_ORDER: tuple[str, ...] = ("info", "warning", "error", "critical", "page")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TeamRoute(_Strict):
    services: list[str] = Field(default_factory=list)
    pagerduty: bool = False
    opsgenie: bool = False

    @model_validator(mode="after")
    def _somewhere(self) -> TeamRoute:
        if not (self.pagerduty or self.opsgenie):
            raise ValueError("a team is paged through pagerduty: true, opsgenie: true, or both")
        return self


class UnknownIssueRule(_Strict):
    enabled: bool = True
    min_severity: str = "critical"
    after: str = "10m"
    paging_severities: list[str] = Field(default_factory=lambda: ["critical", "page"])
    max_per_hour: int = Field(2, ge=1, le=60)

    @field_validator("min_severity")
    @classmethod
    def _severity(cls, v: str) -> str:
        if v not in SEVERITY_ORDER:
            raise ValueError(f"one of {', '.join(SEVERITY_ORDER)}")
        return v

    @field_validator("after")
    @classmethod
    def _after(cls, v: str) -> str:
        return duration_field(v)

    @property
    def after_td(self) -> timedelta:
        return parse_duration(self.after)


class EscalationConfig(_Strict):
    teams: dict[str, TeamRoute] = Field(default_factory=dict)
    default_team: str | None = None
    unknown: UnknownIssueRule = Field(default_factory=UnknownIssueRule)

    @model_validator(mode="after")
    def _check(self) -> EscalationConfig:
        if self.default_team is not None and self.default_team not in self.teams:
            raise ValueError(f"default_team {self.default_team!r} is not one of the teams")
        seen: dict[str, str] = {}
        for team, route in self.teams.items():
            for s in route.services:
                if s in seen:
                    raise ValueError(f"service {s!r} is in two teams: {seen[s]} and {team}")
                seen[s] = team
        return self

    def team_for(self, service: str | None) -> str | None:
        """The team that owns `service` (its configured canonical name), else the default team."""
        if service is not None:
            for team, route in self.teams.items():
                if service in route.services:
                    return team
        return self.default_team
