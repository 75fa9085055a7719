"""Resolved incidents as history to learn from: which services alerted together (`analysis/learned_ties.py`).

Read from the incidents the processor already stores (no table of its own: incidents are never deleted, and the
ties are recomputed, decayed to `now`, on every topology refresh).

    past = await past_incidents(store, since=now - HORIZON)
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select

from ..analysis.learned_ties import PastIncident
from .schema import incident_alerts, incidents

if TYPE_CHECKING:
    from .store import Store

__all__ = ["past_incidents"]

_I = incidents.c
_A = incident_alerts.c


async def past_incidents(store: Store, *, since: datetime) -> list[PastIncident]:
    """Incidents resolved since `since`, oldest first, each with its services (alerts with no service are left
    out) and those of them every alert of which joined by the `learned` rule."""
    query = (select(_I.key, _I.resolved_at, _A.service, _A.rule)
             .select_from(incidents.join(incident_alerts, _A.incident_key == _I.key))
             .where(_I.status == "resolved", _I.resolved_at >= since, _A.service.is_not(None))
             .distinct())
    at: dict[str, datetime] = {}
    rules: dict[str, dict[str, set[str | None]]] = {}
    async with store._tx("incident_history") as conn:
        for r in await conn.execute(query):
            at[r.key] = r.resolved_at
            rules.setdefault(r.key, {}).setdefault(r.service, set()).add(r.rule)
    return [PastIncident(at=at[k], services=frozenset(svcs),
                         learned_only=frozenset(s for s, rs in svcs.items() if rs == {"learned"}))
            for k, svcs in sorted(rules.items(), key=lambda kv: (at[kv[0]], kv[0]))]
