"""The `/sre` verbs: parse a command line, run the service, return a Reply. Shared by Slack and the console.

    help | status <service> [window] | query <promql> [window] | logs <service> [filter] [window] | deploys [app]
    run <action> … | actions | audit [n] | killswitch on|off|status   (`action_commands.py`)
    incidents [all] | incident <n>                                    (`incident_commands.py`)
    accuracy [days] | autonomy [<action> <level>]                     (`accuracy_commands.py`)
    runbook list | runbook <name> [service]                           (`runbook_commands.py`)

A window is a trailing duration (`30m`, `2h`) or `since <time>`; the default is the configured window (1h).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from ..deps import Deps
from ..errors import UsageError
from ..models import TimeRange
from ..tools.deploys import all_apps, app_status
from ..tools.logs import error_templates, log_lines
from ..tools.query import promql_range
from ..windows import format_duration, looks_like_window, parse_window
from ..actions.catalog import CATALOG
from .accuracy_commands import accuracy_command, autonomy_command
from .action_commands import ACTION_HELP, killswitch, list_actions, run_action, show_audit
from .caller import Caller
from .incident_commands import list_incidents, show_incident
from .reply import Reply, Section, gaps_of
from .runbook_commands import runbook_command
from .status import status_report

__all__ = ["VERBS", "HELP", "ParsedCommand", "parse_command", "run_command"]

VERBS = ("help", "status", "query", "logs", "deploys", "run", "actions", "audit", "killswitch", "incidents",
         "incident", "runbook", "accuracy", "autonomy")
_WHOLE_LINE = ("help", "deploys", "run", "actions", "audit", "killswitch", "incidents",
               "incident", "runbook", "accuracy", "autonomy")  # no trailing window

HELP = """\
*sre-bot* answers from your telemetry, with the evidence for every number.
• `/sre status <service> [window]` — golden signals now vs baseline, firing alerts, Argo CD state, top error logs
• `/sre query <promql> [window]` — run a PromQL range query (top series shown)
• `/sre logs <service> [filter] [window]` — recent log lines, optionally containing `filter`
• `/sre deploys [app]` — Argo CD apps and their last deploys
• `/sre incidents [all]` — open incidents made from Alertmanager's alerts; `/sre incident <n>` — one in detail
• `/sre runbook list` · `/sre runbook <name> [service]` — run a runbook's read-only checks step by step; a fix it
  finds is offered for approval
• `/sre accuracy [days]` — how often people said answers named the right cause, and how well the confidence matched
• `/sre autonomy` — each action's autonomy (feedback lowers it); `/sre autonomy <action> <level>` — raise it back
• `/sre help` — this message
{actions}
A window is `30m`, `2h`, `1d` or `since 14:05` (UTC); the default is {default}.
Or mention me: `@sre-bot why is checkout slow?`"""

_QUOTES = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'"})


@dataclass(frozen=True)
class ParsedCommand:
    verb: str
    args: str  # what is left after the verb and the window
    window_text: str | None


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
    if verb not in VERBS:
        raise UsageError(f"unknown command `{verb}`. Try `/sre help`.")
    if verb in _WHOLE_LINE:
        return ParsedCommand(verb, rest.strip(), None)
    args, window = _split_window(rest.strip())
    return ParsedCommand(verb, args, window)


def _one_word(args: str, verb: str, what: str) -> str:
    words = args.split()
    if not words:
        raise UsageError(f"`/sre {verb}` needs a {what}: `/sre {verb} <{what}> [window]`")
    if len(words) > 1 and verb == "status":
        raise UsageError(f"`/sre status` takes one service, got `{args}`. Windows look like `30m` or `since 14:05`.")
    return words[0]


async def run_command(deps: Deps, text: str, caller: Caller | None = None) -> Reply:
    """Run one `/sre` command line; a person's mistake comes back as an error Reply, never an exception."""
    try:
        cmd = parse_command(text)
        if cmd.verb == "run":
            return await run_action(deps, cmd.args, caller)
        if cmd.verb == "actions":
            return await list_actions(deps)
        if cmd.verb == "audit":
            return await show_audit(deps, cmd.args)
        if cmd.verb == "killswitch":
            return await killswitch(deps, cmd.args, caller)
        if cmd.verb == "incidents":
            return await list_incidents(deps, cmd.args)
        if cmd.verb == "incident":
            return await show_incident(deps, cmd.args)
        if cmd.verb == "runbook":
            return await runbook_command(deps, cmd.args, caller)
        if cmd.verb == "accuracy":
            return await accuracy_command(deps, cmd.args)
        if cmd.verb == "autonomy":
            return await autonomy_command(deps, cmd.args, caller)
        now = deps.clock()
        window = parse_window(cmd.window_text, now=now, default=deps.default_window)
        return await _dispatch(deps, cmd, window)
    except UsageError as e:
        return Reply.error(str(e))


async def _dispatch(deps: Deps, cmd: ParsedCommand, window: TimeRange) -> Reply:
    if cmd.verb == "help":
        actions = ACTION_HELP.format(actions=", ".join(n for n, s in CATALOG.items()))
        return Reply(kind="help", title="sre-bot help", ephemeral=True,
                     text=HELP.format(default=format_duration(deps.default_window), actions=actions))
    if cmd.verb == "status":
        return await status_report(deps, _one_word(cmd.args, "status", "service"), window)
    if cmd.verb == "query":
        if not cmd.args:
            raise UsageError("`/sre query` needs PromQL: `/sre query sum(rate(http_requests_total[5m])) 2h`")
        ev = await promql_range(deps, cmd.args, window)
        return Reply(kind="query", title="PromQL", window=window, sections=[Section(title="Result", evidence=[ev])],
                     gaps=gaps_of([ev]))
    if cmd.verb == "logs":
        return await _logs(deps, cmd, window)
    return await _deploys(deps, cmd.args.strip())


async def _logs(deps: Deps, cmd: ParsedCommand, window: TimeRange) -> Reply:
    try:
        words = shlex.split(cmd.args)
    except ValueError as e:
        raise UsageError(f"could not read the filter ({e}); quote it like `\"pool exhausted\"`") from None
    if not words:
        raise UsageError("`/sre logs` needs a service: `/sre logs <service> [filter] [window]`")
    svc = deps.config.service(words[0])
    text = " ".join(words[1:]) or None
    lines = await log_lines(deps, svc, window, text=text)
    sections = [Section(title="Newest lines", evidence=[lines])]
    if text is None:
        sections.append(Section(title="Top error templates", evidence=await error_templates(deps, svc, window)))
    all_ev = [e for s in sections for e in s.evidence]
    return Reply(kind="logs", title=f"Logs of {svc.name}" + (f" containing {text!r}" if text else ""),
                 window=window, sections=sections, gaps=gaps_of(all_ev))


async def _deploys(deps: Deps, app: str) -> Reply:
    if app:
        if len(app.split()) > 1:
            raise UsageError("`/sre deploys` takes at most one app name")
        ev = await app_status(deps, app, history=10)
        return Reply(kind="deploys", title=f"Deploys of {app}", sections=[Section(title="Argo CD", evidence=ev)],
                     gaps=gaps_of(ev))
    ev = await all_apps(deps, now=deps.clock())
    return Reply(kind="deploys", title="Argo CD applications", sections=[Section(title="Applications", evidence=ev)],
                 gaps=gaps_of(ev))
