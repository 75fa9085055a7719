"""`sre-bot doctor`: one line per system — ok, or what is wrong and how to fix it. With no system to investigate
configured it says so, with the next step, and exits 1: an empty setup is not a healthy one."""

from __future__ import annotations

import sys
from typing import TextIO

from ..compose import open_deps
from ..config import load_config
from ..errors import ConfigError
from ..llm.client import check_model
from ..services.health import TO_SET, Check, check_backends, escalation_checks, nothing_to_investigate
from ..settings import Settings
from ..slack.doctor import check_slack

__all__ = ["doctor", "format_check"]


def format_check(c: Check) -> str:
    mark = "ok  " if c.ok else ("--  " if not c.configured else "FAIL")
    return f"[{mark}] {c.name:<13} {c.detail}"


def _config_check(settings: Settings) -> Check:
    path = settings.config_path
    if not path.exists():
        return Check("config", True, f"{path} not found: using defaults (services discovered from Prometheus)",
                     configured=False)
    try:
        cfg = load_config(path, required=True)
    except ConfigError as e:
        return Check("config", False, str(e).replace("\n", " "))
    return Check("config", True, f"{path}: {len(cfg.services)} services, {len(cfg.all_signals)} signals")


async def _llm_check(settings: Settings) -> Check:
    if settings.anthropic_api_key is None:
        return Check("anthropic", False, "ANTHROPIC_API_KEY not set: answers come from the statistics engine alone",
                     configured=False)
    ok, detail = await check_model(settings)
    return Check("anthropic", ok, detail)


async def _store_check(settings: Settings) -> Check:
    """Open (and migrate) the store, and say what it holds that needs a person: the kill switch, stuck requests."""
    from ..actions.executor import EXECUTION_TIMEOUT
    from ..clock import system_clock
    from ..store.errors import StoreError
    from ..store.store import open_store

    try:
        store = await open_store(settings.db_url)
    except (StoreError, ConfigError) as e:
        return Check("store", False, f"{e} (SRE_BOT_DB_URL)")
    try:
        now = system_clock()
        flag = await store.get_flag("kill_switch")
        stuck = await store.stuck(now, EXECUTION_TIMEOUT)
        pending = await store.pending(now)
    finally:
        await store.close()
    notes = [f"{len(pending)} pending approval(s)"]
    if flag.value or settings.kill_switch:
        notes.append("KILL SWITCH ON" + (" (SRE_BOT_KILL_SWITCH)" if settings.kill_switch else f" (by {flag.set_by})"))
    if stuck:
        notes.append(f"{len(stuck)} request(s) stuck mid-run: check their targets (`/sre actions`)")
    return Check("store", True, f"{store.where}: " + ", ".join(notes))


async def doctor(settings: Settings, out: TextIO = sys.stdout) -> int:
    """Exit 0 when everything configured works, 1 otherwise (unconfigured optional systems are not failures, but
    no system to investigate at all is)."""
    checks = [_config_check(settings)]
    checks += await check_slack(settings)
    if checks[0].ok:
        async with open_deps(settings) as deps:
            checks += await check_backends(deps)
            checks += escalation_checks(settings, deps.config)
    checks.append(await _llm_check(settings))
    checks.append(await _store_check(settings))
    for c in checks:
        print(format_check(c), file=out)
    failed = [c for c in checks if c.configured and not c.ok]
    if nothing_to_investigate(settings):
        slack = "" if settings.slack_bot_token else ", then SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET to answer in Slack"
        print(f"\n{len(failed)} problem(s), and nothing configured: no system to investigate.\n"
              if failed else "\nNothing configured: no system to investigate.", file=out)
        print(f"  Next: {TO_SET}{slack}; run `sre-bot doctor` again once they are set.\n"
              f"  Or try it first: `sre-bot demo` (a simulated shop: no credentials, no servers).", file=out)
        return 1
    print(f"\n{len(failed)} problem(s)." if failed else "\nAll configured systems look good.", file=out)
    return 1 if failed else 0
