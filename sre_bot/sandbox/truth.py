"""A scenario's ground truth (`truth:`): its incidents, what caused each, and what to do. Read only by evaluation.

Two ways to write it. One incident (the original form, still valid):

```yaml
truth:
  root_service: checkout
  cause: bad_deploy
  summary: ...
  revision: 4f1c2e9...              # optional: the bad revision
  affected: [checkout, frontend]    # optional
  question: why is frontend failing?   # optional, see below
  alerts: [HighErrorRate@checkout]  # optional, see below
  action: {name: argocd.rollback}   # optional, see below
```

Several incidents (or one with more to say), each with the same fields plus a `name`:

```yaml
truth:
  incidents:
    - name: checkout-deploy
      question: why is frontend returning errors?
      alerts: [HighErrorRate@frontend, HighErrorRate@checkout, DBConnectionPoolExhausted]
      root_service: checkout
      cause: bad_deploy
      action: {name: argocd.rollback, service: checkout}
      summary: ...
    - name: nothing-wrong-with-cart
      question: why is cart slow?       # asked, but nothing is wrong with cart: the bot must abstain
      cause: none
      action: none
      summary: ...
```

- `cause`: the kind of the root cause at `root_service`: `bad_deploy`, `config_change` (a configuration or feature
  flag rollout), `dependency_outage` (the root service, a dependency of others, became unavailable),
  `resource_exhaustion` (CPU, memory, connections, disk, or a neighbour taking them), `traffic_spike` (more load,
  not a fault), `infrastructure` (DNS, nodes, network), `data_issue`, or `none`: nothing explains the symptom and the
  right answer is "insufficient evidence" (no `root_service` then).
- `question`: what the on-call engineer asks the bot, from the symptom they were paged for (never naming the root
  cause). Default: "why is <service> failing?" for the alerting service that depends on most of the incident's
  other alerting services (the user-facing end), then the most severe, earliest (`sre_bot/evaluation/cases.py`).
- `alerts`: which of the scenario's alerts belong to the incident: `AlertName` (every alert of that name) or
  `AlertName@service`. Default (one incident only): every alert on `root_service` and `affected`. An alert in no
  incident is noise: correlation should leave it out of the incidents.
- `action`: the right catalog action, `{name: argocd.rollback, service: checkout}` (`service` defaults to
  `root_service`), or `none` (no action should be suggested). Absent: not scored.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["Truth", "TruthIncident", "TruthAction", "CauseKind", "CAUSE_KINDS", "alert_ref_matches"]

CauseKind = Literal["bad_deploy", "config_change", "dependency_outage", "resource_exhaustion", "traffic_spike",
                    "infrastructure", "data_issue", "none"]
CAUSE_KINDS: tuple[str, ...] = CauseKind.__args__  # type: ignore[attr-defined]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TruthAction(_Strict):
    name: str = Field(min_length=1)  # an action of the catalog (sre_bot.actions.catalog.CATALOG)
    service: str | None = None  # default: the incident's root service


def alert_ref_matches(ref: str, alertname: str, service: str | None) -> bool:
    """`HighErrorRate` matches every alert of that name; `HighErrorRate@checkout` only the one on checkout."""
    name, _, svc = ref.partition("@")
    return name == alertname and (not svc or svc == service)


class _IncidentFields(_Strict):
    root_service: str | None = None
    cause: CauseKind
    summary: str = ""
    revision: str | None = None
    affected: list[str] = Field(default_factory=list)
    question: str | None = None
    alerts: list[str] | None = None
    action: TruthAction | Literal["none"] | None = None

    @model_validator(mode="after")
    def _root(self) -> _IncidentFields:
        return self._check_incident()

    def _check_incident(self) -> _IncidentFields:
        if self.cause == "none":
            if self.root_service is not None:
                raise ValueError("cause `none` means no root service: remove `root_service`")
            if isinstance(self.action, TruthAction):
                raise ValueError("cause `none` takes `action: none` (nothing to do), not an action")
        elif self.root_service is None:
            raise ValueError(f"cause {self.cause!r} needs a `root_service`")
        return self

    @property
    def action_service(self) -> str | None:
        return (self.action.service or self.root_service) if isinstance(self.action, TruthAction) else None


class TruthIncident(_IncidentFields):
    name: str = Field(min_length=1)


class Truth(_IncidentFields):
    """One incident written at the top level, or `incidents:` (then the top level holds nothing else)."""

    cause: CauseKind | None = None  # type: ignore[assignment]
    incidents: list[TruthIncident] = Field(default_factory=list)

    @model_validator(mode="after")
    def _root(self) -> Truth:
        if self.incidents:
            given = sorted(k for k in self.model_fields_set if k != "incidents")
            if given:
                raise ValueError(f"with `incidents:`, write {', '.join(given)} inside each incident")
            names = [i.name for i in self.incidents]
            dup = sorted({n for n in names if names.count(n) > 1})
            if dup:
                raise ValueError(f"incident names must be unique: {', '.join(dup)}")
            return self
        if self.cause is None:
            raise ValueError("a truth needs `cause` (or `incidents:`)")
        self._check_incident()
        return self

    def cases(self) -> list[TruthIncident]:
        """Every incident, the single top-level one named after its root service (or `no-cause`)."""
        if self.incidents:
            return list(self.incidents)
        data = self.model_dump(exclude={"incidents"}, exclude_unset=True)
        data["cause"] = self.cause
        return [TruthIncident(name=self.root_service or "no-cause", **data)]
