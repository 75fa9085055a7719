"""`sre-bot runbook check [PATH] [--config sre-bot.yaml]`: check runbook files the way the bot does at start.
`sre-bot runbook run NAME [SERVICE]`: run one from the terminal (below).

Every problem is printed on its own line with its file, step and reason (an unknown tool, a bad template variable,
an action not in the catalog, a write-capable or shell-looking step, a URL outside `runbooks.http_allow`, ...).
PATH is a folder or one file (default: the config's `runbooks.dir`); the config gives the health-check allow-list
and the configured webhooks. Exit 0 when everything would load, 1 when anything would not (the bot would refuse to
start), 2 for a missing path or a bad config.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from ..config import Config, load_config
from ..errors import UsageError
from ..runbooks.loader import check_runbooks, runbook_files
from ..settings import Settings

__all__ = ["run_check", "run_runbook"]


def _config(config_path: str | None) -> Config:
    if config_path:
        return load_config(Path(config_path), required=True)
    from ..settings import load_settings

    return load_config(load_settings().config_path)



def run_check(path: str | None, *, config_path: str | None = None, out: TextIO = sys.stdout) -> int:
    cfg = _config(config_path)
    target = Path(path) if path else cfg.runbooks.dir
    if target is None:
        raise UsageError("give the runbooks' folder (`sre-bot runbook check runbooks/`) or set runbooks.dir")
    files = runbook_files(target)
    if not files:
        print(f"{target}: no runbook files (*.yaml, *.yml)", file=out)
        return 1
    good, problems = check_runbooks(target, cfg)
    for rb in good:
        needs = " <service>" if rb.needs_service else ""
        print(f"ok     {rb.source}: {rb.name}{needs} — {len(rb.steps)} read-only steps, "
              f"{len(rb.remediation)} remediation(s)", file=out)
    for p in problems:
        print(f"error  {p}", file=out)
    bad_files = len({p.file for p in problems})
    print(f"{len(good)} runbook(s) valid; {len(problems)} problem(s) in {bad_files} of {len(files)} file(s)"
          + ("; the bot refuses to start until they are fixed" if problems else ""), file=out)
    return 1 if problems else 0


async def run_runbook(settings: Settings, name: str, service: str | None, *, out: TextIO = sys.stdout) -> int:
    """Run one runbook's read-only steps against the configured systems and print the finished run.

    The run is audited in the bot's store (SRE_BOT_DB_URL) as the terminal's user, like a run from Slack. A fix it
    finds is not requested from here (nobody could click Approve in a terminal): it is printed with the `/sre run`
    line that asks for it in Slack. Exit 0 when every step ran, 1 when a step could not check, 2 for a mistake."""
    import getpass

    from ..compose import open_deps
    from ..runbooks.report import run_reply
    from ..runbooks.runner import execute_run
    from ..services.caller import Caller
    from ..services.runbook_commands import prepare_run, resolve_run
    from .console import _show

    user = getpass.getuser()
    caller = Caller(user=f"cli:{user}", user_name=user, channel="cli")
    async with open_deps(settings, use_store=True) as deps:
        if not len(deps.runbooks):
            raise UsageError("no runbooks are loaded: set `runbooks.dir` in the config (SRE_BOT_CONFIG) to a folder "
                             "of runbook files; the shipped examples are in runbooks/")
        req = await resolve_run(deps, name, service)
        state = prepare_run(deps, req, caller)
        state = await execute_run(deps, state, svc=req.svc, caller=caller, propose_fixes=False,
                                  trigger={"kind": "cli", "text": f"runbook run {name} {service or ''}".strip()})
    _show(run_reply(state), out, links="list")  # real systems: the links are worth having
    return 1 if state.outcome == "incomplete" else 0
