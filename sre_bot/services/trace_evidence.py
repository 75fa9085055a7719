"""Trace evidence beside the engine's ranking: when Tempo is configured, the slowest and failed traces of the top
suspected services are read and quoted with their hypotheses. The ranking, the confidences and the summary are the
engine's and are not changed; a trace is evidence to look at, not a vote.

Each top hypothesis (at most `TOP`) gets its service's traces after the engine's own evidence items; the answer
shows the slowest one beside the engine's first few (`answer.investigation_reply`). When the engine named no cause,
the strongest lead (or the service asked about) is read, and its traces join the evidence. Tempo failing is a gap,
said plainly; nothing found is a line under "Checked"."""

from __future__ import annotations

import asyncio

from ..deps import Deps
from ..investigation import Investigation
from ..models import Evidence
from ..tools.traces import slow_and_failed_traces
from .investigate import window_key
from .reply import gaps_of

__all__ = ["add_trace_evidence", "TOP"]

TOP = 2


def _targets(inv: Investigation) -> list[str]:
    if inv.hypotheses:
        names = [h.service for h in inv.hypotheses[:TOP]]
    elif inv.ranking:
        names = [inv.ranking[0].service]
    else:
        names = [inv.focus] if inv.focus else []
    return list(dict.fromkeys(names))


async def _traces(deps: Deps, service: str, inv: Investigation) -> list[Evidence]:
    """The service's traces in the window; read once for every question of the same minute (`services/admission`;
    their investigations share the window, so the reads are the same)."""
    if deps.offload is None:
        return await slow_and_failed_traces(deps, service, inv.window)
    return await deps.offload.admission.shared(("traces", service, *window_key(inv.window)),
                                               lambda: slow_and_failed_traces(deps, service, inv.window))


async def add_trace_evidence(deps: Deps, inv: Investigation) -> Investigation:
    """`inv` with the trace evidence of its top suspects added (unchanged when Tempo is not configured)."""
    if deps.tempo is None:
        return inv
    targets = _targets(inv)
    if not targets:
        return inv
    found = await asyncio.gather(*(_traces(deps, s, inv) for s in targets))
    by_service = dict(zip(targets, found, strict=True))
    hypotheses = []
    for h in inv.hypotheses:
        ok = [e for e in by_service.get(h.service, []) if e.status == "ok"]
        if ok:
            h = h.model_copy(update={"evidence": [*h.evidence, *ok]})  # after the engine's own, in its order
        hypotheses.append(h)
    items: list[Evidence] = [e for part in found for e in part]
    checked = list(inv.checked)
    for s, part in by_service.items():
        ok = [e for e in part if e.status == "ok"]
        if ok:
            failed = sum(bool(e.data.get("error")) for e in ok)
            checked.append(f"{s}: {len(ok)} slow or failed trace(s) read from Tempo ({failed} with errors)")
        elif any(e.status == "no_data" for e in part):
            checked.append(f"{s}: no slow or failed traces in Tempo")
    return inv.model_copy(update={"hypotheses": hypotheses, "evidence": [*inv.evidence, *items],
                                  "checked": checked, "gaps": [*inv.gaps, *gaps_of(items)]})
