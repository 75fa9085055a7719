"""The accuracy report over the last `days`: read from the store, written as lines that Slack (`/sre accuracy`)
and the terminal (`sre-bot eval --history`) both show.

    report = await accuracy_report(store, now=now, days=30)
    "\n".join(report_lines(report, levels=await autonomy.levels(deps)))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from ..errors import UsageError
from ..store.store import Store
from .accuracy import AccuracyReport, CalibrationScores, build_report
from .answers import calibration_in_use
from .autonomy import Level

__all__ = ["MAX_DAYS", "DEFAULT_DAYS", "parse_days", "accuracy_report", "report_lines"]

DEFAULT_DAYS = 30
MAX_DAYS = 365


def parse_days(text: str | None, *, usage: str) -> int:
    """`14`, `14d` or nothing (the default); anything else is a UsageError that shows `usage`."""
    t = (text or "").strip().lower()
    if not t:
        return DEFAULT_DAYS
    digits = t[:-1] if t.endswith("d") else t
    if not (digits.isascii() and digits.isdigit() and len(digits) <= 6) or not 1 <= int(digits) <= MAX_DAYS:
        raise UsageError(f"`{text}` is not a number of days: {usage} takes a whole number from 1 to {MAX_DAYS} "
                         f"(default {DEFAULT_DAYS}), e.g. `14`")
    return int(digits)


async def accuracy_report(store: Store, *, now: datetime, days: int) -> AccuracyReport:
    since = now - timedelta(days=days)
    points = await store.feedback.points(since=since, until=now)
    posted = await store.feedback.count_answers(since=since, until=now)
    in_use, team = await calibration_in_use(store, now=now)
    return build_report(points, since=since, until=now, days=days, posted=posted, in_use=in_use, team=team)


def _f(x: float | None) -> str:
    return "—" if x is None else f"{x:.3f}"


def _scores(name: str, s: CalibrationScores) -> str:
    if not s.points:
        return f"{name}: no rated answers"
    line = f"{name}: Brier {_f(s.brier)} · ECE {_f(s.ece)} of the stated top confidence, {s.points} point(s)"
    if s.brier_shown is not None:
        line += f"; as shown (calibrated): Brier {_f(s.brier_shown)} · ECE {_f(s.ece_shown)}"
    return line


def report_lines(r: AccuracyReport, *, levels: Sequence[Level] = (),
                 quote: Callable[[str], str] = lambda s: s) -> list[str]:
    """The report as lines; `quote` escapes what people typed (the real causes) for the surface."""
    rated = r.overall.answers + r.verdicts.answers
    out = [f"Answers rated: {rated} of {r.posted} that named a cause"
           + (" (deploy verdicts included)" if r.verdicts.answers else "")
           + f", {r.since:%Y-%m-%d} – {r.until:%Y-%m-%d %H:%M} UTC ({r.days} days)."]
    if not r.overall.votes:
        out.append("No votes yet on investigation answers: each one in Slack has Yes / Partly / No buttons under "
                   "\"Right cause?\".")
    else:
        out.append(f"Overall (investigation answers): {r.overall.describe()}.")
        out.append("Accuracy counts partly as ½; top-1 strict counts only yes.")
        out += [f"• answered by the {'model' if who == 'llm' else 'engine'}: {t.describe()}"
                for who, t in r.by_answerer.items()]
    if r.verdicts.votes:
        out.append(f"Deploy verdicts (scored apart, never in the engine's calibration): {r.verdicts.describe()}.")
    out.append("*Calibration*")
    out.append(_scores("Engine", r.engine) + " (a vote of yes is right; partly and no are not)")
    if r.model.points:
        out.append(_scores("Model (its own confidences, uncalibrated)", r.model))
    out.append(r.calibration_line())
    if r.by_action:
        out.append("*Actions, by the answers that proposed them*")
        out += [f"• `{a}`: {t.describe()}" for a, t in r.by_action.items()]
    changed = [lv for lv in levels if lv.level != lv.configured]
    if changed:
        out.append("*Autonomy lowered*")
        for lv in changed:
            who = f"<@{lv.override.set_by}>" if lv.override and lv.override.set_by else "feedback"
            out.append(f"• `{lv.action}`: `{lv.level}` (configured `{lv.configured}`), by {who}"
                       + (f": {lv.override.reason}" if lv.override else ""))
    if r.real_causes:
        out.append("*The real cause was…* (newest)")
        out += [f"• {at:%m-%d} “{quote(text)}”" for at, text in r.real_causes]
    return out
