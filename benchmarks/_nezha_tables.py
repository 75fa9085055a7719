"""The Nezha RCA benchmark's arithmetic and tables: per-fault rows in, summaries and aligned text out. Pure.

A row holds the fault, the baselines' ranks (`maxz_*`, `maxz_floor_*`, `baro_*`, `random_*`) and, under
`variants`, one entry per bot row (`metrics`, `callgraph`, `logs`) with what it showed (`shown_*`) and its ranking
with the seeded random fill (`hit1`/`hit3`), wall time and queries.
"""

from __future__ import annotations

from statistics import mean
from typing import Any

from ._report import format_table, pct

__all__ = ["summarize", "by_fault_type", "render", "render_sweep", "NEZHA_PAPER", "VARIANTS", "VARIANT_TITLES",
           "BASELINES"]

NEZHA_PAPER = {"top1": 0.929, "top3": 0.964}  # service level, OnlineBoutique, metrics+traces+logs
VARIANTS = ("metrics", "callgraph", "logs")
VARIANT_TITLES = {"metrics": "bot: metrics only", "callgraph": "bot: + call-graph metrics", "logs": "bot: + logs"}
BASELINES = {"maxz": "max single-metric |z|", "maxz_floor": "max |z|, MAD floored 5%",
             "baro": "BARO-style RobustScorer"}


def _rate(rows: list[dict[str, Any]], get: Any) -> float:
    return sum(1 for r in rows if get(r)) / len(rows)


