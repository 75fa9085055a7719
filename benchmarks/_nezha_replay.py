"""Record what the engine was given per fault and row, and re-run the pure engine over it (`--replay`).

    save_engine_inputs(path, {"evidence": [...typed evidence...], "graph": ..., "focus": ..., "window": ..., "gaps": 0})
    results = replay(results_json)   # every recorded row's answer again, from `sre_bot.analysis.engine.analyse`

The evidence is the typed, frozen dataclasses of `sre_bot.analysis.evidence` (floats and strings only), written as
gzip JSON with each item's type name. Replaying skips Prometheus, Loki and the gathering: it reruns
`engine.analyse(...)` and picks the shown hypotheses the way `services/investigate.py` does: each candidate's
confidence (the calibrated probability of `sre_bot.services.confidence` when that module is there, else the
engine's own number), none shown when the first is under the abstention threshold (`abstain_threshold`, else
`engine.MIN_CONFIDENCE`) or when the first's every change was over before the window's end (the in-process
investigations are asked "now": their clock is frozen at the window's end), then the top three above the shown floor.
`_shown_rule` says which rule applied (`results["replay"]["rule"]`). So iterating on the engine takes seconds.
The no-fault windows (`results["quiet"]`) are replayed too, their answer read by `_nezha_quiet.answer_fields` from
the candidates' fields. Baselines, wall times and query counts are the recorded run's.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._nezha_quiet import answer_fields
from ._report import RESULTS_DIR, progress

__all__ = ["save_engine_inputs", "load_engine_inputs", "replay"]


def _plain(v: Any) -> Any:
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return {"__type": type(v).__name__, **{f.name: _plain(getattr(v, f.name)) for f in dataclasses.fields(v)}}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    return v


def _tuples(v: Any) -> Any:
    return tuple(_tuples(x) for x in v) if isinstance(v, list) else v


def save_engine_inputs(path: Path, inputs: dict[str, Any]) -> str:
    """Write the engine's inputs (gzip JSON); returns the path relative to the results folder when inside it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as f:
        json.dump(_plain(inputs), f, separators=(",", ":"))
    return str(path.relative_to(RESULTS_DIR)) if path.resolve().is_relative_to(RESULTS_DIR.resolve()) else str(path)


def load_engine_inputs(path: Path) -> dict[str, Any]:
    """The inputs back, evidence items as the engine's dataclasses (lists become tuples, as recorded)."""
    from sre_bot.analysis import evidence as ev

    with gzip.open(path, "rt", encoding="utf-8") as f:
        raw = json.load(f)
    items = []
    for item in raw["evidence"]:
        cls = getattr(ev, item.pop("__type"))
        items.append(cls(**{k: _tuples(v) for k, v in item.items()}))
    return {**raw, "evidence": items, "window": tuple(raw["window"])}


@dataclass(frozen=True)
class _Rule:
    confidences: Callable[[list[Any]], list[float]]  # candidates (rank order) -> the confidence an answer shows
    abstain_below: float
    shown_floor: float
    describe: str


def _shown_rule() -> _Rule:
    """How `services/investigate.py` turns the engine's candidates into shown hypotheses, read from the code as it
    is now: calibrated probabilities and the abstention threshold of `sre_bot.services.confidence` (settings from
    the environment, as the in-process run's), or, without that module, the engine's confidence and
    `MIN_CONFIDENCE`."""
    from sre_bot.analysis import engine

    try:
        from sre_bot.services import confidence as conf
        from sre_bot.settings import load_settings

        settings = load_settings(None)
        cal = conf.calibration_for(settings)
        threshold = float(conf.abstain_threshold(settings, cal))
        floor = float(conf.SHOWN_FLOOR)

        def calibrated(cands: list[Any]) -> list[float]:
            return list(cal.rank_probabilities([c.score01 for c in cands], [c.confidence for c in cands]))

        return _Rule(calibrated, threshold, floor,
                     f"calibrated: {cal.describe()}; abstain below {threshold}; shown from {floor}")
    except (ImportError, AttributeError):
        m = float(engine.MIN_CONFIDENCE)
        return _Rule(lambda cands: [float(c.confidence) for c in cands], m, m,
                     f"engine confidence; abstain below MIN_CONFIDENCE {m}")


def _decide(inputs: dict[str, Any], rule: _Rule | None = None, live: bool = True,
            ) -> tuple[list[tuple[Any, float]], list[tuple[Any, float]], bool]:
    """(shown, every candidate, abstained) from the pure engine, each candidate with the confidence an answer shows,
    as `services/investigate.py` decides: abstain when the first is under the threshold, or (asked live) when the
    strongest candidate's changes are over; show the top three from the floor up."""
    from sre_bot.analysis import engine

    rule = rule or _shown_rule()
    result = engine.analyse(inputs["evidence"], graph=inputs["graph"], focus=inputs.get("focus"),
                            window=inputs["window"], gaps=inputs.get("gaps", 0))
    cands = list(result.candidates)
    scored = list(zip(cands, rule.confidences(cands), strict=True))
    insufficient = not scored or scored[0][1] < rule.abstain_below
    insufficient = insufficient or (live and bool(cands) and getattr(cands[0], "over_at", None) is not None)
    shown = [] if insufficient else [(c, p) for c, p in scored[:3] if p >= rule.shown_floor]
    return shown, scored, insufficient


