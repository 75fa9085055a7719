"""`eda.event`: a known-issue event for Event-Driven Ansible, pinned when prepared and sent once when approved.

`prepare_eda` builds the whole event when the request is made (incident, service and its namespace, cause kind,
fix, the request id, who asked, the channel, the bot's version) and pins it in the request's arguments; the preview
shows it verbatim. `run_eda` sends exactly that event, adding only the approver (unknown until the click) and the
approval time. Exactly once: only the store's atomic claim leads here (`approvals.py`), and the request id in the
event lets the rulebook (`throttle: once_within` grouped by `event.payload.request_id`) or the playbook drop a copy
a person re-sent by hand.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..errors import UsageError

if TYPE_CHECKING:
    from ..deps import Deps
    from ..store.records import ActionRequest
    from .catalog import ActionSpec
    from .executor import Outcome
    from .prepare import Prepared

__all__ = ["prepare_eda", "run_eda", "NOT_CONFIGURED"]

NOT_CONFIGURED = ("Event-Driven Ansible is not configured: set SRE_BOT_EDA_URL (the ansible-rulebook webhook "
                  "source), SRE_BOT_EDA_TOKEN and SRE_BOT_EDA_HMAC_SECRET")


async def prepare_eda(deps: Deps, spec: ActionSpec, args: dict[str, Any], *, now: datetime, requested_by: str | None,
                      request_id: str, channel: str) -> Prepared:
    """The event, built and pinned in `args["event"]`; UsageError when EDA is not configured."""
    from .prepare import Prepared

    if deps.eda is None:
        raise UsageError(f"{spec.name}: {NOT_CONFIGURED}")
    svc = deps.config.service(args["service"])
    event: dict[str, Any] = {
        "source": "sre-bot",
        "sre_bot_version": __version__,
        "request_id": request_id,
        "incident_id": args.get("incident_id"),
        "service": svc.name,
        "namespace": deps.config.namespace_of(svc),
        "cause": args["cause"],
        "fix": args["fix"],
        "requested_by": requested_by,
        "channel": channel,
        "prepared_at": now.isoformat(),
    }
    args["event"] = event
    shown = json.dumps(event, sort_keys=True, ensure_ascii=False)
    preview = (f"Send this event to {deps.eda.where} (bearer token, HMAC-SHA256 signed), plus the approver and the "
               f"time of approval: {shown}. Its rulebook decides what runs for cause `{args['cause']}` and fix "
               f"`{args['fix']}` (the team's playbook); sent once, with request id `{request_id}` to dedupe on.")
    return Prepared(spec.name, args, preview[:1500], spec)


async def run_eda(deps: Deps, req: ActionRequest) -> Outcome:
    """Send the pinned event once; the Outcome keeps the source's status and words."""
    from .executor import Outcome

    if deps.eda is None:
        return Outcome(False, f"nothing sent: {NOT_CONFIGURED}")
    pinned = req.args.get("event")
    if not isinstance(pinned, dict) or pinned.get("request_id") != req.id:
        return Outcome(False, "nothing sent: the request carries no prepared event for this request id",
                       {"error": "unprepared"})
    approved_at = req.decided_at or req.started_at or deps.clock()
    event = {**pinned, "approver": req.decided_by or "auto", "approver_name": req.decided_by_name,
             "approved_at": approved_at.isoformat()}
    result = await deps.eda.send(event, request_id=req.id)
    return Outcome(True, f"ansible-rulebook received the event ({result.status}: {result.body[:200] or 'no body'});"
                         " its rulebook runs the playbook for this cause",
                   {"status": result.status, "body": result.body, "request_id": req.id})
