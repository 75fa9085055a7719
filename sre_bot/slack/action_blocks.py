"""An action request as a Slack message: what and why, the exact preview, risk, and Approve / Reject while pending;
after a decision the same message says who decided, when, and what the target answered.

Button values carry the request id and a fingerprint of what was shown (`policy.button_value`), never arguments.
"""

from __future__ import annotations

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from ..actions.catalog import CATALOG
from ..actions.policy import button_value
from ..store.records import ActionRequest
from .render import escape

__all__ = ["request_blocks", "APPROVE", "REJECT", "UNDO", "REJECT_MODAL"]

APPROVE, REJECT, UNDO = "sre_action_approve", "sre_action_reject", "sre_action_undo"
REJECT_MODAL = "sre_action_reject_reason"
_LIMIT = 2900


def _md(text: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=text if len(text) <= _LIMIT else text[:_LIMIT - 1] + "…", verbatim=True)


def _source(req: ActionRequest) -> str:
    s = req.source
    kind = s.get("kind")
    if kind == "llm":
        return f"drafted by {s.get('model')} ({s.get('prompt_version')}), checked against the evidence"
    if kind == "engine":
        return f"statistics engine {s.get('version', '')}".strip()
    if kind == "auto_undo":
        return "undo of an automatic action"
    if kind == "escalation":
        return f"the escalation rule for unknown issues (incident #{s.get('number', '?')})"
    if kind == "runbook":
        return f"remediation of runbook `{s.get('runbook', '?')}`, after its checks found the cause"
    return "asked for by a person"


def _status(req: ActionRequest) -> str:
    who = f"<@{req.decided_by}>" if req.decided_by and req.decided_by != "auto" else "the bot (autonomy: auto)"
    at = f"{req.decided_at:%Y-%m-%d %H:%M:%S} UTC" if req.decided_at else ""
    detail = escape(req.outcome_detail or "")
    if req.status == "executing":
        return (f"⏳ *Approved by {who}* at {at}; executing since {req.started_at:%H:%M:%S} UTC. If this does not "
                "change within a few minutes the bot stopped mid-run: the outcome is unknown and it will not run "
                "again by itself — check the target.")
    if req.status == "succeeded":
        return f"✅ *Approved by {who}* at {at} · *done* at {req.finished_at:%H:%M:%S} UTC: {detail}"
    if req.status == "failed":
        return f"❌ *Approved by {who}* at {at} · *failed*: {detail}"
    if req.status == "rejected":
        why = f": “{escape(req.reason_rejected)}”" if req.reason_rejected else ""
        return f"🚫 *Rejected by <@{req.decided_by}>* at {at}{why}"
    if req.status == "expired":
        return f"⌛ *Expired* at {req.expires_at:%H:%M} UTC without a decision; nothing ran."
    if req.status == "refused":
        return f"🛑 *Refused*: {escape(req.reason_rejected or '')}"
    return ""


def request_blocks(req: ActionRequest, *, kill_switch: str | None = None, approvers: str = "",
                   note: str | None = None, undo: bool = False) -> tuple[str, list[dict]]:
    """(fallback text, blocks) for the request in its current state; `note` is Slack mrkdwn, already escaped."""
    spec = CATALOG.get(req.action)
    target = req.args.get("service") or req.args.get("app") or req.args.get("name") or ""
    title = f"🔧 {'Ran' if req.decided_by == 'auto' else 'Proposed'}: {req.action}" + (f" — {target}" if target else "")
    blocks: list[Block] = [HeaderBlock(text=PlainTextObject(text=title[:150]))]
    if req.reason:
        ev = ", ".join(f"`{escape(i)}`" for i in req.evidence_ids[:8])
        blocks.append(SectionBlock(text=_md(f"*Why:* {escape(req.reason)}" + (f"\nEvidence: {ev}" if ev else ""))))
    blocks.append(SectionBlock(text=_md(f"*What will happen:* {escape(req.preview)}")))
    facts = [f"risk *{req.risk}*", "reversible" if req.reversible else "*not reversible*"]
    if spec is not None:
        facts.append(f"blast radius: {spec.blast_radius}")
    facts.append(_source(req))
    if req.requested_by:
        facts.append(f"requested by <@{req.requested_by}>")
    blocks.append(ContextBlock(elements=[_md(" · ".join(facts))]))
    status = _status(req)
    if status:
        blocks.append(SectionBlock(text=_md(status)))
    if note:
        blocks.append(ContextBlock(elements=[_md(note)]))  # the caller's own text, already escaped
    if req.status == "pending":
        if kill_switch:
            blocks.append(SectionBlock(text=_md(f"🛑 *Kill switch is on* ({kill_switch}): approving runs nothing "
                                                "until it is off.")))
        blocks.append(ContextBlock(elements=[_md(
            f"Expires {req.expires_at:%Y-%m-%d %H:%M} UTC · who may approve: {approvers or 'see the config'}"
            + (" · needs someone other than the requester" if req.risk == "high" else ""))]))
        value = button_value(req)
        confirm = ConfirmObject(title="Run this for real?", text=_md(escape(req.preview)[:290]), confirm="Approve",
                                deny="Cancel") if req.risk == "high" else None
        blocks.append(ActionsBlock(block_id=f"action:{req.id}", elements=[
            ButtonElement(text="Approve", action_id=APPROVE, value=value, style="primary", confirm=confirm),
            ButtonElement(text="Reject", action_id=REJECT, value=value, style="danger"),
        ]))
    elif undo and req.status == "succeeded":
        blocks.append(ActionsBlock(block_id=f"undo:{req.id}", elements=[
            ButtonElement(text="Undo", action_id=UNDO, value=button_value(req))]))
    fallback = f"{escape(title)}: {_status(req) or 'waiting for approval'}"
    return fallback[:3000], [b.to_dict() for b in blocks]
