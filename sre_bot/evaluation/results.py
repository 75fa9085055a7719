"""What one evaluation measured: a row per question answered (`CaseResult`), a row per scenario
(`ScenarioResult`, with its alert correlation), whatever produced them — `sre-bot eval`, or a benchmark runner
(Nezha, ITBench) that fills only the fields it can measure. A field left None is "not measured", never a zero."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["CaseResult", "CorrelationResult", "ScenarioResult"]


@dataclass
class CaseResult:
    scenario: str
    case: str
    question: str | None = None
    # the truth (cause "none": the right answer is to abstain; action None: not scored)
    truth_root: str | None = None
    truth_cause: str | None = None
    truth_action: str | None = None  # "argocd.rollback checkout", or "none"
    # the answer
    answered_by: str = "engine"
    abstained: bool = False
    services: list[str] = field(default_factory=list)  # named causes, best first (at most 3 shown)
    cause_kind: str | None = None  # the top cause in the truth's vocabulary (None: a symptom, no cause kind)
    answer_kind: str | None = None  # the top cause as the answer put it (engine kind, or the model's words)
    confidence: float | None = None  # as stated by the engine or the model
    calibrated: float | None = None  # as shown after calibration (engine only)
    actions: list[str] | None = None  # suggested, "argocd.rollback checkout"; None: not measured
    summary: str = ""
    # grounding: every quote shown, checked against the evidence and the simulated systems
    quotes_shown: int | None = None
    quotes_verified: int | None = None
    quotes_source_checked: int | None = None
    unverified: list[str] = field(default_factory=list)
    # a backend that was down or absent must be said in the answer
    gaps_expected: list[str] = field(default_factory=list)
    gaps_said: list[str] = field(default_factory=list)
    tokens: dict[str, int] = field(default_factory=dict)
    cost_usd: float | None = None
    wall_s: float | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # runner-specific details (ranks, reasons, …)

    @property
    def fault(self) -> bool:
        """The truth names a cause (so an abstention is a false one)."""
        return self.truth_cause not in (None, "none") and self.truth_root is not None

    @property
    def top1(self) -> bool:
        return self.fault and not self.abstained and self.services[:1] == [self.truth_root]

    @property
    def top3(self) -> bool:
        return self.fault and not self.abstained and self.truth_root in self.services[:3]

    @property
    def kind_ok(self) -> bool:
        return self.fault and not self.abstained and self.cause_kind == self.truth_cause

    @property
    def action_ok(self) -> bool | None:
        if self.truth_action is None or self.actions is None:
            return None
        if self.truth_action == "none":
            return not self.actions
        return self.actions[:1] == [self.truth_action]

    @property
    def point(self) -> tuple[float, bool] | None:
        """(stated confidence, right) when a cause was named: the calibration data."""
        if self.abstained or self.confidence is None or not self.services:
            return None
        return self.confidence, self.fault and self.services[0] == self.truth_root

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(fault=self.fault, top1=self.top1, top3=self.top3, kind_ok=self.kind_ok, action_ok=self.action_ok)
        return d


@dataclass
class CorrelationResult:
    """Alerts as Alertmanager would notify them, grouped by the bot's correlator, against the truth's incidents."""

    alerts: int
    truth_incidents: int  # incidents of the truth that have at least one of these alerts
    incidents: int  # incidents the correlator made
    pairs_both: int  # alert pairs put together that truly belong together
    pairs_truth: int
    pairs_predicted: int
    roots_right: int = 0  # truth incidents whose main bot incident names the true root service
    roots_scored: int = 0
    incidents_detail: list[dict[str, Any]] = field(default_factory=list)

    @property
    def precision(self) -> float | None:
        return self.pairs_both / self.pairs_predicted if self.pairs_predicted else None

    @property
    def recall(self) -> float | None:
        return self.pairs_both / self.pairs_truth if self.pairs_truth else None

    @property
    def f1(self) -> float | None:
        total = self.pairs_predicted + self.pairs_truth
        return 2 * self.pairs_both / total if total else None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(precision=self.precision, recall=self.recall, f1=self.f1)
        return d


@dataclass
class ScenarioResult:
    name: str
    description: str = ""
    cases: list[CaseResult] = field(default_factory=list)
    correlation: CorrelationResult | None = None
    backends: dict[str, str] = field(default_factory=dict)  # the scenario's failing backends
    wall_s: float = 0.0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "backends": self.backends,
                "wall_s": self.wall_s, "error": self.error,
                "correlation": self.correlation.to_dict() if self.correlation else None,
                "cases": [c.to_dict() for c in self.cases]}
