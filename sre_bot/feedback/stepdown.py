"""The step-down monitor: after each vote, every action the voted answer proposed is judged on its triggering
hypotheses — the answers that proposed it — and drops one rung (auto → approve → suggest) when their accuracy is
below `actions.step_down.below` over at least `min_feedback` votes.

The votes counted are on answers posted within `window`, and after the action's last change (a step-down, or a
person setting it): each rung needs fresh evidence, so one bad week cannot take an action from auto to suggest in
two consecutive votes, and a person's raise is not undone at once by the votes that were already in. The monitor
never raises a level. Each step-down is a compare-and-set in the store (two replicas judging together step down
once) and an `autonomy_stepped_down` audit record with the numbers; the surface tells the channel.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from ..actions.approvals import audit
from ..actions.catalog import CATALOG
from ..deps import Deps
from ..logging import get_logger
from .accuracy import Tally, tally
from .autonomy import current_level, one_rung_down

__all__ = ["StepDown", "check_step_down"]

log = get_logger(__name__)


@dataclass(frozen=True)
class StepDown:
    action: str
    before: str
    after: str
    tally: Tally
    since: datetime
    window: str
    threshold: float
    channel: str  # where to tell people

    def message(self) -> str:
        t = self.tally
        return (f"⬇️ *{self.action}* stepped down from `{self.before}` to `{self.after}`: people rated the answers "
                f"that proposed it {t.accuracy:.2f} accurate (threshold {self.threshold:.2f}), from {t.votes} "
                f"vote(s) on {t.answers} answer(s) since {self.since:%Y-%m-%d %H:%M} UTC (window {self.window}): "
                f"{t.yes} yes · {t.partly} partly · {t.no} no. It stays at `{self.after}` until a person raises it: "
                f"`/sre autonomy {self.action} {self.before}` (its approvers or an admin).")


async def check_step_down(deps: Deps, actions: Iterable[str], *, channel: str,
                          answer_id: str | None = None) -> list[StepDown]:
    """Judge each action (a vote just landed on an answer that proposed them); returns the step-downs made.
    `channel`: the voted answer's channel, used unless `actions.step_down.channel` is set."""
    policy = deps.config.actions.step_down
    if not policy.enabled or deps.store is None:
        return []
    out = []
    for action in sorted(set(actions)):
        if action not in CATALOG:
            continue
        level = await current_level(deps, action)
        after = one_rung_down(level.level)
        if after is None:
            continue
        now = deps.clock()
        since = now - policy.span
        if level.override is not None and level.override.set_at > since:
            since = level.override.set_at
        t = tally(await deps.store.feedback.points(since=since, until=now, action=action))
        if t.votes < policy.min_feedback or t.accuracy is None or t.accuracy >= policy.below:
            continue
        step = StepDown(action=action, before=level.level, after=after, tally=t, since=since, window=policy.window,
                        threshold=policy.below, channel=policy.channel or channel)
        reason = (f"stepped down by feedback: accuracy {t.accuracy:.2f} < {policy.below:.2f} from {t.votes} vote(s) "
                  f"on {t.answers} answer(s) since {since:%Y-%m-%d %H:%M} UTC")
        numbers = {"from": level.level, "to": after, **t.as_dict(), "threshold": policy.below,
                   "window": policy.window, "since": since.isoformat(), "answer_id": answer_id}
        written = await deps.store.feedback.set_override(action, after, expected=level.override, by=None,
                                                         reason=reason, now=now, data=numbers)
        if written is None:  # another replica judged the same votes a moment ago
            log.info("step-down already made elsewhere", action=action)
            continue
        await audit(deps, "autonomy_stepped_down", f"{action} autonomy stepped down from {level.level} to {after}: "
                    f"{reason}", action=action, before=level.level, after=after, configured=level.configured,
                    **{k: v for k, v in numbers.items() if k not in ("from", "to")})
        out.append(step)
    return out
