"""The `/sre` verbs: parse a command line, run the service, return a Reply. Shared by Slack (slash commands and
mentions) and the console.

`REGISTRY` is the one list of verbs (`verbs.py`): help, the manifest's usage hint and the dispatch come from it.
The handlers of the action, incident, accuracy and runbook verbs live in their own modules (`action_commands.py`,
`incident_commands.py`, `accuracy_commands.py`, `runbook_commands.py`); the read-only telemetry verbs are here.

A window is a trailing duration (`30m`, `2h`) or `since <time>`; the default is the configured window (1h).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from ..actions.catalog import CATALOG
from ..deps import Deps
from ..errors import UsageError
from ..models import TimeRange
from ..store.errors import StoreError
from ..tools.deploys import all_apps, app_status
from ..tools.logs import error_templates, log_lines
from ..tools.query import promql_range
from ..windows import format_duration, looks_like_window, parse_window
from .accuracy_commands import accuracy_command, autonomy_command
from .action_commands import killswitch, list_actions, run_action, show_audit
from .caller import Caller
from .deploy_check import deploy_check_command
from .history_commands import history_verb
from .incident_commands import list_incidents, show_incident
from .reply import Reply, Section, gaps_of
from .runbook_commands import runbook_command
from .status import status_report
from .traces import traces_command
from .verbs import Invocation, Registry, Verb

__all__ = ["REGISTRY", "ParsedCommand", "parse_command", "run_command", "help_text"]

_QUOTES = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'"})


@dataclass(frozen=True)
class ParsedCommand:
    verb: str
    args: str  # what is left after the verb and the window
    window_text: str | None


def help_text(deps: Deps) -> str:
    """Every registered verb, one line each, in registry order."""
    lines = REGISTRY.help_lines(actions=", ".join(CATALOG))
    return "\n".join([
        "*sre-bot* answers from your telemetry, with the evidence for every number.", *lines,
        f"A window is `30m`, `2h`, `1d` or `since 14:05` (UTC); the default is "
        f"{format_duration(deps.default_window)}.",
        "Or mention me: `@sre-bot why is checkout slow?` (every verb works in a mention too: `@sre-bot incidents`)."])


def _split_window(rest: str) -> tuple[str, str | None]:
    """Take a trailing window off `rest`: `... since 14:05` or a final duration token."""
    m = re.search(r"(?:^|\s)(since\s+.+)$", rest, flags=re.IGNORECASE)
    if m:
        return rest[: m.start()].strip(), m.group(1).strip()
    head, _, last = rest.rpartition(" ")
    if last and looks_like_window(last):
        return head.strip(), last
    return rest.strip(), None


def parse_command(text: str) -> ParsedCommand:
    text = text.translate(_QUOTES).strip()
    if not text:
        return ParsedCommand("help", "", None)
    verb, _, rest = text.partition(" ")
    verb = verb.lower()
    spec = REGISTRY.get(verb)
    if spec is None:
        raise UsageError(f"unknown command `{verb}`. Try `/sre help`.")
    if not spec.window:
        return ParsedCommand(verb, rest.strip(), None)
    args, window = _split_window(rest.strip())
    return ParsedCommand(verb, args, window)


async def run_command(deps: Deps, text: str, caller: Caller | None = None) -> Reply:
    """Run one `/sre` command line; a person's mistake comes back as an error Reply, never an exception.

    A verb that acts on the caller's authority gets the caller with their user groups resolved (every surface's
    Caller can resolve them; the others never ask Slack)."""
    try:
        cmd = parse_command(text)
        verb = REGISTRY[cmd.verb]
        window = parse_window(cmd.window_text, now=deps.clock(), default=deps.default_window) if verb.window else None
        if verb.groups and caller is not None:
            caller = await caller.resolved()
        return await verb.run(deps, Invocation(cmd.args, window, caller))
    except UsageError as e:
        return Reply.error(str(e))
    except StoreError as e:  # said to the person, instead of nothing after "Looking…"
        return Reply.error(f"Could not finish: the store (approvals, audit, kill switch) did not answer ({e}). "
                           "Try again in a moment.")


def _window(inv: Invocation) -> TimeRange:
    assert inv.window is not None, "a verb registered with window=True always gets one"
    return inv.window


def _one_word(args: str, verb: str, what: str) -> str:
    words = args.split()
    if not words:
        raise UsageError(f"`/sre {verb}` needs a {what}: `/sre {verb} <{what}> [window]`")
    if len(words) > 1 and verb == "status":
        raise UsageError(f"`/sre status` takes one service, got `{args}`. Windows look like `30m` or `since 14:05`.")
    return words[0]


async def _help(deps: Deps, inv: Invocation) -> Reply:
    return Reply(kind="help", title="sre-bot help", ephemeral=True, text=help_text(deps))


async def _status(deps: Deps, inv: Invocation) -> Reply:
    return await status_report(deps, _one_word(inv.args, "status", "service"), _window(inv))


async def _query(deps: Deps, inv: Invocation) -> Reply:
    if not inv.args:
        raise UsageError("`/sre query` needs PromQL: `/sre query sum(rate(http_requests_total[5m])) 2h`")
    window = _window(inv)
    ev = await promql_range(deps, inv.args, window)
    return Reply(kind="query", title="PromQL", window=window, sections=[Section(title="Result", evidence=[ev])],
                 gaps=gaps_of([ev]))


async def _logs(deps: Deps, inv: Invocation) -> Reply:
    try:
        words = shlex.split(inv.args)
    except ValueError as e:
        raise UsageError(f"could not read the filter ({e}); quote it like `\"pool exhausted\"`") from None
    if not words:
        raise UsageError("`/sre logs` needs a service: `/sre logs <service> [filter] [window]`")
    window = _window(inv)
    svc = deps.config.service(words[0])
    text = " ".join(words[1:]) or None
    lines = await log_lines(deps, svc, window, text=text)
    sections = [Section(title="Newest lines", evidence=[lines])]
    if text is None:
        sections.append(Section(title="Top error templates", evidence=await error_templates(deps, svc, window)))
    all_ev = [e for s in sections for e in s.evidence]
    return Reply(kind="logs", title=f"Logs of {svc.name}" + (f" containing {text!r}" if text else ""),
                 window=window, sections=sections, gaps=gaps_of(all_ev))


async def _deploys(deps: Deps, inv: Invocation) -> Reply:
    app = inv.args.strip()
    if app:
        if len(app.split()) > 1:
            raise UsageError("`/sre deploys` takes at most one app name")
        ev = await app_status(deps, app, history=10)
        return Reply(kind="deploys", title=f"Deploys of {app}", sections=[Section(title="Argo CD", evidence=ev)],
                     gaps=gaps_of(ev))
    ev = await all_apps(deps, now=deps.clock())
    return Reply(kind="deploys", title="Argo CD applications", sections=[Section(title="Applications", evidence=ev)],
                 gaps=gaps_of(ev))


async def _run(deps: Deps, inv: Invocation) -> Reply:
    return await run_action(deps, inv.args, inv.caller)


async def _actions(deps: Deps, inv: Invocation) -> Reply:
    return await list_actions(deps)


async def _audit(deps: Deps, inv: Invocation) -> Reply:
    return await show_audit(deps, inv.args)


async def _killswitch(deps: Deps, inv: Invocation) -> Reply:
    return await killswitch(deps, inv.args, inv.caller)


async def _incidents(deps: Deps, inv: Invocation) -> Reply:
    return await list_incidents(deps, inv.args)


async def _incident(deps: Deps, inv: Invocation) -> Reply:
    return await show_incident(deps, inv.args)


async def _runbook(deps: Deps, inv: Invocation) -> Reply:
    return await runbook_command(deps, inv.args, inv.caller)


async def _accuracy(deps: Deps, inv: Invocation) -> Reply:
    return await accuracy_command(deps, inv.args)


async def _autonomy(deps: Deps, inv: Invocation) -> Reply:
    return await autonomy_command(deps, inv.args, inv.caller)


REGISTRY = Registry([
    Verb("status", "<service> [window]", "golden signals now vs baseline, firing alerts, Argo CD state, top error "
         "logs", _status, window=True),
    Verb("query", "<promql> [window]", "run a PromQL range query (top series shown)", _query, window=True),
    Verb("logs", "<service> [filter] [window]", "recent log lines, optionally containing `filter`", _logs,
         window=True),
    Verb("traces", "<service> [window]", "slowest and failed traces from Tempo, each with the span that dominates "
         "its critical path", traces_command, window=True),
    Verb("deploys", "[app]", "Argo CD apps and their last deploys", _deploys),
    Verb("deploy-check", "<app> [revision]", "a verdict on a deploy (its signals and error logs after vs before); "
         "bad offers a rollback", deploy_check_command),
    Verb("incidents", "[all]", "open incidents made from Alertmanager's alerts", _incidents),
    Verb("incident", "<n>", "one incident in detail: its alerts, why each joined, the timeline", _incident),
    Verb("runbook", "list|<name> [service]", "the runbooks, or run one's read-only checks step by step; a fix it "
         "finds is offered for approval", _runbook),
    Verb("run", "<action> [service] key=value …", "ask for an action; it is posted here for an approver to click "
         "(actions: {actions})", _run),
    Verb("actions", "", "pending approvals, and anything stuck mid-run", _actions),
    Verb("audit", "[n]", "the newest audit records", _audit),
    Verb("killswitch", "on|off|status", "stop (or allow again) every execution", _killswitch, groups=True),
    Verb("accuracy", "[days]", "how often people said answers named the right cause, and how well the confidence "
         "matched", _accuracy),
    Verb("autonomy", "[<action> <level>]", "each action's autonomy (feedback lowers it); with an action and a "
         "level, raise it back", _autonomy, groups=True),
    Verb("history", "[service]|confirm|forget <id>|correct <id> cause=…", "past incidents whose cause was confirmed, "
         "newest first; approvers may confirm the last answer, forget or correct a case", history_verb, groups=True),
    Verb("help", "", "this message", _help, instant=True),
])
