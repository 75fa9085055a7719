"""The feedback verbs of `/sre`: how right the answers were, and each action's autonomy.

    /sre accuracy [days]              accuracy and calibration over the answers people rated (default 30 days)
    /sre autonomy                     every action's configured and current level, and why it is lower
    /sre autonomy <action> <level>    a person raises (or lowers) an action within its configured ceiling
"""

from __future__ import annotations

from ..deps import Deps
from ..errors import UsageError
from ..feedback.autonomy import LADDER, levels, set_autonomy
from ..feedback.report import accuracy_report, parse_days, report_lines
from .caller import Caller
from .reply import Reply, md_escape

__all__ = ["accuracy_command", "autonomy_command"]

def _store_needed(deps: Deps) -> None:
    if deps.store is None:
        raise UsageError("feedback lives in the bot's store (SRE_BOT_DB_URL); this surface has none")


async def accuracy_command(deps: Deps, args: str) -> Reply:
    _store_needed(deps)
    assert deps.store is not None
    days = parse_days(args, usage="`/sre accuracy [days]`")
    report = await accuracy_report(deps.store, now=deps.clock(), days=days)
    lines = report_lines(report, levels=await levels(deps), quote=md_escape)
    return Reply(kind="accuracy", title=f"Answer accuracy, last {days} days", text="\n".join(lines), ephemeral=True,
                 footer="Also on the command line: `sre-bot eval --history --days N` (with `--json`)")


async def autonomy_command(deps: Deps, args: str, caller: Caller | None) -> Reply:
    _store_needed(deps)
    words = args.split()
    if not words or words == ["status"]:
        lines = []
        for lv in await levels(deps):
            line = f"• `{lv.action}`: acts at `{lv.effective}` (configured `{lv.configured}`)"
            lines.append(line + (f" — {lv.why}" if lv.why else ""))
        return Reply(kind="autonomy", title="Autonomy of each action", text="\n".join(lines), ephemeral=True,
                     footer="Feedback lowers a level by itself (`actions.step_down`); only a person raises it.")
    if len(words) != 2:
        raise UsageError(f"`/sre autonomy <action> <{'|'.join(LADDER)}>`, or `/sre autonomy` to see every level")
    if caller is None:
        raise UsageError("autonomy is changed from Slack (`/sre autonomy <action> <level>`), where I know who asks")
    text = await set_autonomy(deps, action=words[0], level=words[1].lower(), user=caller.user,
                              user_name=caller.user_name, groups=caller.groups)
    return Reply(kind="autonomy", title="Autonomy", text=text)
