"""The action verbs of `/sre`: run, actions, audit, killswitch.

    /sre run argocd.rollback checkout [to_history_id=41] [reason="bad deploy"]
    /sre run alertmanager.silence alertname=HighLatency service=checkout duration=2h comment="fix rolling out"
    /sre actions                  pending approvals (and anything stuck mid-run)
    /sre audit [n]                the newest audit records (default 10, at most 50)
    /sre killswitch on|off|status

Each verb enters the action path, so each builds its `ActionDeps` first (a clear error when there is no store).
"""

from __future__ import annotations

import shlex

from ..actions.approvals import kill_switch_state, propose, set_kill_switch
from ..actions.catalog import CATALOG, SilenceArgs, validate_action
from ..actions.deps import ActionDeps
from ..actions.executor import EXECUTION_TIMEOUT
from ..deps import Deps
from ..errors import UsageError
from ..store.records import ActionRequest
from .caller import Caller
from .names import known_services
from .reply import Reply, md_escape

__all__ = ["run_action", "list_actions", "show_audit", "killswitch"]


def _parse_run(args: str) -> tuple[str, dict[str, object], str]:
    try:
        words = shlex.split(args)
    except ValueError as e:
        raise UsageError(f"could not read the arguments ({e}); quote values with spaces: comment=\"…\"") from None
    if not words:
        names = ", ".join(CATALOG)
        raise UsageError(f"`/sre run` needs an action: `/sre run <action> [service] key=value …` ({names})")
    name, rest = words[0], words[1:]
    spec = CATALOG.get(name)
    if spec is None:
        raise UsageError(f"unknown action `{name}` (actions: {', '.join(CATALOG)})")
    fields = spec.args.model_fields
    values: dict[str, object] = {}
    reason = ""
    for i, w in enumerate(rest):
        key, eq, value = w.partition("=")
        if not eq:
            if i == 0 and "service" in fields:
                values["service"] = w
                continue
            raise UsageError(f"`{w}`: arguments are key=value (fields of {name}: {', '.join(fields)})")
        if key == "reason":
            reason = value
        elif key in fields:
            values[key] = value
        elif spec.args is SilenceArgs:  # any other key of a silence is a label matcher
            values.setdefault("matchers", {})[key] = value  # type: ignore[index]
        else:
            raise UsageError(f"{name} has no argument `{key}` (it takes {', '.join(fields)})")
    return name, values, reason


async def run_action(deps: Deps, args: str, caller: Caller | None) -> Reply:
    """A person asks for an action: validated, prepared, recorded, and posted for approval (or run, at `auto`)."""
    actions = ActionDeps.of(deps)
    if caller is None:
        raise UsageError("`/sre run` needs to know who is asking: use it from Slack")
    name, values, reason = _parse_run(args)
    names = await known_services(actions) if "service" in values else {}
    proposal = validate_action(name, values, reason=reason or f"asked for by {caller.user_name or caller.user}",
                               evidence_ids=[], evidence={}, services=names,
                               webhooks=actions.config.actions.webhooks.keys(), by_person=True)
    proposed = await propose(actions, proposal, source={"kind": "person", "user": caller.user},
                             trigger={"kind": "command", "text": f"/sre run {args}"}, requested_by=caller.user,
                             requested_by_name=caller.user_name, channel=caller.channel, thread_ts=caller.thread_ts)
    if proposed.kind in ("approve", "auto") and proposed.request is not None:
        notes = {proposed.request.id: proposed.note} if proposed.note else {}
        return Reply(kind="actions", title=f"Requested {proposal.describe()}", requests=[proposed.request],
                     request_notes=notes, text=proposed.note)
    if proposed.kind == "error":
        raise UsageError(proposed.note or "could not prepare the action")
    return Reply(kind="actions", title=f"{proposal.describe()} is not available here",
                 text=proposed.note or "turned off in the config", ephemeral=True)


def _who(r: ActionRequest) -> str:
    if r.requested_by:
        return f"<@{r.requested_by}>"
    return f"the {r.source.get('kind', 'bot')}" + (" (an incident's investigation)" if r.thread_ts else "")


def _where(channel: str) -> str:
    """A channel id as a Slack link; a channel configured by name (`#incidents`) as written."""
    return f"<#{channel}>" if channel[:1] in ("C", "G") and channel.isalnum() else md_escape(channel)


async def list_actions(deps: Deps) -> Reply:
    actions = ActionDeps.of(deps)
    now = actions.clock()
    pending = await actions.store.pending(now)
    stuck = await actions.store.stuck(now, EXECUTION_TIMEOUT)
    killed = await kill_switch_state(actions)
    lines = [f"• `{r.action}` {md_escape(r.preview[:140])} — requested by {_who(r)} in {_where(r.channel)}, "
             f"expires {r.expires_at:%H:%M} UTC" for r in pending]
    lines += [f"• ⚠️ `{r.action}` approved by <@{r.decided_by}> has been executing since {r.started_at:%H:%M} UTC "
              "with no recorded outcome: check the target" for r in stuck]
    text = "\n".join(lines) or "Nothing is waiting for approval."
    if killed:
        text = f"🛑 Kill switch is on ({killed}): nothing executes.\n" + text
    return Reply(kind="actions", title=f"Pending approvals ({len(pending)})", text=text, ephemeral=True)


async def show_audit(deps: Deps, args: str) -> Reply:
    actions = ActionDeps.of(deps)
    arg = args.strip() or "10"
    if not (arg.isascii() and arg.isdigit() and len(arg) <= 6) or not 1 <= int(arg) <= 50:  # "²".isdigit()
        raise UsageError("`/sre audit [n]` takes a number from 1 to 50")
    records = await actions.store.latest(int(arg))
    lines = [f"• {r.at:%m-%d %H:%M:%S} `{r.kind}` {md_escape(r.summary[:200])}" + (f" — <@{r.actor}>" if r.actor and
             r.actor != "auto" else "") + (f" (`{r.request_id[:8]}`)" if r.request_id else "") for r in records]
    return Reply(kind="audit", title=f"Audit: the newest {len(records)} record(s)",
                 text="\n".join(lines) or "The audit log is empty.", ephemeral=True,
                 footer="Full export: `sre-bot audit export --since 7d --format jsonl`")


async def killswitch(deps: Deps, args: str, caller: Caller | None) -> Reply:
    actions = ActionDeps.of(deps)
    verb = args.strip().lower() or "status"
    if verb == "status":
        killed = await kill_switch_state(actions)
        text = (f"🛑 Kill switch is *on* ({killed}): nothing executes." if killed
                else "✅ Kill switch is *off*: approved actions execute.")
        return Reply(kind="killswitch", title="Kill switch", text=text, ephemeral=True)
    if verb not in ("on", "off"):
        raise UsageError("`/sre killswitch on|off|status`")
    if caller is None:
        raise UsageError("the kill switch is flipped from Slack (`/sre killswitch`) or SRE_BOT_KILL_SWITCH=1")
    text = await set_kill_switch(actions, user=caller.user, user_name=caller.user_name, groups=caller.groups,
                                 on=verb == "on")
    return Reply(kind="killswitch", title="Kill switch", text=f"{text} (by <@{caller.user}>)")
