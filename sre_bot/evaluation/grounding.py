"""Is every quote an answer shows true? Checked against the evidence and then against the simulated systems.

A shown quote is an evidence item the reply displays (its `quote`), or a verbatim excerpt the model wrote. It is
verified when:
1. it cites an evidence item of the investigation whose status is `ok`;
2. a model's excerpt occurs, whitespace-normalised, in the text the model was sent for that item;
3. the item agrees with the sandbox's own data (`World`), for the kinds that have a source check:
   - `signal` / `anomaly`: every point behind it is the simulated value at that time (seasonal points a day
     earlier), each number after "from", "to", "now" or "median" lies within those points (to the rounding of
     its display), and an onset "at HH:MM" is the onset in its data, inside the window;
   - `deploy`: a deploy of that service with that revision, author and time exists;
   - `logs` / `log_template` / `log_shift`: every quoted line is a line the simulated Loki holds for that service
     in the item's window;
   - `alert`: an alert with that fingerprint is held by the simulated Alertmanager;
   - `app`: the scenario gives the application that sync and health status;
   - `trace`: the simulated Tempo holds that trace, and its critical path, worked out again, has the quoted
     duration and dominant span (service, name, share).
Other kinds (an ad-hoc PromQL result, the engine's own findings) are verified by 1 and 2 only and are not counted
as source-checked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from ..analysis.traces import critical_path
from ..backends.tempo import parse_otlp
from ..models import Evidence
from ..sandbox.generate import World
from ..sandbox.tempo_api import find_simulated, otlp

__all__ = ["GroundingResult", "check_quotes", "check_item"]

_VALUE = re.compile(r"\b(?:from|to|now|median)\s+(-?[\d,]+(?:\.\d+)?(?:e[+-]?\d+)?)"
                    r"\s*(ms|s(?![a-z])|%|cores|KiB|MiB|GiB|B(?![a-z])|req/s)?")
_AT = re.compile(r"\bat (\d{2}:\d{2}) UTC")
_SCALE = {"ms": 1e-3, "s": 1.0, "%": 1e-2, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "B": 1.0}
_SOURCE_KINDS = {"signal", "anomaly", "deploy", "logs", "log_template", "log_shift", "alert", "app", "trace"}


@dataclass
class GroundingResult:
    shown: int = 0
    verified: int = 0
    source_checked: int = 0
    problems: list[str] = field(default_factory=list)


def _norm(text: str) -> str:
    return " ".join(text.split())


def _numbers(quote: str) -> list[tuple[float, float]]:
    """(value in base units, tolerance) for each number a signal quote states."""
    out = []
    for m in _VALUE.finditer(quote):
        raw, unit = m.group(1).replace(",", ""), m.group(2) or ""
        mantissa = raw.split("e")[0]
        decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
        scale = _SCALE.get(unit, 1.0)
        v = float(raw) * scale
        ulp = 0.5 * 10 ** -decimals * scale * (10 ** int(raw.split("e")[1]) if "e" in raw else 1)
        out.append((v, ulp + abs(v) * 0.006 + 1e-12))  # `,.3g` counts keep 3 significant digits
    return out


def _signal_problem(e: Evidence, world: World) -> str | None:
    svc, sig = e.service or "", str(e.data.get("signal"))
    if not world.has(svc, sig):
        return f"{svc} has no simulated signal {sig!r}"
    pts = [(float(t), float(v)) for t, v in e.data.get("points") or []]
    pts += [(float(t) - 86400, float(v)) for t, v in e.data.get("seasonal_points") or []]
    for t, v in pts:
        truth = world.value(svc, sig, t)
        if abs(truth - v) > 1e-6 * max(1.0, abs(truth)):
            return f"point at {t:.0f} is {v}, the simulated {svc} {sig} is {truth}"
    values = [v for _, v in pts]
    if not values:
        return "no points behind the quote"
    lo, hi = min(values), max(values)
    for v, tol in _numbers(e.quote):
        if not lo - tol <= v <= hi + tol:
            return f"{v:g} is outside the values {lo:g}…{hi:g} of {svc} {sig}"
    if e.kind == "anomaly":
        onset = datetime.fromisoformat(str(e.data.get("onset")))
        at = _AT.search(e.quote)
        if e.window is None or not e.window.start <= onset <= e.window.end:
            return "the onset is outside the window"
        if at and at.group(1) != f"{onset:%H:%M}":
            return f"says {at.group(1)}, the onset is {onset:%H:%M}"
    return None


def _log_problem(e: Evidence, world: World) -> str | None:
    if e.window is None or not e.service:
        return "a log quote without a window or service"
    held = {line for _, _, line in world.log_entries([e.service], e.window.start.timestamp(),
                                                     e.window.end.timestamp(), newest_first=False)}
    for line in e.quote.splitlines():
        if line not in held:
            return f"line not in the simulated {e.service} logs: {line[:80]!r}"
    return None


def _deploy_problem(e: Evidence, world: World) -> str | None:
    d = e.data
    at = datetime.fromisoformat(str(d.get("deployed_at"))).timestamp()
    for h in world.history(e.service or ""):
        if h.revision == d.get("revision") and abs(h.deployed_at - at) < 1 and h.author == d.get("author"):
            return None if h.revision[:12] in e.quote and h.author in e.quote else "the quote misstates the deploy"
    return f"no deploy of {e.service} with revision {str(d.get('revision'))[:12]} at that time"


def _app_problem(e: Evidence, world: World) -> str | None:
    try:
        spec = world.service(e.service or "").argocd
    except KeyError:
        return f"no simulated service {e.service!r}"
    if spec is None:
        return f"{e.service} has no simulated Argo CD application"
    if (e.data.get("sync"), e.data.get("health")) != (spec.sync, spec.health):
        return f"says {e.data.get('sync')}/{e.data.get('health')}, the application is {spec.sync}/{spec.health}"
    return None


def check_item(e: Evidence, world: World) -> str | None:
    """None when the item agrees with the simulated systems (or its kind has no source check); else why not."""
    if e.kind in ("signal", "anomaly"):
        return _signal_problem(e, world)
    if e.kind in ("logs", "log_template", "log_shift"):
        return _log_problem(e, world)
    if e.kind == "deploy":
        return _deploy_problem(e, world)
    if e.kind == "alert":
        held = {a.fingerprint for a in world.alerts()}
        return None if e.data.get("fingerprint") in held else "no such alert in the simulated Alertmanager"
    if e.kind == "app" and e.data:
        return _app_problem(e, world)
    if e.kind == "trace":
        return _trace_problem(e, world)
    return None


def _trace_problem(e: Evidence, world: World) -> str | None:
    sim = find_simulated(world)(str(e.data.get("trace_id", "")))
    if sim is None:
        return "no such trace in the simulated Tempo"
    trace = parse_otlp(sim.trace_id, otlp(sim))
    cp = critical_path(trace)
    d = e.data
    if cp is None or (cp.dominant.service, cp.dominant.name) != (d.get("dominant_service"), d.get("dominant_span")):
        return "the simulated trace's critical path is dominated by another span"
    if abs(cp.dominant_share - float(d.get("dominant_share", -1))) > 1e-9 or \
            abs(trace.duration_ns / 1e9 - float(d.get("duration_s", -1))) > 1e-9:
        return "the simulated trace's duration or the dominant span's share differs"
    return None


def check_quotes(shown: Sequence[Evidence], model_quotes: Iterable[tuple[str, str]], *,
                 evidence: Mapping[str, Evidence], visible: Mapping[str, str], world: World) -> GroundingResult:
    """Every displayed item and every model excerpt, each counted once."""
    r = GroundingResult()
    checked: dict[str, str | None] = {}

    def item(eid: str) -> str | None:
        if eid not in checked:
            e = evidence.get(eid)
            if e is None:
                checked[eid] = f"cites {eid}, which the investigation does not hold"
            elif e.status != "ok":
                checked[eid] = f"cites {eid}, whose status is {e.status}"
            else:
                checked[eid] = check_item(e, world)
        return checked[eid]

    def count(label: str, problem: str | None, kind: str | None) -> None:
        r.shown += 1
        if problem is None:
            r.verified += 1
            r.source_checked += kind in _SOURCE_KINDS
        else:
            r.problems.append(f"{label}: {problem}")

    for e in {e.id: e for e in shown}.values():
        count(e.id, item(e.id), e.kind)
    for eid, text in model_quotes:
        problem = item(eid)
        if problem is None and _norm(text) not in _norm(visible.get(eid, "")):
            problem = "not verbatim in the text the model was sent"
        count(f"{eid} “{text[:60]}”", problem, evidence[eid].kind if eid in evidence else None)
    return r