def _answer(inputs: dict[str, Any], rule: _Rule | None = None) -> tuple[list[str], list[str], bool]:
    """(shown hypotheses, full ranking, abstained) from the pure engine, as `services/investigate.py` shows it."""
    shown, scored, insufficient = _decide(inputs, rule)
    return [c.service for c, _ in shown], [c.service for c, _ in scored], insufficient


def _fields(c: Any) -> dict[str, Any]:
    """A candidate's plain fields (scalars, reasons, parts; not its findings), and its 0–1 score, like a ranking
    entry of `sre-bot ask --json`."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(c):
        v = getattr(c, f.name)
        if isinstance(v, (str, int, float, bool, type(None))) or f.name in ("reasons", "parts"):
            out[f.name] = v
    score01 = getattr(c, "score01", None)
    if score01 is not None:
        out["raw_score"], out["score"] = out.get("score"), score01
    return out


def _answer_json(inputs: dict[str, Any], rule: _Rule | None = None) -> dict[str, Any]:
    """The replayed answer in the shape `answer_fields` reads (`insufficient_evidence`, `hypotheses`, `ranking`):
    each entry's `confidence` is the one an answer shows, `engine_confidence` the engine's own."""
    shown, scored, insufficient = _decide(inputs, rule)

    def entry(c: Any, p: float) -> dict[str, Any]:
        return {**_fields(c), "engine_confidence": getattr(c, "confidence", None), "confidence": p}

    return {"insufficient_evidence": insufficient, "hypotheses": [entry(c, p) for c, p in shown],
            "ranking": [entry(c, p) for c, p in scored]}


def _replay_quiet(rows: list[dict[str, Any]], results_dir: Path, rule: _Rule) -> int:
    """Each recorded no-fault window answered again by the pure engine (`inprocess` replaced; the recording's shown
    services kept as `recorded_shown`)."""
    n = 0
    for row in rows:
        rel = row.get("evidence_file")
        if not rel:
            continue
        path = Path(rel) if Path(rel).is_absolute() else results_dir / rel
        before = row.get("inprocess") or {}
        kept = {k: before[k] for k in ("wall_s", "prometheus_queries", "loki_queries", "evidence_items")
                if k in before}
        row["inprocess"] = {**kept, **answer_fields(_answer_json(load_engine_inputs(path), rule)), "replayed": True,
                            "recorded_shown": list(before.get("shown") or []),
                            "recorded_insufficient": before.get("insufficient")}
        n += 1
    return n


def replay(results: dict[str, Any], results_dir: Path = RESULTS_DIR) -> dict[str, Any]:
    """`results` (a recorded run's JSON) with every variant that has an evidence file answered again."""
    seed = results["settings"]["seed"]
    t0 = time.perf_counter()
    rule = _shown_rule()
    n = 0
    for row in results["faults"]:
        services = results["days"][row["day"]]["services"]
        truth = row["truth"]
        for part in row["variants"].values():
            rel = part.get("evidence_file")
            if not rel:
                continue
            path = Path(rel) if Path(rel).is_absolute() else results_dir / rel
            shown, ranked, insufficient = _answer(load_engine_inputs(path), rule)
            n += 1
            rng = random.Random(f"{seed}/{row['day']}/{row['index']}")
            rest = [s for s in services if s not in ranked]
            rng.shuffle(rest)
            order = [s for s in ranked if s in services] + rest
            rank = order.index(truth) + 1 if truth in order else None
            before = part.get("shown_rank")
            part.update(insufficient=insufficient, shown=shown,
                        shown_rank=shown.index(truth) + 1 if truth in shown else None,
                        shown_hit1=shown[:1] == [truth], shown_hit3=truth in shown[:3], ranked=len(ranked),
                        top3=order[:3], rank=rank, hit1=rank == 1, hit3=rank is not None and rank <= 3,
                        own_hit1=rank == 1 and bool(ranked), own_hit3=rank is not None and rank <= min(3, len(ranked)),
                        replayed=True, recorded_shown_rank=before)
    quiet = _replay_quiet(results.get("quiet") or [], results_dir, rule)
    progress(f"replayed {n} investigations and {quiet} no-fault windows through the pure engine in "
             f"{time.perf_counter() - t0:.1f}s")
    results["replay"] = {"investigations": n, "quiet_windows": quiet, "seconds": round(time.perf_counter() - t0, 2),
                         "rule": rule.describe,
                         "note": "engine re-run on recorded evidence; baselines, wall time and queries are the "
                                 "recorded run's"}
    return results
