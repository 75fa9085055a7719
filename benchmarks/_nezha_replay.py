"""Record what the engine was given per fault and row, and re-run the pure engine over it (`--replay`).

    save_engine_inputs(path, {"evidence": [...typed evidence...], "graph": ..., "focus": ..., "window": ..., "gaps": 0})
    results = replay(results_json)   # every recorded row's answer again, from `sre_bot.analysis.engine.analyse`

The evidence is the typed, frozen dataclasses of `sre_bot.analysis.evidence` (floats and strings only), written as
gzip JSON with each item's type name. Replaying skips Prometheus, Loki and the gathering: it reruns
`engine.analyse(...)` and picks the shown hypotheses the way `services/investigate.py` does (the top candidates
with confidence >= `MIN_CONFIDENCE`, none when the first is below it), so iterating on the engine takes seconds.
Baselines, wall times and query counts are the recorded run's.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import random
import time
from pathlib import Path
from typing import Any

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


def _answer(inputs: dict[str, Any]) -> tuple[list[str], list[str], bool]:
    """(shown hypotheses, full ranking, abstained) from the pure engine, as `services/investigate.py` shows it."""
    from sre_bot.analysis import engine

    result = engine.analyse(inputs["evidence"], graph=inputs["graph"], focus=inputs.get("focus"),
                            window=inputs["window"], gaps=inputs.get("gaps", 0))
    cands = result.candidates
    insufficient = not cands or cands[0].confidence < engine.MIN_CONFIDENCE
    shown = [] if insufficient else [c.service for c in cands[:3] if c.confidence >= engine.MIN_CONFIDENCE]
    return shown, [c.service for c in cands], insufficient


def replay(results: dict[str, Any], results_dir: Path = RESULTS_DIR) -> dict[str, Any]:
    """`results` (a recorded run's JSON) with every variant that has an evidence file answered again."""
    seed = results["settings"]["seed"]
    t0 = time.perf_counter()
    n = 0
    for row in results["faults"]:
        services = results["days"][row["day"]]["services"]
        truth = row["truth"]
        for part in row["variants"].values():
            rel = part.get("evidence_file")
            if not rel:
                continue
            path = Path(rel) if Path(rel).is_absolute() else results_dir / rel
            shown, ranked, insufficient = _answer(load_engine_inputs(path))
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
    progress(f"replayed {n} investigations through the pure engine in {time.perf_counter() - t0:.1f}s")
    results["replay"] = {"investigations": n, "seconds": round(time.perf_counter() - t0, 2),
                         "note": "engine re-run on recorded evidence; baselines, wall time and queries are the "
                                 "recorded run's"}
    return results
