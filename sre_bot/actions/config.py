"""The `actions:` section of the YAML config: who may approve, how far each action may go on its own, webhooks.

    actions:
      approvers: {users: [U01ONCALL], groups: [S0SREGROUP]}   # may approve any action
      risk_approvers: {high: {users: [U02LEAD]}}              # instead of `approvers`, for high-risk actions
      admins: {users: [U02LEAD]}                              # may turn the kill switch off (default: approvers)
      channels: [C0INCIDENTS]                                 # requests only here (empty: any channel)
      expire_after: 30m
      two_person: [high]                                      # the requester may not approve these
      auto_max_per_hour: 3
      step_down: {below: 0.6, window: 14d, min_feedback: 5}  # feedback lowers an action's autonomy by itself
      policies:
        argocd.rollback: {autonomy: approve}
        alertmanager.silence: {autonomy: auto}                # only reversible, low-risk actions may be auto
        argocd.sync: {autonomy: off}
      webhooks:
        restart-payments:                                     # `webhook(name=restart-payments)`
          url: https://awx.example.com/api/v2/job_templates/12/launch/
          headers: {Authorization: "Bearer {secret}"}         # {secret}: SRE_BOT_WEBHOOK_SECRETS["restart-payments"]
          body: {extra_vars: {service: "{service}", request: "{request_id}"}}

Autonomy is a ladder: `off` (never suggested), `suggest` (text only), `approve` (buttons; the default), `auto`
(runs without a click, within the rate limit and the kill switch, announced with an undo where one exists).
With no approver configured for an action, nobody can approve it, so it is only suggested.
`step_down`: when people's "Right cause?" votes on the answers that proposed an action score below `below` (at
least `min_feedback` votes within `window`), the action drops one rung (auto → approve → suggest) until a person
raises it again (`/sre autonomy <action> <level>`); see `sre_bot/feedback/stepdown.py`.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator, model_validator

from ..windows import duration_field, parse_duration
from .catalog import CATALOG, Risk

__all__ = ["Autonomy", "AUTONOMY_LEVELS", "Approvers", "ActionPolicy", "WebhookConfig", "StepDownPolicy",
           "ActionsConfig"]

Autonomy = Literal["off", "suggest", "approve", "auto"]
AUTONOMY_LEVELS: tuple[Autonomy, ...] = ("off", "suggest", "approve", "auto")

_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")
_GROUP = re.compile(r"^S[A-Z0-9]{2,}$")
_CHANNEL = re.compile(r"^[CGD][A-Z0-9]{2,}$")
_PLACEHOLDERS = {"service", "request_id", "requested_by", "approver", "reason", "secret", "channel"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Approvers(_Strict):
    """Slack user ids (U…/W…) and user group ids (S…): a person in either list, or in one of the groups, qualifies."""

    users: list[str] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)

    @field_validator("users")
    @classmethod
    def _users(cls, v: list[str]) -> list[str]:
        bad = [u for u in v if not _USER.match(u)]
        if bad:
            raise ValueError(f"not Slack user ids (U… or W…, from the profile's 'Copy member ID'): {bad}")
        return v

    @field_validator("groups")
    @classmethod
    def _groups(cls, v: list[str]) -> list[str]:
        bad = [g for g in v if not _GROUP.match(g)]
        if bad:
            raise ValueError(f"not Slack user group ids (S…): {bad}")
        return v

    @property
    def empty(self) -> bool:
        return not self.users and not self.groups

    def admits(self, user: str, groups: frozenset[str] | set[str]) -> bool:
        return user in self.users or any(g in groups for g in self.groups)


class ActionPolicy(_Strict):
    autonomy: Autonomy = "approve"
    approvers: Approvers | None = None  # instead of the risk's or the global approvers
    expire_after: str | None = None

    _expire = field_validator("expire_after")(lambda cls, v: v if v is None else duration_field(v))


class StepDownPolicy(_Strict):
    """When an action steps down by itself: accuracy (yes 1, partly ½, no 0) below `below` over at least
    `min_feedback` votes on the answers that proposed it, posted within `window`. `channel`: where the notice goes
    (default: the channel of the answer whose vote tipped it)."""

    enabled: bool = True
    below: float = Field(0.6, gt=0, le=1)
    window: str = "14d"
    min_feedback: int = Field(5, ge=1, le=10_000)
    channel: str | None = None

    _window = field_validator("window")(lambda cls, v: duration_field(v))

    @field_validator("channel")
    @classmethod
    def _channel(cls, v: str | None) -> str | None:
        if v is not None and not _CHANNEL.match(v):
            raise ValueError(f"not a Slack channel id (C…/G…, from the channel's details): {v!r}")
        return v

    @property
    def span(self) -> timedelta:
        return parse_duration(self.window)


class WebhookConfig(_Strict):
    """A configured automation endpoint (Event-Driven Ansible, AWX, Rundeck, …) and the JSON it is sent.

    Strings in `headers` and `body` may use {service}, {request_id}, {requested_by}, {approver}, {reason},
    {channel}; headers may also use {secret}. Nothing else is substituted, and a value is never evaluated.
    """

    url: AnyHttpUrl
    method: Literal["POST", "PUT"] = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = Field(default_factory=dict)
    description: str = ""
    timeout_s: float = Field(30.0, gt=0, le=300)

    @model_validator(mode="after")
    def _placeholders(self) -> WebhookConfig:
        texts = [*(("headers", v) for v in self.headers.values()), *(("body", s) for s in _strings(self.body))]
        for where, text in texts:
            for name in re.findall(r"\{([^{}]*)\}", text):
                if name not in _PLACEHOLDERS or (name == "secret" and where == "body"):
                    allowed = sorted(_PLACEHOLDERS - ({"secret"} if where == "body" else set()))
                    raise ValueError(f"unknown placeholder {{{name}}} in {where} (use {', '.join(allowed)})")
        return self


_HIGH_ONLY: list[Risk] = ["high"]  # `two_person` by default


def _strings(obj: Any) -> list[str]:
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [s for k, v in obj.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(obj, list):
        return [s for v in obj for s in _strings(v)]
    return []


class ActionsConfig(_Strict):
    approvers: Approvers = Field(default_factory=Approvers)
    risk_approvers: dict[Risk, Approvers] = Field(default_factory=dict)
    admins: Approvers = Field(default_factory=Approvers)
    channels: list[str] = Field(default_factory=list)
    expire_after: str = "30m"
    two_person: list[Risk] = Field(default_factory=lambda: _HIGH_ONLY.copy())
    auto_max_per_hour: int = Field(3, ge=0, le=100)
    step_down: StepDownPolicy = Field(default_factory=StepDownPolicy)
    policies: dict[str, ActionPolicy] = Field(default_factory=dict)
    webhooks: dict[str, WebhookConfig] = Field(default_factory=dict)

    _expire = field_validator("expire_after")(lambda cls, v: duration_field(v))

    @field_validator("channels")
    @classmethod
    def _channels(cls, v: list[str]) -> list[str]:
        bad = [c for c in v if not _CHANNEL.match(c)]
        if bad:
            raise ValueError(f"not Slack channel ids (C…/G…, from the channel's details): {bad}")
        return v

    @model_validator(mode="after")
    def _check(self) -> ActionsConfig:
        for name, policy in self.policies.items():
            spec = CATALOG.get(name)
            if spec is None:
                raise ValueError(f"policies: {name!r} is not in the action catalog ({', '.join(CATALOG)})")
            # a page may be `auto`: the escalation rule still holds it for a click unless the alerts carry a paging
            # severity (escalation.unknown.paging_severities), within its per-team limit and the kill switch
            if policy.autonomy == "auto" and not (spec.reversible and spec.risk == "low") \
                    and name not in ("pagerduty.page", "opsgenie.alert"):
                raise ValueError(f"policies: {name} cannot be `auto`: only reversible, low-risk actions may run "
                                 f"without a click ({name} is {spec.risk} risk, "
                                 f"{'reversible' if spec.reversible else 'not reversible'})")
        for name in self.webhooks:
            if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,63}", name):
                raise ValueError(f"webhooks: {name!r} is not a valid name (lower case, digits, . _ -)")
        return self

    # -- what the rest of the code asks ------------------------------------------------------------------------

    def autonomy(self, action: str) -> Autonomy:
        """The configured level for `action` (`approve` unless its policy says otherwise)."""
        policy = self.policies.get(action)
        return policy.autonomy if policy else "approve"

    def approvers_for(self, action: str, risk: Risk) -> Approvers:
        """The action's own approvers, else its risk's, else the global ones."""
        policy = self.policies.get(action)
        if policy and policy.approvers is not None:
            return policy.approvers
        return self.risk_approvers.get(risk, self.approvers)

    def expiry(self, action: str) -> timedelta:
        policy = self.policies.get(action)
        return parse_duration(policy.expire_after if policy and policy.expire_after else self.expire_after)

    def kill_switch_admins(self) -> Approvers:
        """Who may turn the kill switch off: `admins`, else everyone who may approve something."""
        if not self.admins.empty:
            return self.admins
        everyone = [self.approvers, *self.risk_approvers.values(),
                    *(p.approvers for p in self.policies.values() if p.approvers is not None)]
        return Approvers(users=sorted({u for a in everyone for u in a.users}),
                         groups=sorted({g for a in everyone for g in a.groups}))

    def all_groups(self) -> set[str]:
        everyone = [self.approvers, self.admins, *self.risk_approvers.values(),
                    *(p.approvers for p in self.policies.values() if p.approvers is not None)]
        return {g for a in everyone for g in a.groups}
