"""Who may do what to an action request, decided without I/O: each check returns a `Refusal` or None.

The order matters and is the order a person would want to hear it: a button that does not match its request
(tampered or stale), the kill switch, the channel allow-list, the request's state, then who is clicking.

Who proposed a request (its `source.kind`) decides whether it may ever run without a click: only the
deterministic parts (the statistics engine, a runbook's remediation) and a person's own `/sre run` may take the
`auto` rung; a model's suggestion always waits for a person (`autonomy_for`, `unattended_refusal`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, NamedTuple

from ..store.records import ActionRequest
from .catalog import CATALOG
from .config import AUTONOMY_LEVELS, ActionsConfig, Approvers, Autonomy

__all__ = ["Refusal", "Click", "Rung", "fingerprint", "button_value", "parse_button_value", "check_decision",
           "effective_autonomy", "autonomy_for", "unattended_refusal", "UNATTENDED_SOURCES", "may_switch",
           "mention_list"]

RefusalCode = Literal["tampered", "kill_switch", "channel", "decided", "expired", "unauthorised", "two_person",
                      "auto_not_allowed", "ungrounded", "unprepared", "too_many", "not_posted"]

# The sources whose requests may run at `auto`: deterministic code, or a person asking for it themselves.
UNATTENDED_SOURCES = frozenset({"engine", "runbook", "person"})


@dataclass(frozen=True)
class Refusal:
    code: RefusalCode
    message: str  # said to the person who clicked, privately


@dataclass(frozen=True)
class Click:
    """One Approve or Reject click as Slack delivered it (signature already verified by Bolt)."""

    user: str
    user_name: str | None
    channel: str
    message_ts: str | None
    request_id: str
    fingerprint: str
    groups: frozenset[str] = frozenset()  # the configured user groups this user belongs to


def fingerprint(req: ActionRequest) -> str:
    """A digest of what the person was shown and will run: id, channel, action, arguments and preview."""
    canonical = json.dumps([req.id, req.channel, req.action, req.args, req.preview], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:24]


def button_value(req: ActionRequest) -> str:
    return f"{req.id}:{fingerprint(req)}"


def parse_button_value(value: str) -> tuple[str, str]:
    """`(request id, fingerprint)`; both empty when the value is not in that shape."""
    rid, sep, digest = (value or "").partition(":")
    return (rid, digest) if sep and rid and digest else ("", "")


def mention_list(a: Approvers) -> str:
    names = [f"<@{u}>" for u in a.users] + [f"<!subteam^{g}>" for g in a.groups]
    return ", ".join(names) if names else "nobody (set `actions.approvers` in the config)"


def effective_autonomy(cfg: ActionsConfig, action: str,
                       lowered: tuple[Autonomy, str] | None = None) -> tuple[Autonomy, str | None]:
    """The level the bot acts at, and why it is lower than configured (no approvers → suggest only). `lowered`:
    the store-backed level (stepped down by feedback, or set by a person) and why; it can only lower the config.
    The action's level whoever proposes it: a proposal is handled at `autonomy_for`, which also weighs its source."""
    level: Autonomy = cfg.autonomy(action)
    why: str | None = None
    if lowered is not None and AUTONOMY_LEVELS.index(lowered[0]) < AUTONOMY_LEVELS.index(level):
        level, why = lowered
    spec = CATALOG[action]
    if level in ("approve", "auto") and cfg.approvers_for(action, spec.risk).empty:
        return "suggest", f"nobody may approve {action} (no approvers configured)"
    return level, why


class Rung(NamedTuple):
    """The level a proposal is handled at, why it is lower than configured, and the refusal of `auto` when who
    proposed it may not run anything without a click (to audit)."""

    level: Autonomy
    why: str | None
    refused: Refusal | None = None


def unattended_refusal(source: Mapping[str, Any]) -> Refusal | None:
    """Why a request from `source` (its `source.kind`) may not run without a person's click, or None when it may."""
    kind = source.get("kind")
    if kind in UNATTENDED_SOURCES:
        return None
    if kind == "escalation":  # the escalation rule (deterministic) says itself when its page must wait for a click
        held = source.get("held")
        return None if not held else Refusal("auto_not_allowed", f"the escalation rule holds it for a person: "
                                                                 f"{held}")
    who = "a model" if kind == "llm" else f"source {kind!r}" if kind else "an unknown source"
    return Refusal("auto_not_allowed", f"suggested by {who}: only the statistics engine, runbooks and people's own "
                                       "requests run without a click, so it waits for a person's approval")


def autonomy_for(cfg: ActionsConfig, action: str, source: Mapping[str, Any],
                 lowered: tuple[Autonomy, str] | None = None) -> Rung:
    """`effective_autonomy` for a proposal from `source`: a source that may not act alone never gets `auto`."""
    level, why = effective_autonomy(cfg, action, lowered)
    if level == "auto" and (refused := unattended_refusal(source)) is not None:
        return Rung("approve", refused.message, refused)
    return Rung(level, why)


def check_decision(req: ActionRequest | None, click: Click, cfg: ActionsConfig, *, now: datetime,
                   kill_switch: str | None, deciding: Literal["approve", "reject"]) -> Refusal | None:
    """Why this click may not approve (or reject) the request, or None when it may.

    `kill_switch` is None when off, else the sentence that says who turned it on. Rejecting is allowed while the
    kill switch is on (it only stops things), and a requester may always withdraw their own request.
    """
    if req is None or click.fingerprint != fingerprint(req) or click.channel != req.channel \
            or (req.message_ts is not None and click.message_ts != req.message_ts):
        return Refusal("tampered", "This button does not match the request it names (edited, copied from another "
                                   "message or channel, or stale). Nothing was run; the attempt is in the audit log.")
    if deciding == "approve" and kill_switch:
        return Refusal("kill_switch", f"The kill switch is on ({kill_switch}): nothing executes, approved or not. "
                                      "The request stays pending.")
    if cfg.channels and req.channel not in cfg.channels:
        return Refusal("channel", "Actions are not allowed from this channel (see `actions.channels`).")
    if req.status != "pending":
        who = f" by <@{req.decided_by}>" if req.decided_by else ""
        when = f" at {req.decided_at:%H:%M:%S} UTC" if req.decided_at else ""
        return Refusal("decided", f"Already {req.status}{who}{when}; nothing more happens.")
    if req.expires_at <= now:
        return Refusal("expired", f"This request expired at {req.expires_at:%H:%M} UTC; ask again to get a "
                                  "fresh one.")
    if deciding == "reject" and click.user == req.requested_by:
        return None
    approvers = cfg.approvers_for(req.action, req.risk)
    if not approvers.admits(click.user, click.groups):
        return Refusal("unauthorised", f"You are not an approver for {req.action} ({req.risk} risk). "
                                       f"Who can: {mention_list(approvers)}.")
    if deciding == "approve" and req.risk in cfg.two_person and click.user == req.requested_by:
        return Refusal("two_person", f"{req.action} is {req.risk} risk: someone other than the requester must "
                                     "approve it.")
    return None


def may_switch(cfg: ActionsConfig, user: str, groups: frozenset[str], *, on: bool) -> Refusal | None:
    """Anyone who may approve something, or an admin, may stop everything; only admins may start it again."""
    admins = cfg.kill_switch_admins()
    if admins.admits(user, groups):
        return None
    if on and any(a.admits(user, groups) for a in (cfg.approvers, *cfg.risk_approvers.values())):
        return None
    return Refusal("unauthorised", f"Only {mention_list(admins)} may turn the kill switch "
                                   f"{'on' if on else 'off'}.")
