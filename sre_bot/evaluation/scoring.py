"""An answer, read the way the evaluation scores it: what it blamed, how sure it said it was, what it suggested.

The engine names cause kinds of its own; they map onto the truth's vocabulary as below. The engine's symptom kinds
(`error_spike`, `latency`, `anomaly`) say where it hurts, not why: they match no cause kind, and count as a miss.

    engine kind           truth cause
    bad_deploy            bad_deploy
    resource_saturation   resource_exhaustion
    traffic_spike         traffic_spike
    network               infrastructure   (time lost between caller and callee: the network at a service)

The model writes its cause as a sentence; `model_cause_kind` reads its kind from words (config before deploy, so
"a config change rolled out" is a config change). That reading is approximate, and said so in the report.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..actions.suggest import engine_suggestions

if TYPE_CHECKING:
    from ..services.explain import Explained

__all__ = ["ENGINE_KINDS", "engine_cause_kind", "model_cause_kind", "Answer"]

ENGINE_KINDS = {"bad_deploy": "bad_deploy", "resource_saturation": "resource_exhaustion",
                "traffic_spike": "traffic_spike", "network": "infrastructure"}
_MODEL_WORDS: tuple[tuple[str, str], ...] = (
    ("config_change", r"\bconfig|configuration|feature flag|\bflag\b|setting|configmap"),
    ("bad_deploy", r"deploy|rollout|roll-out|release|revision|regression|new version"),
    ("traffic_spike", r"traffic|surge|load spike|more requests|request spike|flash sale"),
    ("dependency_outage", r"outage|\bdown\b|unavailable|unreachable|connection refused|not responding"),
    ("infrastructure", r"\bdns\b|coredns|\bnode\b|network|kernel|disk pressure"),
    ("resource_exhaustion", r"saturat|exhaust|\bcpu\b|memory|\boom|leak|pool|disk|throttl|contention|neighbo"),
)


def engine_cause_kind(kind: str | None) -> str | None:
    return ENGINE_KINDS.get(kind or "")


def model_cause_kind(text: str) -> str | None:
    low = text.lower()
    return next((kind for kind, words in _MODEL_WORDS if re.search(words, low)), None)


class Answer:
    """The parts of an `Explained` the scores need, the same whichever of the engine or the model answered."""

    def __init__(self, done: Explained) -> None:
        self.answered_by = done.answered_by
        inv = done.engine
        if done.llm is None:
            self.abstained = inv.insufficient or not inv.hypotheses
            self.services = [h.service for h in inv.hypotheses]
            top = inv.hypotheses[0] if inv.hypotheses else None
            self.answer_kind = top.cause_kind if top else None
            self.cause_kind = engine_cause_kind(self.answer_kind)
            self.confidence = top.confidence if top else None  # the calibrated probability, as shown
            self.calibrated = None  # no second number: the shown one is the calibrated one
            proposed = engine_suggestions(inv, {s: s for s in inv.services})
            self.summary = inv.summary
            self.model_quotes: list[tuple[str, str]] = []
        else:
            a = done.llm.answer
            self.abstained = a.insufficient or not a.hypotheses
            self.services = [h.service or "" for h in a.hypotheses]
            top_h = a.hypotheses[0] if a.hypotheses else None
            self.answer_kind = top_h.cause if top_h else None
            self.cause_kind = model_cause_kind(top_h.cause) if top_h else None
            self.confidence = top_h.confidence if top_h else None
            self.calibrated = None  # the model's confidence is shown as stated, marked uncalibrated
            proposed = list(a.actions)
            self.summary = a.summary
            self.model_quotes = [q for h in a.hypotheses for q in h.quotes[:3]]
        if self.abstained:
            self.services, self.cause_kind, self.confidence, self.calibrated = [], None, None, None
        self.actions = [f"{p.action} {p.args.get('service') or p.service or ''}".strip() for p in proposed]
        self.shown = done.reply.evidence  # every evidence item the reply displays
        self.gaps = [*done.reply.gaps, done.reply.summary or ""]
