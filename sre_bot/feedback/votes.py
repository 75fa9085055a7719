"""A "Right cause?" vote: checked against the answer it names, stored (one latest vote per person and answer),
audited, and followed by the step-down monitor for the actions that answer proposed.

A button carries only the answer's id; everything else (what the answer claimed, where it was posted) is read back
from the store, and the click must come from that message. A refusal changes nothing and is said to the clicker.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta

from ..actions.approvals import audit
from ..deps import Deps
from ..services import memory
from ..store.feedback import StoredAnswer, Vote
from .model import VERDICTS
from .stepdown import StepDown, check_step_down

__all__ = ["FEEDBACK_OPEN_FOR", "REAL_CAUSE_MAX", "VoteResult", "record_vote", "record_real_cause"]

FEEDBACK_OPEN_FOR = timedelta(days=30)  # an answer older than this takes no more votes
REAL_CAUSE_MAX = 500
_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


@dataclass(frozen=True)
class VoteResult:
    refusal: str | None = None  # said to the clicker alone; nothing was recorded
    answer: StoredAnswer | None = None
    vote: Vote | None = None
    thanks: str = ""
    step_downs: list[StepDown] = field(default_factory=list)

    @property
    def asks_real_cause(self) -> bool:
        return self.vote is not None and self.vote.verdict != "yes"


async def _refuse(deps: Deps, voter: str, answer_id: str, code: str, message: str) -> VoteResult:
    await audit(deps, "refused", f"feedback refused: {code}", actor=voter, code=code, answer_id=answer_id[:64])
    return VoteResult(refusal=message)


async def _checked(deps: Deps, *, answer_id: str, voter: str, channel: str,
                   message_ts: str | None) -> tuple[StoredAnswer | None, VoteResult | None]:
    if deps.store is None:
        return None, VoteResult(refusal="Feedback needs the bot's store (SRE_BOT_DB_URL); nothing was recorded.")
    answer = await deps.store.feedback.get_answer(answer_id) if _ID.match(answer_id or "") else None
    if answer is None:
        return None, await _refuse(deps, voter, answer_id, "feedback_unknown", "I have no record of this answer "
                                   "(too old, or not one of mine), so nothing was recorded. Thanks for trying!")
    if answer.channel != channel or (answer.message_ts is not None and message_ts != answer.message_ts):
        return None, await _refuse(deps, voter, answer_id, "feedback_tampered", "This button does not belong to the "
                                   "answer it names (copied or edited); nothing was recorded.")
    if deps.clock() - answer.at > FEEDBACK_OPEN_FOR:
        return None, await _refuse(deps, voter, answer_id, "feedback_expired", f"This answer is from "
                                   f"{answer.at:%Y-%m-%d}: votes close after {FEEDBACK_OPEN_FOR.days} days, so "
                                   "nothing was recorded.")
    if not answer.draft.rateable:
        return None, await _refuse(deps, voter, answer_id, "feedback_no_cause", "This answer named no cause, so "
                                   "there is nothing to rate; nothing was recorded.")
    return answer, None


async def record_vote(deps: Deps, *, answer_id: str, verdict: str, voter: str, voter_name: str | None,
                      channel: str, message_ts: str | None) -> VoteResult:
    """Store `voter`'s vote on the answer (replacing theirs), audit it, then run the step-down monitor."""
    if verdict not in VERDICTS:
        return VoteResult(refusal="That is not a vote I know; nothing was recorded.")
    answer, refused = await _checked(deps, answer_id=answer_id, voter=voter, channel=channel, message_ts=message_ts)
    if refused is not None:
        return refused
    assert answer is not None and deps.store is not None
    vote = await deps.store.feedback.vote(answer.id, voter, verdict, now=deps.clock())
    top = answer.draft.top
    await audit(deps, "feedback", f"answer {answer.id[:8]} rated {verdict}" + (" (changed vote)" if vote.votes > 1
                else ""), actor=voter, user_name=voter_name, answer_id=answer.id, verdict=verdict, votes=vote.votes,
                answered_by=answer.draft.answered_by, top_cause=top.cause if top else None,
                top_confidence=top.confidence if top else None, actions=answer.actions)
    counts = await deps.store.feedback.tally(answer.id)
    so_far = " · ".join(f"{counts[v]} {v}" for v in VERDICTS if counts[v])
    changed = " (your vote replaces your earlier one)" if vote.votes > 1 else ""
    thanks = f"Thanks: recorded *{verdict}* for this answer{changed}. Votes so far: {so_far}."
    steps = await check_step_down(deps, answer.actions, channel=answer.channel, answer_id=answer.id)
    await memory.on_vote(deps, answer, vote)  # a "yes" makes the answer a case of the incident memory
    return VoteResult(answer=answer, vote=vote, thanks=thanks, step_downs=steps)


async def record_real_cause(deps: Deps, *, answer_id: str, voter: str, voter_name: str | None,
                            text: str) -> str | None:
    """Attach "the real cause was …" to the voter's vote; None when stored, else why not (to tell them)."""
    text = " ".join(text.split())[:REAL_CAUSE_MAX]
    if not text:
        return "Write the real cause, or close this window to skip it."
    if deps.store is None or not _ID.match(answer_id or ""):
        return "I have no record of this answer; nothing was recorded."
    vote = await deps.store.feedback.set_real_cause(answer_id, voter, text, now=deps.clock())
    if vote is None:
        return "Vote on the answer first (Yes, Partly or No); the real cause goes with your vote."
    await audit(deps, "feedback_cause", f"answer {answer_id[:8]}: the real cause was {text[:200]}", actor=voter,
                user_name=voter_name, answer_id=answer_id, verdict=vote.verdict, real_cause=text)
    await memory.on_real_cause(deps, answer_id, vote, text)  # the case of the incident memory, with this cause
    return None
