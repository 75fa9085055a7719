"""`/sre history`: the incident memory's cases, and a person's corrections to them.

    /sre history [service]                       past cases, newest first (every service, or one)
    /sre history forget <id>                     never show or compare it again (the row stays, for the audit)
    /sre history correct <id> cause="…" [service=<name>]
    /sre history confirm [cause="…"] [service=<name>]   the newest answer here (no thread) was right: keep it as a case

Only approvers (of any action) and admins may confirm, forget or correct a case; every change and every refusal is
audited. A change is a compare-and-set on the case's version: one made by someone else in between is refused, not lost.
"""

from __future__ import annotations

import shlex
from typing import Any

from ..actions.approvals import audit
from ..actions.deps import ActionDeps
from ..analysis.memory import Fingerprint
from ..deps import Deps
from ..errors import UsageError
from .caller import Caller
from .memory import case_line, confirm_latest
from .reply import Reply, md_escape
from .verbs import Invocation

__all__ = ["history_command", "history_verb", "MAX_LISTED"]

MAX_LISTED = 20
_USAGE = ("`/sre history [service]`, `/sre history forget <id>`, `/sre history correct <id> cause=\"…\" [service=…]` "
          "or `/sre history confirm [cause=\"…\"] [service=…]`")


async def _refuse(deps: ActionDeps, caller: Caller | None, code: str, message: str, **data: Any) -> UsageError:
    await audit(deps, "refused", f"history {data.get('verb', '?')} refused: {code}",
                actor=caller.user if caller else None, user_name=caller.user_name if caller else None, code=code,
                **data)
    return UsageError(message)


def _may_change(deps: ActionDeps, caller: Caller) -> bool:
    cfg = deps.config.actions
    return any(a.admits(caller.user, caller.groups)
               for a in (cfg.kill_switch_admins(), cfg.approvers, *cfg.risk_approvers.values()))


async def history_verb(deps: Deps, inv: Invocation) -> Reply:
    """The `/sre history` verb (`services/commands.py` REGISTRY)."""
    return await history_command(deps, inv.args, inv.caller)


async def history_command(deps: Deps, args: str, caller: Caller | None) -> Reply:
    actions = ActionDeps.of(deps)
    try:
        words = shlex.split(args)
    except ValueError as e:
        raise UsageError(f"could not read that ({e}); quote the cause: cause=\"…\"") from None
    verb = words[0].lower() if words else ""
    if verb in ("forget", "correct", "confirm"):
        return await _change(actions, verb, words[1:], caller)
    if len(words) > 1:
        raise UsageError(f"{_USAGE}")
    service = words[0] if words else None
    cases = await actions.store.cases.list(service=service, limit=MAX_LISTED)
    title = f"Past cases of {service}" if service else "Past cases"
    if not cases:
        text = (f"No confirmed case of {md_escape(service)} yet." if service else "No confirmed case yet.") + (
            " A case is kept when someone answers *Right cause?* with Yes (or gives the real cause), or when an "
            "approved fix is followed by recovery.")
        return Reply(kind="incidents", title=title, text=text, ephemeral=True)
    lines = [f"• {case_line(c, escape=True)} — {md_escape(c.service or 'no service named')}" for c in cases]
    return Reply(kind="incidents", title=f"{title} (newest first, {len(cases)})", text="\n".join(lines),
                 ephemeral=True, footer="`/sre history forget <id>` · `/sre history correct <id> cause=\"…\"`")


async def _change(deps: ActionDeps, verb: str, words: list[str], caller: Caller | None) -> Reply:
    if caller is None:
        raise UsageError(f"`/sre history {verb}` needs to know who is asking: use it from Slack")
    if not words and verb != "confirm":
        raise await _refuse(deps, caller, "bad_input", f"`/sre history {verb}` needs a case id. {_USAGE}", verb=verb)
    case_id = "" if verb == "confirm" else words[0].lstrip("#")
    fields: dict[str, str] = {}
    for w in words[(0 if verb == "confirm" else 1):]:
        key, eq, value = w.partition("=")
        if not eq or key not in ("cause", "service") or verb == "forget":
            raise await _refuse(deps, caller, "bad_input", f"`{md_escape(w)}`: {_USAGE}", verb=verb, case=case_id[:64])
        fields[key] = " ".join(value.split())[:500]
    if verb == "correct" and not fields.get("cause") and not fields.get("service"):
        raise await _refuse(deps, caller, "bad_input", f"say what to correct: cause=\"…\" and/or service=…. {_USAGE}",
                            verb=verb, case=case_id[:64])
    if not _may_change(deps, caller):
        raise await _refuse(deps, caller, "unauthorised", "Only approvers and admins may confirm, forget or correct a "
                            "case.", verb=verb, case=case_id[:64])
    if verb == "confirm":
        confirmed = await confirm_latest(deps, channel=caller.channel, thread_ts=caller.thread_ts, user=caller.user,
                                         service=fields.get("service"), cause=fields.get("cause"))
        if confirmed is None:
            raise await _refuse(deps, caller, "unknown_case", "No unconfirmed answer here to confirm (answers in a "
                                "thread take *Right cause?* Yes).", verb=verb)
        return Reply(kind="incidents", title=f"Case #{confirmed.id} recorded", text=case_line(confirmed, escape=True),
                     footer=f"confirmed by <@{caller.user}>; a similar answer will say \"Seen before\"")
    case = await deps.store.cases.get(case_id) if len(case_id) <= 64 else None
    if case is None or case.status != "active":
        raise await _refuse(deps, caller, "unknown_case", f"There is no case #{md_escape(case_id[:64])} "
                            "(see `/sre history`).", verb=verb, case=case_id[:64])
    now = deps.clock()
    if verb == "forget":
        done = await deps.store.cases.forget(case.id, expected=case.version, now=now)
        what = "forgotten: it is no longer shown or compared"
    else:
        changes: dict[str, object] = {}
        if fields.get("cause"):
            changes["summary"] = fields["cause"]
            changes["cause_kind"] = "reported"
        if fields.get("service"):
            fp = Fingerprint.model_validate(case.fingerprint).confirmed(fields["service"], None)
            changes |= {"service": fields["service"], "fingerprint": fp.model_dump(mode="json")}
        done = await deps.store.cases.update(case.id, expected=case.version, now=now, statuses=("active",),
                                             **changes)
        what = "corrected"
    if done is None:
        raise await _refuse(deps, caller, "changed", f"Case #{case.id} changed while you were editing it; look again "
                            "with `/sre history`.", verb=verb, case=case.id)
    await audit(deps, f"case_{verb}", f"case #{case.id} {what}", actor=caller.user, user_name=caller.user_name,
                case=case.id, before={"summary": case.summary, "service": case.service, "status": case.status},
                after={"summary": done.summary, "service": done.service, "status": done.status})
    return Reply(kind="incidents", title=f"Case #{case.id} {what.split(':')[0]}", text=case_line(done, escape=True),
                 footer=f"by <@{caller.user}>")
