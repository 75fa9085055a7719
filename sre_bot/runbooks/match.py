"""Which runbooks fit an incident: its firing alerts' names and its hypotheses' kinds against each runbook's
`match:` criteria. Pure and deterministic.

    match_runbooks(runbooks, alert_names=["DBConnectionPoolExhausted"], services=["payments-db"],
                   hypothesis_kinds=["resource_saturation"])
    -> [Match(runbook="db-connection-pool", service="payments-db", reasons=("alert DBConnectionPoolExhausted",
                                                                             "hypothesis resource_saturation"))]

An alert name or hypothesis kind may come with the service it is about, as a pair `("HighErrorRate", "checkout")`;
the match then runs against that service. Otherwise the match takes the first of `services` (most relevant
first) that the runbook's `match.services` allows, or None when there is none (the person names it). A runbook
whose `match.services` excludes every candidate does not match. Matches are ordered by how many clues fit
(alerts count double: they are what paged), then by runbook name; one per (runbook, service).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .model import Runbook

__all__ = ["Match", "Clue", "match_runbooks"]

Clue = str | tuple[str, str | None]  # a name, or (name, the service it is about)


@dataclass(frozen=True)
class Match:
    runbook: str
    title: str
    service: str | None
    reasons: tuple[str, ...]  # "alert DBConnectionPoolExhausted", "hypothesis bad_deploy"
    score: int


def _pairs(clues: Iterable[Clue]) -> list[tuple[str, str | None]]:
    return [(c, None) if isinstance(c, str) else (c[0], c[1]) for c in clues]


def match_runbooks(runbooks: Iterable[Runbook], *, alert_names: Iterable[Clue] = (),
                   services: Sequence[str] = (), hypothesis_kinds: Iterable[Clue] = ()) -> list[Match]:
    alerts, kinds = _pairs(alert_names), _pairs(hypothesis_kinds)
    found: dict[tuple[str, str | None], tuple[Runbook, list[str], int]] = {}
    for rb in runbooks:
        allowed = set(rb.match.services)
        clues = [("alert", n, s, 2) for n, s in alerts if n in rb.match.alertnames]
        clues += [("hypothesis", k, s, 1) for k, s in kinds if k in rb.match.hypothesis_kinds]
        for what, name, svc, weight in clues:
            if svc is None:
                svc = next((s for s in services if not allowed or s in allowed), None)
                if svc is None and allowed and services:
                    continue  # the runbook is for other services than this incident's
            elif allowed and svc not in allowed:
                continue
            key = (rb.name, svc)
            _, reasons, score = found.get(key, (rb, [], 0))
            reason = f"{what} {name}"
            if reason not in reasons:
                reasons.append(reason)
                score += weight
            found[key] = (rb, reasons, score)
    out = [Match(runbook=rb.name, title=rb.title, service=svc, reasons=tuple(reasons), score=score)
           for (_, svc), (rb, reasons, score) in found.items()]
    return sorted(out, key=lambda m: (-m.score, m.runbook, m.service or ""))
