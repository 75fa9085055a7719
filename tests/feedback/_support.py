"""Shared by the feedback tests: answers as the store keeps them, and a service-level Deps on a real store."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from sre_bot.config import Config, parse_config
from sre_bot.deps import Deps
from sre_bot.feedback.model import AnswerDraft, AnswerHypothesis
from sre_bot.investigation import ENGINE_VERSION
from sre_bot.settings import load_settings
from sre_bot.store import Store, new_request_id
from sre_bot.store.feedback import StoredAnswer

__all__ = ["T0", "MutableClock", "draft", "answer", "add_answers", "deps_on", "config"]

T0 = datetime(2026, 11, 21, 14, 0, tzinfo=timezone.utc)


class MutableClock:
    def __init__(self, at: datetime = T0) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **kw: float) -> None:
        self.at += timedelta(**kw)


def draft(confidence: float = 0.7, *, answered_by: str = "engine", calibrated: float | None = None,
          service: str = "checkout") -> AnswerDraft:
    return AnswerDraft(question=f"why is {service} slow?", answered_by=answered_by, engine=ENGINE_VERSION,
                       model="claude-x (investigator-v1)" if answered_by == "llm" else None,
                       hypotheses=[AnswerHypothesis(service=service, cause=f"bad deploy of {service}",
                                                    cause_kind="bad_deploy", confidence=confidence,
                                                    calibrated=calibrated),
                                   AnswerHypothesis(service="payments-db", cause="saturation", confidence=0.2)])


def answer(at: datetime, *, actions: Sequence[str] = (), channel: str = "C111", **kw: Any) -> StoredAnswer:
    return StoredAnswer(id=new_request_id(), at=at, channel=channel, message_ts=f"{at.timestamp():.6f}",
                        draft=draft(**kw), requests=[(new_request_id(), a) for a in actions])


async def add_answers(store: Store, verdicts: Sequence[str], *, at: datetime, actions: Sequence[str] = (),
                      confidence: float = 0.7, voter: str = "W111") -> list[StoredAnswer]:
    """One answer per verdict (a minute apart from `at`), each voted on by `voter`."""
    out = []
    for i, verdict in enumerate(verdicts):
        a = await store.feedback.add_answer(answer(at + timedelta(minutes=i), actions=actions, confidence=confidence))
        await store.feedback.vote(a.id, voter, verdict, now=at + timedelta(minutes=i, seconds=30))  # type: ignore
        out.append(a)
    return out


def config(**actions: Any) -> Config:
    base = {"approvers": {"users": ["W222"]}, "admins": {"users": ["W333"]}}
    return parse_config({"services": {"checkout": {"namespace": "shop"}}, "actions": {**base, **actions}})


def deps_on(store: Store, clock: MutableClock, cfg: Config | None = None) -> Deps:
    """The services' dependencies with a real store and a frozen clock (no backends: nothing is investigated)."""
    return Deps(settings=load_settings(None), config=cfg or config(), clock=clock, store=store)
