"""`sre-bot runbook check [PATH] [--config sre-bot.yaml]`: check runbook files the way the bot does at start.

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

__all__ = ["run_check"]


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
