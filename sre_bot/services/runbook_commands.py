"""The `/sre runbook` verb, and runbook suggestions in an investigation's answer.

    /sre runbook list                  the loaded runbooks, what each checks and when it matches
    /sre runbook <name> [service]      run it: read-only steps, a fix it finds offered for approval

Slack runs it with one message redrawn after every step (`slack/runbooks.py`); a mention or the console gets the
finished run once (`runbook_command`). A person's mistake (an unknown runbook or service, a missing service) is
a UsageError said to them, and nothing runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..config import ServiceConfig
from ..deps import Deps
from ..errors import UsageError
from ..investigation import Investigation
from ..runbooks.match import Match, match_runbooks
from ..runbooks.model import Runbook
from ..runbooks.report import run_reply
from ..runbooks.run import RunState, new_run
from ..runbooks.runner import OnUpdate, execute_run
from .caller import Caller
from .names import known_services
from .reply import Reply, Section

__all__ = ["RunRequest", "parse_runbook_args", "resolve_run", "list_runbooks", "runbook_command",
           "prepare_run", "run_prepared", "runbook_matches", "with_runbook_suggestions", "MAX_SUGGESTIONS"]

MAX_SUGGESTIONS = 3


@dataclass(frozen=True)
class RunRequest:
    runbook: Runbook
    svc: ServiceConfig | None


def parse_runbook_args(args: str) -> tuple[str, str | None]:
    """`("list", None)` or `(runbook name, service or None)`."""
    words = args.split()
    if not words or (words[0].lower() == "list" and len(words) == 1):
        return "list", None
    if len(words) > 2:
        raise UsageError("`/sre runbook <name> [service]` takes a runbook name and at most one service")
    return words[0], (words[1] if len(words) == 2 else None)


async def resolve_run(deps: Deps, name: str, service: str | None) -> RunRequest:
    """The runbook and service to run; UsageError saying what to type instead."""
    rb = deps.runbooks.get(name)
    if rb is None:
        if not len(deps.runbooks):
            raise UsageError("no runbooks are loaded: put runbook YAML files in a folder and set `runbooks.dir` in "
                             "the config")
        raise UsageError(f"no runbook named `{name}` (runbooks: {', '.join(r.name for r in deps.runbooks.all())}); "
                         "`/sre runbook list` describes them")
    if service is None:
        if rb.needs_service:
            hint = rb.match.services[0] if rb.match.services else "<service>"
            raise UsageError(f"runbook `{name}` checks one service: `/sre runbook {name} {hint}`")
        return RunRequest(rb, None)
    names = await known_services(deps)
    canonical = names.get(service) or names.get(service.lower())
    if canonical is None:
        known = sorted(set(names.values()))
        shown = ", ".join(known[:15]) + (", …" if len(known) > 15 else "")
        raise UsageError(f"unknown service `{service}` (known: {shown or 'none: configure services or Prometheus'})")
    return RunRequest(rb, deps.config.service(canonical))


def list_runbooks(deps: Deps) -> Reply:
    books = deps.runbooks.all()
    if not books:
        return Reply(kind="help", title="Runbooks", ephemeral=True,
                     text="No runbooks are loaded. Put runbook YAML files in a folder, set `runbooks.dir` in the "
                          "config, and check them with `sre-bot runbook check <folder>`.")
    lines = []
    for rb in books:
        when = [f"alerts {', '.join(rb.match.alertnames)}"] if rb.match.alertnames else []
        when += [f"hypotheses {', '.join(rb.match.hypothesis_kinds)}"] if rb.match.hypothesis_kinds else []
        usage = f"`/sre runbook {rb.name}{' <service>' if rb.needs_service else ''}`"
        lines.append(f"• *{rb.name}* — {rb.title}: {len(rb.steps)} read-only steps"
                     + (f"; matches {'; '.join(when)}" if when else "") + f" · {usage}")
    return Reply(kind="help", title=f"Runbooks ({len(books)})", text="\n".join(lines), ephemeral=True,
                 footer=f"Loaded from {deps.runbooks.source} at start; every step only reads")


def prepare_run(deps: Deps, req: RunRequest, caller: Caller | None) -> RunState:
    """A new run's state (every step pending), before anything is read; UsageError when it cannot run here."""
    if deps.store is None:
        raise UsageError("runbook runs are audited: they need the bot's store (SRE_BOT_DB_URL); this surface has "
                         "none")
    if caller is None:
        raise UsageError("`/sre runbook` needs to know who is asking: use it from Slack")
    return new_run(req.runbook, req.svc.name if req.svc else None, requested_by=caller.user, now=deps.clock())


async def run_prepared(deps: Deps, req: RunRequest, state: RunState, caller: Caller, *, trigger: dict,
                       on_update: OnUpdate | None = None) -> RunState:
    return await execute_run(deps, state, svc=req.svc, caller=caller, trigger=trigger, on_update=on_update)


async def runbook_command(deps: Deps, args: str, caller: Caller | None) -> Reply:
    """`list`, or a whole run shown when it is finished (mentions and the console)."""
    name, service = parse_runbook_args(args)
    if name == "list":
        return list_runbooks(deps)
    req = await resolve_run(deps, name, service)
    state = prepare_run(deps, req, caller)
    assert caller is not None
    state = await run_prepared(deps, req, state, caller, trigger={"kind": "command", "text": f"runbook {args}"})
    return run_reply(state)


def runbook_matches(deps: Deps, inv: Investigation) -> list[Match]:
    """The runbooks an investigation's firing alerts and hypotheses match, best first (at most three)."""
    alerts = [(str(e.data["alertname"]), e.service) for e in inv.evidence
              if e.kind == "alert" and e.status == "ok" and e.data.get("alertname")]
    kinds = [(h.cause_kind, h.service) for h in inv.hypotheses]
    services: Sequence[str] = list(dict.fromkeys([*(h.service for h in inv.hypotheses),
                                                  *([inv.focus] if inv.focus else []), *inv.services]))
    return match_runbooks(deps.runbooks.all(), alert_names=alerts, services=services,
                          hypothesis_kinds=kinds)[:MAX_SUGGESTIONS]


def with_runbook_suggestions(deps: Deps, reply: Reply, inv: Investigation) -> Reply:
    """`reply` with a "Runbooks that match" section (the command to run each) when any runbook matches."""
    matches = runbook_matches(deps, inv)
    if not matches:
        return reply
    lines = [f"• runbook `{m.runbook}` matches{f' for {m.service}' if m.service else ''} "
             f"({', '.join(m.reasons)}): run it? `/sre runbook {m.runbook} {m.service or '<service>'}`"
             for m in matches]
    return reply.model_copy(update={"sections": [*reply.sections, Section(title="Runbooks that match",
                                                                          note="\n".join(lines))],
                                    "runbooks": matches})
