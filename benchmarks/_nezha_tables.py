"""The Nezha RCA benchmark's arithmetic and tables: per-fault rows in, summaries and aligned text out. Pure.

A row holds the fault, the baselines' ranks (`maxz_*`, `maxz_floor_*`, `baro_*`, `random_*`) and, under
`variants`, one entry per bot row (`metrics`, `callgraph`, `logs`) with what it showed (`shown_*`) and its ranking
with the seeded random fill (`hit1`/`hit3`), wall time and queries. Under `cli`, when the real CLI ran, one entry
per bot row with what `sre-bot ask --json --no-llm` showed (`shown_*`, `insufficient`, `wall_s`, `window_ok`, and
`same`: the in-process answer was identical). When it ran, the CLI's answers are the headline ("bot: …" top-1/top-3,
abstentions); the in-process figures stay beside them as `inprocess_*`. The no-fault windows (`results["quiet"]`,
summarised by `_nezha_quiet.quiet_summary`) get their own table (`render_quiet`).
"""

from __future__ import annotations

from statistics import mean
from typing import Any

from ._report import format_table, pct

__all__ = ["summarize", "by_fault_type", "render", "render_sweep", "render_quiet", "cli_differences", "NEZHA_PAPER",
           "VARIANTS", "VARIANT_TITLES", "BASELINES"]

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


def _quantile(vals: list[float], q: float) -> float:
    s = sorted(vals)
    return s[min(len(s) - 1, int(q * len(s)))]