def _avg(vals: list[Any]) -> float | None:
    nums = [v for v in vals if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return mean(nums) if nums else None


def _variant(rows: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    parts = [r["variants"][name] for r in rows if name in r.get("variants", {})]
    if not parts:
        return None
    n = len(parts)

    def rate(key: str) -> float:
        return sum(1 for p in parts if p.get(key)) / n

    scoped = [p for p in parts if p.get("in_scope")]
    out = {
        "faults": n,
        "top1": rate("shown_hit1"), "top3": rate("shown_hit3"),  # the headline: what the bot shows
        "ranking_top1": rate("hit1"), "ranking_top3": rate("hit3"),  # its ranking, seeded random fill behind it
        "own_top1": rate("own_hit1"), "own_top3": rate("own_hit3"),
        "abstentions": sum(1 for p in parts if p.get("insufficient")),
        "errors": sum(1 for p in parts if p.get("error")),
        "truth_in_scope": rate("in_scope"),
        "shown_when_truth_in_scope": {
            "faults": len(scoped),
            "top1": sum(1 for p in scoped if p.get("shown_hit1")) / len(scoped) if scoped else None,
            "top3": sum(1 for p in scoped if p.get("shown_hit3")) / len(scoped) if scoped else None},
        "truth_ranked": sum(1 for p in parts if p.get("truth_in_ranking")) / n,
        "mean_wall_s": _avg([p.get("wall_s") for p in parts]),
        "mean_prometheus_queries": _avg([p.get("prometheus_queries") for p in parts]),
        "mean_loki_queries": _avg([p.get("loki_queries") for p in parts]),
        "mean_evidence_items": _avg([p.get("evidence_items") for p in parts]),
        "mean_evidence_chars": _avg([p.get("evidence_chars") for p in parts]),
        "mean_evidence_tokens": _avg([p.get("evidence_tokens") for p in parts]),
        "mean_raw_chars": _avg([p.get("raw_chars") for p in parts]),
    }
    if out["mean_evidence_chars"] and out["mean_raw_chars"]:
        out["raw_to_evidence_ratio"] = out["mean_raw_chars"] / out["mean_evidence_chars"]
    return out


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(rows)
    if not n:
        return {"faults": 0}
    out: dict[str, Any] = {"faults": n, "variants": {}}
    for name in VARIANTS:
        v = _variant(rows, name)
        if v is not None:
            out["variants"][name] = v
    for key in BASELINES:
        out[key] = {"top1": _rate(rows, lambda r, k=key: r.get(f"{k}_hit1")),
                    "top3": _rate(rows, lambda r, k=key: r.get(f"{k}_hit3"))}
    out["random"] = {"top1": _avg([r.get("random_top1") for r in rows]),
                     "top3": _avg([r.get("random_top3") for r in rows])}
    return out


def by_fault_type(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    kinds = sorted({r["fault"] for r in rows})
    return {k: summarize([r for r in rows if r["fault"] == k]) for k in kinds}


def _short(name: str) -> str:
    return name.removeprefix("ts-").removesuffix("-service").removesuffix("service") or name


def _abbrev(app: str) -> str:
    return "".join(c for c in app if c.isupper()) or app  # OnlineBoutique -> OB


def _ratio(a: float | None, b: float | None) -> str:
    return "—" if a is None or not b else f"{a / b:.1f}×"


def _variants_run(results: dict[str, Any]) -> list[str]:
    seen = {v for r in results["faults"] for v in r.get("variants", {})}
    return [v for v in VARIANTS if v in seen]


def _per_fault(results: dict[str, Any], label: str) -> str:
    variants = _variants_run(results)
    head = ["app", "#", "inject", "fault", "truth"]
    for v in variants:
        head += [f"{v}: shown", "rank"]
    head += ["max|z|", "BARO"]
    rows = []
    for r in results["faults"]:
        line = [_abbrev(r["app"]), r["index"], r["inject_time"][11:16], r["fault"], _short(r["truth"])]
        for v in variants:
            p = r["variants"].get(v)
            if p is None:
                line += ["", ""]
                continue
            shown = " ".join(_short(s) for s in p.get("shown", [])[:3]) or ("abstain" if p.get("insufficient")
                                                                           else "—")
            line += [shown, p.get("shown_rank") or "—"]
        line += [r["maxz_rank"] or "—", r["baro_rank"] or "—"]
        rows.append(line)
    align = "lrlll" + "lr" * len(variants) + "rr"
    return format_table(head, rows, title=f"Per fault ({label}; rank = where the truth is among the shown "
                                          f"hypotheses)", align=align)


def render(results: dict[str, Any], label: str) -> str:
    out = [_per_fault(results, label), ""]
    groups = [*results["by_day"].items(), ("all", results["overall"])]
    acc = []
    for name, s in groups:
        if not s.get("faults"):
            continue
        app = results["days"].get(name, {}).get("app", name) if name != "all" else "all"
        rnd = s["random"]
        first = True
        for v, vs in s["variants"].items():
            acc.append([app if first else "", VARIANT_TITLES[v], vs["faults"], pct(vs["top1"]), pct(vs["top3"]),
                        _ratio(vs["top1"], rnd["top1"]), pct(vs["ranking_top1"]), pct(vs["ranking_top3"]),
                        vs["abstentions"], f"{vs['mean_wall_s'] or 0:.2f}s",
                        f"{vs['mean_prometheus_queries'] or 0:.0f}",
                        f"{vs['mean_loki_queries']:.0f}" if vs.get("mean_loki_queries") else "—"])
            first = False
        for key, title in BASELINES.items():
            acc.append(["", title, s["faults"], pct(s[key]["top1"]), pct(s[key]["top3"]),
                        _ratio(s[key]["top1"], rnd["top1"]), "", "", "", "", "", ""])
        acc.append(["", "random (expected)", s["faults"], pct(rnd["top1"]), pct(rnd["top3"]), "1.0×", "", "", "",
                    "", "", ""])
    acc.append(["OnlineBoutique", "Nezha paper (metrics+traces+logs; not measured here)", "—",
                pct(NEZHA_PAPER["top1"]), pct(NEZHA_PAPER["top3"]), "", "", "", "", "", "", ""])
    out += [format_table(["app", "method", "faults", "top-1", "top-3", "top-1 ÷ random", "ranking@1", "ranking@3",
                          "abstain", "s/inv", "prom q/inv", "loki q/inv"], acc,
                         title=f"Root-cause service accuracy ({label}; top-1/top-3 = the bot's shown hypotheses, "
                               f"no random fill; ranking@k = its ranking with a seeded random fill)",
                         align="llrrrrrrrrrr"), ""]
    variants = _variants_run(results)
    kinds = []
    for kind, s in results["by_fault_type"].items():
        line = [kind, s["faults"]]
        for v in variants:
            vs = s["variants"].get(v)
            line += [pct(vs["top1"]), pct(vs["top3"])] if vs else ["—", "—"]
        for key in BASELINES:
            line += [pct(s[key]["top1"]), pct(s[key]["top3"])]
        kinds.append(line)
    head = ["fault type", "faults"]
    for v in variants:
        head += [f"{v}@1", f"{v}@3"]
    head += ["max|z|@1", "max|z|@3", "floored@1", "floored@3", "BARO@1", "BARO@3"]
    out += [format_table(head, kinds, title="By fault type (all days; bot rows = shown hypotheses)",
                         align="lr" + "r" * (len(head) - 2)), ""]
    cost = []
    for name, s in groups:
        if not s.get("faults"):
            continue
        app = results["days"].get(name, {}).get("app", name) if name != "all" else "all"
        for v, vs in s["variants"].items():
            sc = vs["shown_when_truth_in_scope"]
            cost.append([app, v, vs["faults"], vs["abstentions"], vs["errors"], pct(vs["truth_in_scope"], 0),
                         f"{pct(sc['top1'])} / {pct(sc['top3'])}", pct(vs["truth_ranked"], 0),
                         f"{vs['mean_evidence_items'] or 0:.0f}", f"{vs['mean_evidence_chars'] or 0:,.0f}",
                         f"{vs['mean_evidence_tokens'] or 0:,.0f}", f"{vs['mean_raw_chars'] or 0:,.0f}",
                         _ratio(vs.get("mean_raw_chars"), vs.get("mean_evidence_chars"))])
    out.append(format_table(["app", "row", "faults", "abstain", "errors", "truth in scope", "shown@1/@3 in scope",
                             "truth ranked", "evidence", "evid. chars", "≈tokens", "raw chars", "raw÷evid."], cost,
                            title="Per investigation (means; raw = signal points fetched × 20 chars)",
                            align="llrrrrrrrrrrr"))
    return "\n".join(out)


def render_sweep(sweep: list[dict[str, Any]]) -> str:
    rows = []
    for s in sweep:
        for name, summ in [*s["by_day"].items(), ("all", s["overall"])]:
            if not summ.get("faults"):
                continue
            for v, vs in summ["variants"].items():
                rows.append([s["label"], s.get("apps", {}).get(name, name), v, vs["faults"], pct(vs["top1"]),
                             pct(vs["top3"]), pct(summ["maxz"]["top1"]), pct(summ["baro"]["top1"]),
                             vs["abstentions"]])
    return format_table(["setting", "day", "row", "faults", "shown top-1", "shown top-3", "max|z| top-1",
                         "BARO top-1", "abstain"], rows,
                        title="Sweep (extra settings; the headline is the first)", align="lllrrrrrr")
