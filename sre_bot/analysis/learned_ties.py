"""Ties learned from past incidents: services whose alerts keep ending up in the same incident. Pure (no I/O, no
clock: `now` is passed in).

Every resolved incident counts once for each service that alerted in it (`seen`) and once for each pair of its
services (`together`), weighted by its age: an incident `half_life` old counts half, one twice that a quarter. A
tie's `seen` is the (weighted) number of incidents where either service alerted, so its strength
`together / seen` is near 1 only for services that rarely alert apart.

Only evidence the correlator did not make up itself counts as "together": a service that is in an incident only
because a learned tie brought it in (every one of its alerts joined by the `learned` rule) is seen there, never
together with the rest, so a tie cannot feed itself. An incident of more than `MAX_SERVICES` services is too broad to
say which of its pairs belong together: it adds to `seen` only.

    ties = learn_ties([PastIncident(at=t, services=frozenset({"cart", "redis"}))], now=now)
    ties[("cart", "redis")]   # Tie(together=0.98, seen=0.98) for an incident resolved a day ago
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import combinations

from .topology import Tie, pair

__all__ = ["PastIncident", "learn_ties", "HALF_LIFE", "HORIZON", "MAX_SERVICES"]

HALF_LIFE = timedelta(days=30)
HORIZON = timedelta(days=120)  # older incidents weigh under 1/16: not read at all
MAX_SERVICES = 25


@dataclass(frozen=True)
class PastIncident:
    """A resolved incident: when it resolved, the services that alerted in it, and those of them that are there only
    through the `learned` rule (every alert of theirs joined by it)."""

    at: datetime
    services: frozenset[str]
    learned_only: frozenset[str] = frozenset()


def _weight(age: timedelta, half_life: timedelta) -> float:
    return float(0.5 ** (max(age, timedelta(0)) / half_life))


def learn_ties(incidents: Iterable[PastIncident], *, now: datetime, half_life: timedelta = HALF_LIFE,
               ) -> dict[tuple[str, str], Tie]:
    """pair(a, b) -> Tie, for every pair that was together at least once (decayed counts, 2 decimals)."""
    if half_life <= timedelta(0):
        raise ValueError("half_life must be positive")
    seen: dict[str, float] = {}
    both: dict[tuple[str, str], float] = {}  # either way: for the union
    together: dict[tuple[str, str], float] = {}  # independent evidence only
    broad: list[tuple[frozenset[str], float]] = []
    for inc in incidents:
        names = sorted(s for s in inc.services if s)
        if not names:
            continue
        w = _weight(now - inc.at, half_life)
        for s in names:
            seen[s] = seen.get(s, 0.0) + w
        if len(names) > MAX_SERVICES:
            broad.append((frozenset(names), w))
            continue
        for a, b in combinations(names, 2):
            k = pair(a, b)
            both[k] = both.get(k, 0.0) + w
            if a not in inc.learned_only and b not in inc.learned_only:
                together[k] = together.get(k, 0.0) + w
    out: dict[tuple[str, str], Tie] = {}
    for k, t in together.items():
        union = seen[k[0]] + seen[k[1]] - both[k] - sum(w for names, w in broad if k[0] in names and k[1] in names)
        out[k] = Tie(together=round(t, 2), seen=round(max(union, t), 2))
    return out
