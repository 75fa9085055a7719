"""What the statistics engine suggests on its own, with no model: a rollback when its best hypothesis is a bad
deploy it is confident about. Pure: the same catalog validation as a model's suggestion, the same evidence rule."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from ..analysis.engine import DEPLOY_LOOKBACK_S
from ..errors import UsageError
from ..investigation import Investigation
from .catalog import ProposedAction, validate_action

__all__ = ["engine_suggestions", "MIN_CONFIDENCE"]

MIN_CONFIDENCE = 0.5  # below even odds of being the root cause (calibrated), the engine suggests nothing


def engine_suggestions(inv: Investigation, services: Mapping[str, str]) -> list[ProposedAction]:
    if inv.insufficient or not inv.hypotheses:
        return []
    top = inv.hypotheses[0]
    if top.cause_kind != "bad_deploy" or top.confidence < MIN_CONFIDENCE:
        return []
    deploys = [e.id for e in top.evidence if e.kind == "deploy" and e.service == top.service and e.status == "ok"]
    if not deploys:
        return []
    revision = next((str(e.data["revision"]) for e in top.evidence if e.kind == "deploy" and e.service ==
                     top.service and e.status == "ok" and e.data.get("revision")), None)
    args: dict[str, object] = {"service": top.service}
    if revision:  # roll back from the deploy blamed, only while it runs, and never back to it
        args["away_from"] = revision
    try:
        return [validate_action("argocd.rollback", args,
                                reason=f"{top.cause} (confidence {top.confidence:.2f})",
                                evidence_ids=deploys, evidence={e.id: e for e in inv.evidence} | {
                                    e.id: e for e in top.evidence}, services=services,
                                since=inv.window.start - timedelta(seconds=DEPLOY_LOOKBACK_S))]
    except UsageError:
        return []
