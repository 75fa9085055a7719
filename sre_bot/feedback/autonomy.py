"""Each action's autonomy as the bot acts on it: the configured level, lowered by a store-backed override (set by
the step-down monitor, or by a person), and a person raising (or lowering) it with `/sre autonomy <action> <level>`.

The config is the ceiling: nobody raises an action above its configured level here, and the bot only ever steps
down. Raising needs the rights of someone who may approve the action, or of an admin (`actions.admins`, else every
approver), as the kill switch does; each change is audited (`autonomy_raised`, `autonomy_lowered`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..actions.approvals import audit
from ..actions.catalog import CATALOG
from ..actions.config import AUTONOMY_LEVELS, ActionsConfig, Autonomy
from ..actions.policy import Refusal, effective_autonomy, mention_list
from ..deps import Deps
from ..errors import UsageError
from ..store.feedback import AutonomyOverride, lowered_of

__all__ = ["LADDER", "one_rung_down", "rank", "Level", "level_of", "levels_of", "current_level", "levels",
           "may_set_autonomy", "set_autonomy"]

LADDER: tuple[Autonomy, ...] = ("suggest", "approve", "auto")  # what feedback and people move between


def rank(level: str) -> int:
    return AUTONOMY_LEVELS.index(level)


def one_rung_down(level: str) -> Autonomy | None:
    """auto → approve → suggest; None at the bottom (suggest, off: nothing lower to step to)."""
    return {"auto": "approve", "approve": "suggest"}.get(level)  # type: ignore[return-value]


@dataclass(frozen=True)
class Level:
    action: str
    configured: Autonomy
    level: Autonomy  # configured, lowered by the override (before the "no approvers" rule)
    effective: Autonomy  # what `propose` acts at
    why: str | None
    override: AutonomyOverride | None


def level_of(cfg: ActionsConfig, action: str, override: AutonomyOverride | None) -> Level:
    configured = cfg.autonomy(action)
    level = configured
    if override is not None and override.level is not None and rank(override.level) < rank(configured):
        level = override.level  # type: ignore[assignment]
    effective, why = effective_autonomy(cfg, action, lowered_of(override))
    return Level(action, configured, level, effective, why, override)


def levels_of(cfg: ActionsConfig, overrides: list[AutonomyOverride]) -> list[Level]:
    """Every catalog action's levels, in catalog order."""
    by_action = {o.action: o for o in overrides}
    return [level_of(cfg, a, by_action.get(a)) for a in CATALOG]


async def current_level(deps: Deps, action: str) -> Level:
    override = await deps.store.feedback.override(action) if deps.store is not None else None
    return level_of(deps.config.actions, action, override)


async def levels(deps: Deps) -> list[Level]:
    return levels_of(deps.config.actions, await deps.store.feedback.overrides() if deps.store is not None else [])


def may_set_autonomy(cfg: ActionsConfig, action: str, user: str, groups: frozenset[str]) -> Refusal | None:
    """An approver of the action, or an admin, may move its autonomy within the configured ceiling."""
    spec = CATALOG[action]
    approvers, admins = cfg.approvers_for(action, spec.risk), cfg.kill_switch_admins()
    if approvers.admits(user, groups) or admins.admits(user, groups):
        return None
    return Refusal("unauthorised", f"Only {action}'s approvers ({mention_list(approvers)}) or an admin "
                                   f"({mention_list(admins)}) may change its autonomy.")


async def set_autonomy(deps: Deps, *, action: str, level: str, user: str, user_name: str | None,
                       groups: frozenset[str]) -> str:
    """A person moves an action's level (at most the configured one); returns what to tell the channel."""
    if deps.store is None:
        raise UsageError("autonomy levels live in the bot's store (SRE_BOT_DB_URL); this surface has none")
    if action not in CATALOG:
        raise UsageError(f"unknown action `{action}` (actions: {', '.join(CATALOG)})")
    if level not in LADDER:
        raise UsageError(f"`{level}` is not a level here: use one of {', '.join(LADDER)} (`off` is set in the config)")
    now = await current_level(deps, action)
    if rank(level) > rank(now.configured):
        raise UsageError(f"{action} is configured at `{now.configured}`: the config is the ceiling, so it cannot be "
                         f"raised to `{level}` here (change `actions.policies` in the config)")
    refusal = may_set_autonomy(deps.config.actions, action, user, groups)
    if refusal is not None:
        await audit(deps, "refused", f"autonomy of {action} → {level} refused: {refusal.code}", actor=user,
                    user_name=user_name, code=refusal.code, action=action, level=level)
        raise UsageError(refusal.message)
    if level == now.level:
        return f"{action} is already at `{level}`; nothing changed."
    raising = rank(level) > rank(now.level)
    stored = None if level == now.configured else level
    verb = "raised" if raising else "lowered"
    reason = f"{verb} by a person" + ("" if stored else " back to the configured level")
    written = await deps.store.feedback.set_override(action, stored, expected=now.override, by=user, reason=reason,
                                                     now=deps.clock(), data={"from": now.level, "to": level})
    if written is None:
        raise UsageError(f"{action}'s autonomy changed a moment ago; look again with `/sre autonomy` and retry")
    await audit(deps, f"autonomy_{verb}", f"{action} autonomy {verb} from {now.level} to {level}", actor=user,
                user_name=user_name, action=action, before=now.level, after=level, configured=now.configured)
    arrow = "⬆️" if raising else "⬇️"
    tail = " (its configured level)" if stored is None else f" (configured: `{now.configured}`)"
    return f"{arrow} {action} autonomy {verb} from `{now.level}` to `{level}` by <@{user}>{tail}."
