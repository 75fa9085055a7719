"""The escalation rule for unknown issues, as a pure decision: offer to page a team's on-call about an incident?

    decision = decide(facts, cfg, now=now)     # facts gathered by escalation/service.py; no I/O, no clock here
    decision.offer, decision.auto, decision.team, decision.action, decision.line()

An incident is offered for a page when every one of these holds (each "no" is a reason shown on its timeline):
  - the rule is enabled;
  - the incident is still firing, and has been for `unknown.after` since it opened;
  - its highest alert severity is at least `unknown.min_severity` (`severity` labels, `SEVERITY_ORDER`);
  - no confident cause: its latest answer abstained (calibrated below the abstain threshold) or none could be made;
  - no matching runbook and no past case ("seen before");
  - nobody acknowledged it in Slack, and it was not offered or paged already;
  - a team owns its root service (`escalation.teams`, else `default_team`), paged through PagerDuty or Opsgenie;
  - that team's pages in the last hour, whoever asked, and offers still waiting for a decision, are below
    `unknown.max_per_hour`.

`auto` (no click) only when the action's policy is `auto` and the incident's alerts already carry a paging severity
(`unknown.paging_severities`); otherwise a person approves. The kill switch is not the rule's business: the action
path refuses to run anything under it, the rule's pages included.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from .config import SEVERITY_ORDER, EscalationConfig

__all__ = ["Facts", "Decision", "decide", "highest_severity", "severity_of", "Answer"]

Answer = Literal["confident", "abstained", "none"]


def severity_of(label: str | None) -> str:
    """An alert's `severity` label in SEVERITY_ORDER; anything else ranks as "warning"."""
    s = (label or "").strip().lower()
    return s if s in SEVERITY_ORDER else "warning"


def highest_severity(labels: Iterable[str | None]) -> str | None:
    """The highest of the alerts' severities; None for no alerts."""
    ranked = [severity_of(x) for x in labels]
    return max(ranked, key=SEVERITY_ORDER.index) if ranked else None


@dataclass(frozen=True)
class Facts:
    """What the rule needs to know about one incident (gathered by the service from the store)."""

    number: int
    resolved: bool
    started_at: datetime
    severities: tuple[str | None, ...]  # the `severity` label of each alert still firing
    answer: Answer  # the latest answer: a confident cause, abstained, or none could be made
    root_service: str | None
    runbooks: tuple[str, ...] = ()  # matching runbooks
    seen_before: bool = False  # a past case ("seen before")
    acknowledged_by: str | None = None
    offered: bool = False  # the rule offered (or someone sent) a page about it already
    team_pages: Mapping[str, int] = field(default_factory=dict)  # team → pages in the last hour, whoever asked
    policies: Mapping[str, str] = field(default_factory=dict)  # action → autonomy level (approve, auto, ...)


@dataclass(frozen=True)
class Decision:
    offer: bool
    reasons: tuple[str, ...]  # why not (every one that failed), or what was met
    team: str | None = None
    action: str | None = None  # pagerduty.page | opsgenie.alert
    auto: bool = False
    held: str | None = None  # why it needs a click although the policy is `auto`
    severity: str | None = None

    def line(self) -> str:
        """One short line for the timeline: 'escalation: offered …' or 'escalation: not offered: …'."""
        if self.offer:
            how = "automatically" if self.auto else "for approval"
            return f"escalation: page to {self.team} ({self.action}) offered {how}: " + "; ".join(self.reasons)
        return "escalation: not offered: " + "; ".join(self.reasons)


def _action_for(cfg: EscalationConfig, team: str) -> str:
    route = cfg.teams[team]
    return "pagerduty.page" if route.pagerduty else "opsgenie.alert"


def decide(facts: Facts, cfg: EscalationConfig, *, now: datetime) -> Decision:
    """The rule (see the module docstring); `reasons` lists every condition that failed, in the order above."""
    rule = cfg.unknown
    if not rule.enabled:
        return Decision(False, ("the unknown-issue rule is disabled",))
    if facts.resolved:
        return Decision(False, ("resolved",))
    no: list[str] = []
    after: timedelta = rule.after_td
    if now - facts.started_at < after:
        no.append(f"open less than {rule.after}")
    severity = highest_severity(facts.severities)
    if severity is None:
        no.append("no alert firing")
    elif SEVERITY_ORDER.index(severity) < SEVERITY_ORDER.index(rule.min_severity):
        no.append(f"severity {severity} is below {rule.min_severity}")
    if facts.answer == "confident":
        no.append("a confident cause was found")
    if facts.runbooks:
        no.append(f"runbook {facts.runbooks[0]} matches")
    if facts.seen_before:
        no.append("seen before (a past case matches)")
    if facts.acknowledged_by:
        no.append(f"acknowledged by <@{facts.acknowledged_by}>")
    if facts.offered:
        no.append("already offered or paged")
    team = cfg.team_for(facts.root_service)
    if team is None or team not in cfg.teams:
        no.append(f"no team owns {facts.root_service or 'its root service'} (escalation.teams, default_team)")
        team = None
    elif facts.team_pages.get(team, 0) >= rule.max_per_hour:
        no.append(f"{team} was paged {facts.team_pages.get(team, 0)} time(s) in the last hour "
                  f"(max_per_hour {rule.max_per_hour})")
    if no:
        return Decision(False, tuple(no), team=team, severity=severity)
    assert team is not None and severity is not None
    action = _action_for(cfg, team)
    why = (f"no confident cause ({'it abstained' if facts.answer == 'abstained' else 'no answer'}), "
           f"no runbook or past case, {severity} for {rule.after}+, not acknowledged")
    held = None
    if facts.policies.get(action) != "auto":
        held = f"{action} is at {facts.policies.get(action, 'approve')}"
    elif not any(severity_of(s) in rule.paging_severities for s in facts.severities):
        held = f"no alert carries a paging severity ({', '.join(rule.paging_severities)})"
    return Decision(True, (why,), team=team, action=action, auto=held is None, held=held, severity=severity)