def _cli(rows: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    """The CLI's figures for one bot row, when it ran (a fault it did not answer counts as a miss)."""
    ran = [r for r in rows if name in r.get("variants", {})]
    clis = [r.get("cli", {}).get(name) for r in ran]
    if not any(c is not None for c in clis):
        return None
    parts = [c or {"error": "not run"} for c in clis]
    n = len(parts)
    walls = [float(p["wall_s"]) for p in parts if isinstance(p.get("wall_s"), (int, float))]
    return {
        "faults": n, "top1": sum(1 for p in parts if p.get("shown_hit1")) / n,
        "top3": sum(1 for p in parts if p.get("shown_hit3")) / n,
        "abstentions": sum(1 for p in parts if p.get("insufficient")),
        "errors": sum(1 for p in parts if p.get("error")),
        "same_as_inprocess": sum(1 for p in parts if p.get("same")),
        "window_ok": sum(1 for p in parts if p.get("window_ok")),
        "extra_gaps": sum(1 for p in parts if p.get("extra_gaps")),
        "mean_wall_s": mean(walls) if walls else None, "median_wall_s": _quantile(walls, 0.5) if walls else None,
        "p90_wall_s": _quantile(walls, 0.9) if walls else None, "max_wall_s": max(walls) if walls else None,
    }


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
    out.update(inprocess_top1=out["top1"], inprocess_top3=out["top3"], inprocess_abstentions=out["abstentions"],
               source="in-process")
    cli = _cli(rows, name)
    if cli is not None:  # the headline is what the real CLI showed
        out.update(top1=cli["top1"], top3=cli["top3"], abstentions=cli["abstentions"], source="cli", cli=cli)
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


def _shown(p: dict[str, Any]) -> str:
    if p.get("error") and not p.get("shown"):
        return "error"
    return " ".join(_short(s) for s in p.get("shown", [])[:3]) or ("abstain" if p.get("insufficient") else "—")


def _has_cli(results: dict[str, Any]) -> bool:
    return any(r.get("cli") for r in results["faults"])


def _per_fault(results: dict[str, Any], label: str) -> str:
    variants = _variants_run(results)
    cli = _has_cli(results)
    head = ["app", "#", "inject", "fault", "truth"]
    for v in variants:
        head += [f"{v}: shown", "rank"]
    head += ["max|z|", "BARO"]
    rows = []
    for r in results["faults"]:
        line = [_abbrev(r["app"]), r["index"], r["inject_time"][11:16], r["fault"], _short(r["truth"])]
        for v in variants:
            p = r.get("cli", {}).get(v) if cli else r["variants"].get(v)
            if p is None:
                line += ["", ""]
                continue
            mark = " ≠" if cli and not p.get("same") else ""
            line += [_shown(p) + mark, p.get("shown_rank") or "—"]
        line += [r["maxz_rank"] or "—", r["baro_rank"] or "—"]
        rows.append(line)
    align = "lrlll" + "lr" * len(variants) + "rr"
    what = ("what `sre-bot ask --json --no-llm` showed; ≠: the in-process answer differs, listed below" if cli
            else "the in-process answer (--no-cli)")
    return format_table(head, rows, title=f"Per fault ({label}; {what}; rank = where the truth is among the shown "
                                          f"hypotheses)", align=align)


def cli_differences(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every fault and row where the CLI's shown answer is not the in-process one (or the CLI failed)."""
    out = []
    for r in results["faults"]:
        for v, c in r.get("cli", {}).items():
            if c.get("same"):
                continue
            p = r["variants"].get(v, {})
            out.append({"app": r["app"], "day": r["day"], "index": r["index"], "row": v, "truth": r["truth"],
                        "cli": _shown(c), "cli_rank": c.get("shown_rank"), "inprocess": _shown(p),
                        "inprocess_rank": p.get("shown_rank"), "cli_extra_gaps": c.get("extra_gaps", []),
                        "cli_error": c.get("error"), "window_ok": c.get("window_ok")})
    return out


def _cli_section(results: dict[str, Any]) -> str:
    rows = []
    for name, s in [*results["by_day"].items(), ("all", results["overall"])]:
        if not s.get("faults"):
            continue
        app = results["days"].get(name, {}).get("app", name) if name != "all" else "all"
        for v, vs in s["variants"].items():
            c = vs.get("cli")
            if not c:
                continue
            rows.append([app, v, c["faults"], f"{c['same_as_inprocess']}/{c['faults']}",
                         f"{c['window_ok']}/{c['faults']}", c["errors"], c["extra_gaps"],
                         f"{pct(c['top1'])} / {pct(c['top3'])}",
                         f"{pct(vs['inprocess_top1'])} / {pct(vs['inprocess_top3'])}",
                         *(f"{c[k]:.2f}s" if c[k] is not None else "—"
                           for k in ("mean_wall_s", "median_wall_s", "p90_wall_s", "max_wall_s")),
                         f"{vs['mean_wall_s'] or 0:.2f}s"])
    concurrent = (results.get("settings", {}).get("cli") or {}).get("concurrent", "?")
    out = [format_table(["app", "row", "faults", "same answer", "window =", "errors", "more gaps", "CLI @1/@3",
                         "in-process @1/@3", "CLI s mean", "p50", "p90", "max", "in-process s/inv"], rows,
                        title=f"The real CLI (`sre-bot ask --json --no-llm`, a process per question, {concurrent} "
                              f"at a time) against the in-process investigate()", align="llrrrrrrrrrrrr")]
    diffs = cli_differences(results)
    if diffs:
        out.append("Where they differ (app #fault row truth: CLI shown [rank] | in-process shown [rank]):")
        for d in diffs:
            extra = f"; CLI error: {d['cli_error']}" if d["cli_error"] else ""
            extra += "" if d["window_ok"] else "; CLI window differs"
            gaps = "; ".join(d["cli_extra_gaps"])[:300]
            out.append(f"  {_abbrev(d['app'])} #{d['index']} {d['row']} {_short(d['truth'])}: {d['cli']} "
                       f"[{d['cli_rank'] or '—'}] | {d['inprocess']} [{d['inprocess_rank'] or '—'}]"
                       f"{'; CLI gaps not in-process: ' + gaps if gaps else ''}{extra}")
    else:
        out.append("Every CLI answer shows the same hypotheses, in the same order, as the in-process one.")
    return "\n".join(out)


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
            c = vs.get("cli")
            acc.append([app if first else "", VARIANT_TITLES[v], vs["faults"], pct(vs["top1"]), pct(vs["top3"]),
                        _ratio(vs["top1"], rnd["top1"]),
                        f"{pct(vs['inprocess_top1'])} / {pct(vs['inprocess_top3'])}" if c else "",
                        f"{c['same_as_inprocess']}/{c['faults']}" if c else "",
                        pct(vs["ranking_top1"]), pct(vs["ranking_top3"]),
                        vs["abstentions"], f"{c['mean_wall_s'] or 0:.2f}s" if c else "—",
                        f"{vs['mean_wall_s'] or 0:.2f}s",
                        f"{vs['mean_prometheus_queries'] or 0:.0f}",
                        f"{vs['mean_loki_queries']:.0f}" if vs.get("mean_loki_queries") else "—"])
            first = False
        for key, title in BASELINES.items():
            acc.append(["", title, s["faults"], pct(s[key]["top1"]), pct(s[key]["top3"]),
                        _ratio(s[key]["top1"], rnd["top1"]), *[""] * 9])
        acc.append(["", "random (expected)", s["faults"], pct(rnd["top1"]), pct(rnd["top3"]), "1.0×", *[""] * 9])
    acc.append(["OnlineBoutique", "Nezha paper (metrics+traces+logs; not measured here)", "—",
                pct(NEZHA_PAPER["top1"]), pct(NEZHA_PAPER["top3"]), *[""] * 10])
    source = ("top-1/top-3/abstain = the hypotheses the real `sre-bot ask --json --no-llm` showed (a process per "
              "question); in-process = investigate() in the benchmark, same = identical answers"
              if _has_cli(results) else "top-1/top-3 = the in-process investigate()'s shown hypotheses (--no-cli)")
    out += [format_table(["app", "method", "faults", "top-1", "top-3", "top-1 ÷ random", "in-process @1/@3", "same",
                          "ranking@1", "ranking@3", "abstain", "CLI s/q", "s/inv", "prom q/inv", "loki q/inv"], acc,
                         title=f"Root-cause service accuracy ({label}; {source}; no random fill; ranking@k = the "
                               f"in-process ranking with a seeded random fill; s/inv and queries: in-process)",
                         align="llrrrrrrrrrrrrr"), ""]
    if _has_cli(results):
        out += [_cli_section(results), ""]
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
    out += [format_table(head, kinds, title="By fault type (all days; bot rows = the shown hypotheses"
                               + (" of `sre-bot ask`)" if _has_cli(results) else ", in-process)"),
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
    if results.get("quiet"):
        out += ["", render_quiet(results)]
    return "\n".join(out)


def _of(side: dict[str, Any] | None) -> str:
    if not side:
        return "—"
    errors = f", {side['errors']} err" if side.get("errors") else ""
    return f"{side['abstained']}/{side['windows']} ({pct(side['rate'], 0)}){errors}"


def _named(side: dict[str, Any] | None, top: int = 3) -> str:
    if not side:
        return "—"
    named = list(side.get("named_first", {}).items())
    if not named:
        return "none"
    return ", ".join(f"{_short(s)} ×{n}" for s, n in named[:top]) + (" …" if len(named) > top else "")


_KIND_TITLES = {"before": "before (inject − 30 s)", "between": "between faults",
                "recovering": "recovering (NOT no-fault)"}


def render_quiet(results: dict[str, Any]) -> str:
    """The no-fault windows' table: per day and kind, how many answers abstained (the right answer there), in-process
    and through the CLI, and the services named first instead."""
    rows = []
    recovering = []
    for s in results["quiet_summary"].values():
        first = True
        for kind, k in s["kinds"].items():
            c = k.get("cli")
            rows.append([s["app"] if first else "", _KIND_TITLES.get(kind, kind), k["windows"], _of(k), _of(c),
                         f"{c['same_as_inprocess']}/{c['windows']}" if c else "—", _named(k), _named(c)])
            first = False
            if kind == "recovering":
                recovering.append(f"{s['app']}: named the previous fault's service in {k.get('named_previous', 0)}"
                                  f"/{k['windows']} in-process"
                                  + (f", {c.get('named_previous', 0)}/{c['windows']} CLI" if c else ""))
    row_names = sorted({r["row"] for r in results["quiet"]})
    out = [format_table(["app", "window", "windows", "abstained in-process", "abstained CLI", "same",
                         "named first instead (in-process)", "(CLI)"], rows,
                        title=f"No-fault windows (the right answer is \"insufficient evidence\"; asked \"why is "
                              f"<entry> slow?\" about {results['quiet'][0].get('window_s', 600) / 60:.0f} min with the "
                              f"day's fullest row: {', '.join(row_names)})", align="llrrrrll")]
    if recovering:
        out.append("Recovering windows end 30 s before a fault and overlap the previous fault's 8 minutes (usually "
                   "holding its injection and whole effect): abstaining there is not plainly right, naming the "
                   "previous fault's service is fair. " + "; ".join(recovering) + ".")
    return "\n".join(out)


def render_sweep(sweep: list[dict[str, Any]]) -> str:
    rows = []
    for s in sweep:
        for name, summ in [*s["by_day"].items(), ("all", s["overall"])]:
            if not summ.get("faults"):
                continue
            for v, vs in summ["variants"].items():
                rows.append([s["label"], s.get("apps", {}).get(name, name), v, vs.get("source", ""), vs["faults"],
                             pct(vs["top1"]),
                             pct(vs["top3"]), pct(summ["maxz"]["top1"]), pct(summ["baro"]["top1"]),
                             vs["abstentions"]])
    return format_table(["setting", "day", "row", "answered by", "faults", "shown top-1", "shown top-3",
                         "max|z| top-1", "BARO top-1", "abstain"], rows,
                        title="Sweep (extra settings; the headline is the first; sweeps run in-process only)",
                        align="llllrrrrrr")
