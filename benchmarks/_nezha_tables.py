"""The Nezha RCA benchmark's arithmetic and tables: per-fault rows in, summaries and aligned text out. Pure."""

from __future__ import annotations

from statistics import mean
from typing import Any

from ._report import format_table, pct

__all__ = ["summarize", "by_fault_type", "render", "render_sweep", "NEZHA_PAPER"]

NEZHA_PAPER = {"top1": 0.929, "top3": 0.964}  # service level, OnlineBoutique, metrics+traces+logs


def _scoped(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The engine's own-ranking accuracy over the faults whose truth it looked at."""
    scoped = [r for r in rows if r.get("in_scope")]
    if not scoped:
        return {"faults": 0, "top1": None, "top3": None}
    return {"faults": len(scoped), "top1": sum(1 for r in scoped if r["engine_own_hit1"]) / len(scoped),
            "top3": sum(1 for r in scoped if r["engine_own_hit3"]) / len(scoped)}


def by_fault_type(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    kinds = sorted({r["fault"] for r in rows})
    return {k: summarize([r for r in rows if r["fault"] == k]) for k in kinds}


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(rows)
    if not n:
        return {"faults": 0}

    def rate(key: str) -> float:
        return sum(1 for r in rows if r.get(key)) / n

    def avg(key: str) -> float | None:
        vals = [r[key] for r in rows if isinstance(r.get(key), (int, float))]
        return mean(vals) if vals else None

    out = {
        "faults": n,
        "engine": {"top1": rate("engine_hit1"), "top3": rate("engine_hit3"), "shown_top1": rate("shown_top1"),
                   "own_top1": rate("engine_own_hit1"), "own_top3": rate("engine_own_hit3")},
        "maxz": {"top1": rate("maxz_hit1"), "top3": rate("maxz_hit3")},
        "maxz_floor": {"top1": rate("maxz_floor_hit1"), "top3": rate("maxz_floor_hit3")},
        "random": {"top1": avg("random_top1"), "top3": avg("random_top3")},
        "abstentions": sum(1 for r in rows if r.get("insufficient")),
        "errors": sum(1 for r in rows if r.get("error")),
        "truth_in_scope": rate("in_scope"),
        "engine_when_truth_in_scope": _scoped(rows),
        "truth_ranked": sum(1 for r in rows if r.get("truth_in_ranking")) / n,
        "mean_wall_s": avg("wall_s"), "mean_prometheus_queries": avg("prometheus_queries"),
        "mean_evidence_items": avg("evidence_items"), "mean_evidence_chars": avg("evidence_chars"),
        "mean_evidence_tokens": avg("evidence_tokens"), "mean_shown_chars": avg("shown_chars"),
        "mean_raw_points": avg("raw_points"), "mean_raw_chars": avg("raw_chars"),
    }
    if out["mean_evidence_chars"] and out["mean_raw_chars"]:
        out["raw_to_evidence_ratio"] = out["mean_raw_chars"] / out["mean_evidence_chars"]
    return out


def _short(name: str) -> str:
    return name.removeprefix("ts-").removesuffix("-service").removesuffix("service") or name


def _abbrev(app: str) -> str:
    return "".join(c for c in app if c.isupper()) or app  # OnlineBoutique -> OB


def _ratio(a: float | None, b: float | None) -> str:
    return "—" if a is None or not b else f"{a / b:.1f}×"


def render(results: dict[str, Any], label: str) -> str:
    rows = results["faults"]
    per_fault = [[_abbrev(r["app"]), r["index"], r["inject_time"][11:16], r["fault"], _short(r["truth"]),
                  " ".join(_short(s) for s in r["engine_top3"]), r["engine_rank"] or "—",
                  "abstain" if r.get("insufficient") else "", r["maxz_rank"] or "—", r["maxz_floor_rank"] or "—",
                  f"{r.get('wall_s', 0):.2f}s"] for r in rows]
    out = [format_table(["app", "#", "inject", "fault", "truth", "engine top-3", "rank", "note", "max|z|", "floored",
                         "wall"], per_fault, title=f"Per fault ({label})", align="lrllllrlrrr"), ""]
    acc = []
    groups = [*results["by_day"].items(), ("all", results["overall"])]
    for name, s in groups:
        if not s.get("faults"):
            continue
        day = results["days"].get(name, {}).get("app", name) if name != "all" else "all"
        rnd = s["random"]
        acc += [
            [day, "engine (investigate)", s["faults"], pct(s["engine"]["top1"]), pct(s["engine"]["top3"]),
             _ratio(s["engine"]["top1"], rnd["top1"]), pct(s["engine"]["shown_top1"])],
            ["", "  its own ranking only (no random fill)", s["faults"], pct(s["engine"]["own_top1"]),
             pct(s["engine"]["own_top3"]), _ratio(s["engine"]["own_top1"], rnd["top1"]), ""],
            ["", "max single-metric |z|", s["faults"], pct(s["maxz"]["top1"]), pct(s["maxz"]["top3"]),
             _ratio(s["maxz"]["top1"], rnd["top1"]), ""],
            ["", "max |z|, MAD floored 5%", s["faults"], pct(s["maxz_floor"]["top1"]), pct(s["maxz_floor"]["top3"]),
             _ratio(s["maxz_floor"]["top1"], rnd["top1"]), ""],
            ["", "random (expected)", s["faults"], pct(rnd["top1"]), pct(rnd["top3"]), "1.0×", ""],
        ]
    acc.append(["OnlineBoutique", "Nezha paper (metrics+traces+logs; not measured here)", "—",
                pct(NEZHA_PAPER["top1"]), pct(NEZHA_PAPER["top3"]), "", ""])
    out += [format_table(["app", "method", "faults", "top-1", "top-3", "top-1 ÷ random", "shown@1"], acc,
                         title=f"Root-cause service accuracy ({label})", align="llrrrrr"), ""]
    cost = []
    for name, s in groups:
        if not s.get("faults"):
            continue
        day = results["days"].get(name, {}).get("app", name) if name != "all" else "all"
        cost.append([day, s["faults"], s["abstentions"], s["errors"], pct(s["truth_in_scope"], 0),
                     pct(s["truth_ranked"], 0), f"{s['mean_wall_s'] or 0:.2f}s",
                     f"{s['mean_prometheus_queries'] or 0:.0f}", f"{s['mean_evidence_items'] or 0:.0f}",
                     f"{s['mean_evidence_chars'] or 0:,.0f}", f"{s['mean_evidence_tokens'] or 0:,.0f}",
                     f"{s['mean_raw_chars'] or 0:,.0f}", _ratio(s.get("mean_raw_chars"), s.get("mean_evidence_chars"))])
    kinds = []
    for kind, s in results["by_fault_type"].items():
        sc = s["engine_when_truth_in_scope"]
        kinds.append([kind, s["faults"], pct(s["engine"]["top1"]), pct(s["engine"]["top3"]), pct(s["maxz"]["top1"]),
                      pct(s["maxz"]["top3"]), pct(s["maxz_floor"]["top1"]), pct(s["maxz_floor"]["top3"]),
                      s["abstentions"], f"{sc['faults']}", pct(sc["top1"]), pct(sc["top3"])])
    out += [format_table(["fault type", "faults", "engine@1", "engine@3", "max|z|@1", "max|z|@3", "floored@1",
                          "floored@3", "abstain", "truth in scope", "own@1 in scope", "own@3 in scope"], kinds,
                         title="By fault type (all days)", align="lrrrrrrrrrrr"), ""]
    out.append(format_table(["app", "faults", "abstain", "errors", "truth in scope", "truth ranked", "s/inv",
                             "queries/inv", "evidence", "evid. chars", "≈tokens", "raw chars", "raw÷evid."], cost,
                            title="Per investigation (means; raw = points fetched × 20 chars)",
                            align="lrrrrrrrrrrrr"))
    return "\n".join(out)


def render_sweep(sweep: list[dict[str, Any]]) -> str:
    rows = []
    for s in sweep:
        for name, summ in [*s["by_day"].items(), ("all", s["overall"])]:
            if not summ.get("faults"):
                continue
            rows.append([s["label"], s.get("apps", {}).get(name, name), summ["faults"], pct(summ["engine"]["top1"]),
                         pct(summ["engine"]["top3"]), pct(summ["maxz"]["top1"]), pct(summ["maxz"]["top3"]),
                         summ["abstentions"]])
    return format_table(["setting", "day", "faults", "engine top-1", "engine top-3", "max|z| top-1", "max|z| top-3",
                         "abstain"], rows, title="Sweep (extra rows; the headline is the first setting)",
                        align="llrrrrrr")
