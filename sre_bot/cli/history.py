"""`sre-bot eval --history [--days N] [--json]`: accuracy and calibration on the team's own history — the answers
people rated in Slack — read from the store named by SRE_BOT_DB_URL, next to each action's autonomy (the config's
level, lowered by feedback or a person).

Where `sre-bot eval` scores the bot on the scenario library (ground truth known), this scores it on real incidents
(ground truth: what the people who were there said). Exit 0 with a report, even an empty one; 2 when the
store cannot be read.
"""

from __future__ import annotations

import json
import sys
from typing import TextIO

from ..clock import Clock, system_clock
from ..config import load_config
from ..feedback.autonomy import levels_of
from ..feedback.report import accuracy_report, report_lines
from ..settings import Settings
from ..store.errors import StoreError
from ..store.store import open_store

__all__ = ["run_history"]


def _plain(line: str) -> str:
    """A Slack heading (`*Calibration*`) as a terminal one."""
    return f"\n{line.strip('*')}:" if len(line) > 2 and line.startswith("*") and line.endswith("*") else line


async def run_history(settings: Settings, *, days: int, as_json: bool = False, out: TextIO | None = None,
                      clock: Clock = system_clock) -> int:
    out = out or sys.stdout
    cfg = load_config(settings.config_path).actions
    try:
        store = await open_store(settings.db_url)
        try:
            report = await accuracy_report(store, now=clock(), days=days)
            levels = levels_of(cfg, await store.feedback.overrides())
        finally:
            await store.close()
    except StoreError as e:
        print(f"sre-bot: {e}", file=sys.stderr)
        return 2
    if as_json:
        doc = {"tool": "sre-bot eval --history", "store": store.where, **report.as_dict(),
               "autonomy": [{"action": lv.action, "configured": lv.configured, "level": lv.level,
                             "effective": lv.effective, "why": lv.why} for lv in levels]}
        out.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
        return 0
    out.write(f"sre-bot eval --history: the team's own answers and votes ({store.where})\n")
    out.write("\n".join(_plain(line) for line in report_lines(report, levels=levels)) + "\n")
    return 0
