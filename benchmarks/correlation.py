"""Alert correlation on ITBench incident scenarios: interleaved storms in, incidents out, scored against the truth.

    .venv/bin/python -m benchmarks.correlation                                # ../shared/benchmarks/itbench
    .venv/bin/python -m benchmarks.correlation PATH --storms 40 --seed 1 --json /tmp/correlation.json

Data (read in place, never copied): every `scenario_N/groundtruth_v1.yaml` (or `groundtruth.yaml`) with groups and
alerts; scenarios without any are skipped and listed. Absent folder: a message and exit 0.

Alerts. Each ground-truth alert becomes an Alertmanager-style alert: `alertname` = its id, the service from its
group (the `filter` regex without its regex parts, e.g. `frontend-proxy\\b` → frontend-proxy; spellings unified:
`productcatalog` = `product-catalog`, `adservice` = `ad`), labelled as Kubernetes alerts are: `service=` for a
Service (and a ServiceOperation's service), `deployment=` for a Deployment, `pod=<svc>-<rs hash>-<pod hash>` +
`container=` for a Pod; `namespace` from the group; an alert on a ConfigMap, Namespace, chaos object or on no group
has no service label. Fingerprints are Alertmanager's (`alert_payloads.fingerprint`), so an identical alert from
two scenarios of one storm is one alert (it counts for the scenario that fired it first).

Time. A scenario's alerts start in propagation order: an entity's depth is its distance from the root-cause group
along `propagations`, and each hop adds 20–60 s (seeded), plus 0–15 s of jitter; entities the propagations do not
reach come one hop after the deepest. Each alert resolves 20–40 min after its scenario starts (a resolved event).
A storm interleaves 3–5 distinct scenarios whose starts fall within `--spread` minutes (5, then 20: one table
each); storms are 3 h apart, so a later storm's repeat of an alert is a recurrence after resolution. Scenarios of
one application share services (frontend, frontend-proxy alert in most), so overlapping storms are hard on purpose.

Graph. `depends_on` is the union of every scenario's propagations between two services, oriented along the
causality: the affected target "depends on" the source (in the OpenTelemetry demo most faults travel from a callee
to its callers, so this is mostly the call graph; where a fault starves a callee of traffic it points the other
way; a pair seen both ways keeps the majority direction). This is the graph the config's `services[].depends_on`
would hold for this application — taken from the same ground truth, so a best case for a maintained config; the
"no graph" row shows the floor.

Scores, over every alert of every storm (truth: one incident per scenario instance): pairwise precision / recall /
F1 (a pair of alerts put together, and truly together), the adjusted Rand index (Hubert & Arabie), noise reduction
(alerts in ÷ incidents out), and root-service accuracy: for each scenario instance, the incident holding most of its
alerts names the root service; right when it is the root-cause group's service, or — for a root that is not a
workload (a ConfigMap, a chaos object) — a service the propagations reach first from it. Baselines have no root
notion: they name the service of their group's first alert. "reachable" counts instances whose true root service
has an alert at all (the ceiling for any method that names an affected service).

Baselines in the same run: Alertmanager `group_by: [alertname]` and `[service]` (a group stays open while its
latest alert is within the window, 10 min), one incident per window (time only), one incident per alert.

Throughput: storms generated the same way, 15 min apart (several open incidents at once), cut at 1k, 10k and 100k
alerts; the time of `correlate()` (sort + every event, resolutions included) and of the `group_by: [alertname]`
baseline on the same events.

The default correlator's storms are also written as evaluation reports (`correlation-spread<N>-eval.md`, `.json`)
through the same code as `sre-bot eval`: a row per storm (pairwise F1, incidents against the truth's) and a case
per scenario instance (the root service its main incident names).
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml

from benchmarks._report import (
    REPO_ROOT,
    RESULTS_DIR,
    command_line,
    format_table,
    machine_info,
    num,
    pct,
    progress,
    save_and_say,
    utc_now,
    write_eval_report,
)
from sre_bot.alert_payloads import fingerprint
from sre_bot.analysis.correlation import AlertEvent, CorrelationRules, Correlator, correlate, root_service

DEFAULT_DATA = REPO_ROOT / ".." / "shared" / "benchmarks" / "itbench"
T0 = datetime(2026, 1, 5, 0, 0, tzinfo=timezone.utc)
WORKLOAD_KINDS = {"Service", "Pod", "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "ServiceOperation"}
STORM_GAP = timedelta(hours=3)
THROUGHPUT_GAP = timedelta(minutes=15)
SIZES = (1_000, 10_000, 100_000)
_HASH = "bcdfghjklmnpqrstvwxz2456789"
_REGEX_BITS = re.compile(r"-v\*$|\^|\$|\\b|\.\*|\[[^\]]*\][+*]?|\*|\.\+")
SEVERITY = {"HighRequestErrorRate": "critical", "KubePodCrashLooping": "critical", "KubeDeploymentRolloutStuck":
            "error", "KubePodNotReady": "error", "FailedPodsDetected": "error"}


# --- scenarios ----------------------------------------------------------------------------------------------------

@dataclass
class TruthAlert:
    name: str
    service: str | None
    kind: str | None
    namespace: str
    depth: int


@dataclass
class Scenario:
    name: str
    alerts: list[TruthAlert]
    roots: set[str]  # the true root service(s); empty when the root reaches no workload
    edges: list[tuple[str, str]]  # (affected, cause) between services


def _canon_key(name: str) -> str:
    k = re.sub(r"[-_]", "", name.lower())
    return k[:-7] if k.endswith("service") and len(k) > 7 else k


class _Names:
    """One spelling per service across scenarios (the most common dashed form)."""

    def __init__(self) -> None:
        self.seen: dict[str, Counter[str]] = defaultdict(Counter)

    def add(self, name: str) -> str:
        key = _canon_key(name)
        self.seen[key][name] += 1
        return key

    def display(self, key: str) -> str:
        spellings = self.seen[key]
        return max(spellings, key=lambda s: (("-" in s) - s.endswith("service"), spellings[s], s))


def _entity_name(group: dict[str, Any]) -> str:
    kind = group.get("kind")
    for f in group.get("filter") or []:
        f = str(f)
        if kind == "ServiceOperation":
            f = f.split("-.*")[0]
        n = _REGEX_BITS.sub("", f).strip("-_. ")
        n = re.sub(r"-{2,}", "-", n)
        if n:
            return n
    if group.get("name"):
        return str(group["name"])
    return re.sub(r"-(service|pod|deployment|replicaset)?(-?\d+)?$", "", str(group.get("id", "")))


def _guess(group_id: str) -> tuple[str, str | None]:
    """An alert's group_id that names no group: `ad-service` → (ad, Service)."""
    m = re.match(r"^(.*?)-(service|pod|deployment)(?:-\d+)?$", group_id)
    if not m:
        return re.sub(r"-\d+$", "", group_id), None
    return m.group(1), {"service": "Service", "pod": "Pod", "deployment": "Deployment"}[m.group(2)]


def load_scenarios(root: Path, names: _Names) -> tuple[list[Scenario], list[str]]:
    out, skipped = [], []
    for d in sorted(root.glob("scenario_*"), key=lambda p: int(p.name.split("_")[1])):
        path = next((d / f for f in ("groundtruth_v1.yaml", "groundtruth.yaml") if (d / f).exists()), None)
        if path is None:
            skipped.append(f"{d.name}: no ground truth file")
            continue
        doc = next(iter(yaml.safe_load_all(path.read_text(encoding="utf-8"))), None) or {}
        gt = doc.get("spec", doc)
        groups = {g["id"]: g for g in gt.get("groups") or [] if isinstance(g, dict) and "id" in g}
        alerts = [a for a in gt.get("alerts") or [] if isinstance(a, dict) and a.get("id")]
        if not groups or not alerts:
            skipped.append(f"{d.name}: no groups/alerts in {path.name}")
            continue
        svc: dict[str, str] = {}
        for gid, g in groups.items():
            if g.get("kind") in WORKLOAD_KINDS:
                svc[gid] = names.add(_entity_name(g))
        children: dict[str, list[str]] = defaultdict(list)
        for p in gt.get("propagations") or []:
            if p.get("source") and p.get("target"):
                children[p["source"]].append(p["target"])
        root_ids = [gid for gid, g in groups.items() if g.get("root_cause")]
        depth = {r: 0 for r in root_ids}
        queue = deque(root_ids)
        while queue:
            s = queue.popleft()
            for t in children.get(s, []):
                if t not in depth:
                    depth[t] = depth[s] + 1
                    queue.append(t)
        # the true root service: the root group's own service, or the first services its propagations reach
        roots = {svc[r] for r in root_ids if r in svc}
        if not roots:
            reached = sorted((depth[e], svc[e]) for e in depth if e in svc)
            roots = {s for dd, s in reached if dd == reached[0][0]} if reached else set()
        edges = [(svc[p["target"]], svc[p["source"]]) for p in gt.get("propagations") or []
                 if p.get("source") in svc and p.get("target") in svc and svc[p["source"]] != svc[p["target"]]]
        deepest = max(depth.values(), default=0)
        ns_default = Counter(g.get("namespace") for g in groups.values() if g.get("namespace")).most_common(1)
        ns0 = ns_default[0][0] if ns_default else "default"
        talerts = []
        for a in alerts:
            gid = a.get("group_id")
            g = groups.get(gid) if gid else None
            if g is not None:
                service, kind = svc.get(gid), g.get("kind")
                ns = g.get("namespace") or ns0
            elif gid:
                name, kind = _guess(str(gid))
                service, ns = (names.add(name) if kind else None), ns0
            else:
                service, kind, ns = None, None, ns0
            talerts.append(TruthAlert(str(a["id"]), service, kind if service else None, ns,
                                      depth.get(gid, deepest + 1) if gid else deepest + 1))
        out.append(Scenario(d.name, talerts, roots, edges))
    return out, skipped


def build_graph(scenarios: Sequence[Scenario]) -> dict[str, list[str]]:
    votes = Counter(e for s in scenarios for e in s.edges)
    graph: dict[str, set[str]] = defaultdict(set)
    for (a, b), n in votes.items():
        if n >= votes.get((b, a), 0):
            graph[a].add(b)
    return {k: sorted(v) for k, v in sorted(graph.items())}


# --- storms -------------------------------------------------------------------------------------------------------

@dataclass
class Item:
    """One alert of one storm: its truth (scenario instance) and its events."""

    storm: int
    instance: str  # "storm#scenario"
    labels: dict[str, str]
    start: datetime
    end: datetime
    service: str | None
    fp: str = ""


@dataclass
class Storms:
    items: list[Item]
    roots: dict[str, set[str]]  # instance -> true root services
    instances: list[str] = field(default_factory=list)


def _pod(service: str) -> str:
    rng = random.Random(service)  # one pod per service, stable across storms
    return (f"{service}-{''.join(rng.choice(_HASH) for _ in range(9))}-"
            f"{''.join(rng.choice(_HASH) for _ in range(5))}")


def _labels(a: TruthAlert, display: Callable[[str], str]) -> dict[str, str]:
    labels = {"alertname": a.name, "namespace": a.namespace, "severity": SEVERITY.get(a.name, "warning")}
    if a.service:
        s = display(a.service)
        if a.kind == "Pod":
            labels.update(pod=_pod(s), container=s)
        elif a.kind == "Deployment":
            labels["deployment"] = s
        else:
            labels["service"] = s
    return labels


def make_storms(scenarios: Sequence[Scenario], names: _Names, *, storms: int, seed: int, spread: timedelta,
                gap: timedelta, per_storm: tuple[int, int] = (3, 5), max_items: int | None = None) -> Storms:
    rng = random.Random(seed)
    out = Storms([], {})
    for k in range(storms):
        base = T0 + k * gap
        chosen = rng.sample(list(scenarios), rng.randint(*per_storm))
        by_fp: dict[str, Item] = {}
        for sc in chosen:
            inst = f"{k}#{sc.name}"
            out.instances.append(inst)
            out.roots[inst] = {names.display(r) for r in sc.roots}
            s0 = base + timedelta(seconds=rng.uniform(0, spread.total_seconds()))
            hops = [rng.uniform(20, 60) for _ in range(max(a.depth for a in sc.alerts) + 1)]
            end = s0 + timedelta(minutes=rng.uniform(20, 40))
            for a in sc.alerts:
                start = s0 + timedelta(seconds=sum(hops[:a.depth]) + rng.uniform(0, 15))
                labels = _labels(a, names.display)
                fp = fingerprint(labels)
                svc = names.display(a.service) if a.service else None
                if fp not in by_fp:
                    by_fp[fp] = Item(k, inst, labels, start, end, svc, fp)
                else:  # the same alert from two scenarios: one alert, owned by the first to fire it
                    it = by_fp[fp]
                    if start < it.start:
                        it.start, it.instance = start, inst
                    it.end = max(it.end, end)
        out.items.extend(sorted(by_fp.values(), key=lambda i: i.start))
        if max_items and len(out.items) >= max_items:
            out.items = out.items[:max_items]
            break
    return out


def events_of(items: Sequence[Item], *, extra: dict[str, str] | None = None,
              group_by: Sequence[str] | None = None) -> list[tuple[int, AlertEvent]]:
    """(item index, event): a firing and a resolved event per item, in the order they happened."""
    out = []
    for n, it in enumerate(items):
        labels = {**it.labels, **(extra or {})}
        gk = ("{}:{" + ", ".join(f'{k}="{labels.get(k, "")}"' for k in group_by) + "}") if group_by else None
        fp = fingerprint(labels)
        out.append((n, AlertEvent(fingerprint=fp, labels=labels, starts_at=it.start, group_key=gk)))
        out.append((n, AlertEvent(fingerprint=fp, labels=labels, status="resolved", starts_at=it.start,
                                  ends_at=it.end, group_key=gk)))
    out.sort(key=lambda e: e[1].event_at)
    return out


# --- methods: each returns (cluster id per item, root service per cluster) ----------------------------------------

Result = tuple[list[str], dict[str, str | None]]


def run_correlator(items: Sequence[Item], rules: CorrelationRules, graph: dict[str, list[str]], **kw: Any) -> Result:
    c = Correlator(rules, graph)
    pred = [""] * len(items)
    for n, ev in events_of(items, **kw):
        a = c.add(ev)
        if ev.status == "firing":
            pred[n] = a.incident_key
    return pred, {i.key: i.root_service for i in c.incidents()}


def run_grouping(items: Sequence[Item], key: Callable[[Item], str], window: timedelta) -> Result:
    """Alertmanager-style: one group per key value, kept while its latest alert is within `window`."""
    pred, roots = [""] * len(items), {}
    open_: dict[str, tuple[str, datetime]] = {}
    for n in sorted(range(len(items)), key=lambda n: items[n].start):
        it = items[n]
        k = key(it)
        cur = open_.get(k)
        if cur is None or it.start - cur[1] > window:
            gid = f"{k}@{n}"
            roots[gid] = it.service
        else:
            gid = cur[0]
        open_[k] = (gid, it.start)
        pred[n] = gid
    return pred, roots


# --- scores -------------------------------------------------------------------------------------------------------

def _c2(n: int) -> int:
    return n * (n - 1) // 2


def pair_scores(truth: Sequence[str], pred: Sequence[str]) -> dict[str, float | None]:
    """Pairwise precision/recall/F1 and the adjusted Rand index from the contingency table."""
    both = sum(_c2(v) for v in Counter(zip(truth, pred, strict=False)).values())
    t = sum(_c2(v) for v in Counter(truth).values())
    p = sum(_c2(v) for v in Counter(pred).values())
    total = _c2(len(truth))
    precision = both / p if p else None
    recall = both / t if t else None
    f1 = (2 * both / (p + t)) if (p + t) else None
    expected = t * p / total if total else 0.0
    top = (t + p) / 2
    ari = (both - expected) / (top - expected) if top != expected else 1.0
    return {"precision": precision, "recall": recall, "f1": f1, "ari": ari}


def root_scores(st: Storms, pred: Sequence[str], roots: dict[str, str | None]) -> dict[str, Any]:
    by_inst: dict[str, list[int]] = defaultdict(list)
    for n, it in enumerate(st.items):
        by_inst[it.instance].append(n)
    right = scored = reachable = 0
    for inst, idx in by_inst.items():
        truth = st.roots.get(inst) or set()
        if not truth:
            continue
        scored += 1
        reachable += any(st.items[n].service in truth for n in idx)
        counts = Counter(pred[n] for n in idx)
        first = {pred[n]: min(st.items[m].start for m in idx if pred[m] == pred[n]) for n in idx}
        main = min(counts, key=lambda g: (-counts[g], first[g]))
        right += roots.get(main) in truth
    return {"scored": scored, "right": right, "reachable": reachable,
            "accuracy": right / scored if scored else None, "ceiling": reachable / scored if scored else None}


def evaluate(st: Storms, graph: dict[str, list[str]], rules: CorrelationRules) -> list[dict[str, Any]]:
    win = rules.window_delta
    methods: list[tuple[str, str, Callable[[], Result]]] = [
        ("correlator", "defaults, graph from propagations", lambda: run_correlator(st.items, rules, graph)),
        ("correlator", "no graph", lambda: run_correlator(st.items, rules, {})),
        ("correlator", "+ cluster label on every alert", lambda: run_correlator(
            st.items, rules, graph, extra={"cluster": "itbench"})),
        ("correlator", "  … and `cluster` in shared_labels", lambda: run_correlator(
            st.items, rules.model_copy(update={"shared_labels": [*rules.shared_labels, "cluster"]}), graph,
            extra={"cluster": "itbench"})),
        ("correlator", "+ groupKey of group_by [alertname, namespace]", lambda: run_correlator(
            st.items, rules, graph, group_by=("alertname", "namespace"))),
        ("baseline", "Alertmanager group_by [alertname]", lambda: run_grouping(
            st.items, lambda i: i.labels["alertname"], win)),
        ("baseline", "Alertmanager group_by [service]", lambda: run_grouping(
            st.items, lambda i: i.labels.get("service", ""), win)),
        ("baseline", "time only (one incident per window)", lambda: run_grouping(st.items, lambda i: "", win)),
        ("baseline", "one incident per alert", lambda: run_grouping(
            st.items, lambda i: f"{i.storm}/{i.fp}", timedelta(0))),
    ]
    truth = [it.instance for it in st.items]
    methods += [
        ("reference", "truth grouping + root_service() on the graph", lambda: (truth, _truth_roots(st, graph))),
        ("reference", "truth grouping + first alert's service", lambda: (truth, _truth_roots(st, None))),
    ]
    rows = []
    for kind, label, fn in methods:
        t0 = time.perf_counter()
        pred, roots = fn()
        elapsed = time.perf_counter() - t0
        incidents = len(set(pred))
        root = root_scores(st, pred, roots)
        if label == "one incident per alert":  # which singleton is "the" incident would need the truth
            root = {**root, "accuracy": None, "right": None}
        rows.append({"kind": kind, "method": label, "alerts": len(pred), "incidents": incidents,
                     "reduction": len(pred) / incidents if incidents else None, **pair_scores(truth, pred),
                     "root": root, "seconds": elapsed})
    return rows


def _truth_roots(st: Storms, graph: dict[str, list[str]] | None) -> dict[str, str | None]:
    """Per scenario instance: root_service() over its services' onsets, or (graph None) its first alert's service."""
    onsets: dict[str, dict[str, datetime]] = defaultdict(dict)
    first: dict[str, Item] = {}
    for it in st.items:
        if it.service and (it.service not in onsets[it.instance] or it.start < onsets[it.instance][it.service]):
            onsets[it.instance][it.service] = it.start
        if it.instance not in first or it.start < first[it.instance].start:
            first[it.instance] = it
    if graph is None:
        return {inst: it.service for inst, it in first.items()}
    return {inst: root_service(onsets[inst], graph)[0] for inst in first}


def throughput(scenarios: Sequence[Scenario], names: _Names, graph: dict[str, list[str]],
               rules: CorrelationRules, seed: int) -> list[dict[str, Any]]:
    out = []
    for size in SIZES:
        st = make_storms(scenarios, names, storms=10**9, seed=seed + size, spread=timedelta(minutes=5),
                         gap=THROUGHPUT_GAP, max_items=size)
        events = [e for _, e in events_of(st.items)]
        best = best_base = float("inf")
        incidents = 0
        for _ in range(3 if size <= 10_000 else 1):
            t0 = time.perf_counter()
            incidents = len(correlate(events, rules, graph))
            best = min(best, time.perf_counter() - t0)
            t0 = time.perf_counter()
            run_grouping(st.items, lambda i: i.labels["alertname"], rules.window_delta)
            best_base = min(best_base, time.perf_counter() - t0)
        span = st.items[-1].start - st.items[0].start
        out.append({"alerts": len(st.items), "events": len(events), "incidents": incidents,
                    "span_days": round(span.total_seconds() / 86400, 1), "seconds": best,
                    "alerts_per_s": len(st.items) / best, "us_per_alert": best / len(st.items) * 1e6,
                    "baseline_seconds": best_base, "baseline_alerts_per_s": len(st.items) / best_base})
        progress(f"throughput {size:,}: {best:.2f}s")
    base = out[0]["us_per_alert"]
    for r in out:
        r["cost_vs_1k"] = r["us_per_alert"] / base
    return out


def eval_results(st: Storms, graph: dict[str, list[str]], rules: CorrelationRules, spread: float) -> list[Any]:
    """The default correlator's storms as evaluation rows: one per storm, a case per scored scenario instance."""
    from sre_bot.evaluation.metrics import pair_counts
    from sre_bot.evaluation.results import CaseResult, CorrelationResult, ScenarioResult

    pred, roots = run_correlator(st.items, rules, graph)
    by_storm: dict[int, list[int]] = defaultdict(list)
    for n, it in enumerate(st.items):
        by_storm[it.storm].append(n)
    out = []
    for k, idx in sorted(by_storm.items()):
        truth = [st.items[n].instance for n in idx]
        both, t, p = pair_counts(truth, [pred[n] for n in idx])
        cases = []
        for inst in sorted(set(truth)):
            true_roots = st.roots.get(inst) or set()
            if not true_roots:
                continue  # a root that reaches no workload: unscored, as in root_scores
            mine = [n for n in idx if st.items[n].instance == inst]
            counts = Counter(pred[n] for n in mine)
            first = {g: min(st.items[n].start for n in mine if pred[n] == g) for g in counts}
            got = roots.get(min(counts, key=lambda g: (-counts[g], first[g])))
            cases.append(CaseResult(scenario=f"storm {k}", case=inst.split("#", 1)[1], answered_by="correlator",
                                    truth_root=got if got in true_roots else sorted(true_roots)[0],
                                    truth_cause="incident", abstained=got is None, services=[got] if got else []))
        out.append(ScenarioResult(
            name=f"storm {k} (spread {spread:g} min)", cases=cases,
            correlation=CorrelationResult(alerts=len(idx), truth_incidents=len(set(truth)),
                                          incidents=len({pred[n] for n in idx}), pairs_both=both, pairs_truth=t,
                                          pairs_predicted=p, roots_right=sum(c.top1 for c in cases),
                                          roots_scored=len(cases))))
    return out


# --- report -------------------------------------------------------------------------------------------------------

def render_quality(rows: list[dict[str, Any]], base: dict[str, Any]) -> str:
    table = []
    for r in rows:
        f1 = r["f1"]
        ratio = f"{f1 / base['f1']:.2f}×" if f1 is not None and base["f1"] else "—"
        root = r["root"]
        table.append([r["kind"], r["method"], f"{r['incidents']:,}", num(r["reduction"]), pct(r["precision"]),
                      pct(r["recall"]), pct(f1), f"{r['ari']:.3f}", ratio,
                      f"{pct(root['accuracy'])} ({root['right']}/{root['scored']})" if root["right"] is not None
                      else "—"])
    return format_table(["", "method", "incidents", "alerts÷inc.", "pair P", "pair R", "pair F1", "ARI",
                         "F1 ÷ alertname", "root service"], table, align="llrrrrrrrr")


def render_throughput(rows: list[dict[str, Any]]) -> str:
    return format_table(
        ["alerts", "events", "days", "incidents", "correlate s", "alerts/s", "µs/alert", "cost ÷ 1k",
         "group_by alertname alerts/s", "time ÷ group_by"],
        [[f"{r['alerts']:,}", f"{r['events']:,}", num(r["span_days"]), f"{r['incidents']:,}", f"{r['seconds']:.3f}",
          f"{r['alerts_per_s']:,.0f}", num(r["us_per_alert"]), f"{r['cost_vs_1k']:.2f}×",
          f"{r['baseline_alerts_per_s']:,.0f}", f"{r['seconds'] / r['baseline_seconds']:.1f}×"] for r in rows])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.correlation", description=__doc__.split("\n\n")[0])
    p.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA, help="the itbench folder (default %(default)s)")
    p.add_argument("--storms", type=int, default=40, help="storms to score (default %(default)s)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--spread", type=float, nargs="+", default=[5.0, 20.0],
                   help="minutes within which a storm's scenarios start; one table each (default 5 20)")
    p.add_argument("--no-throughput", action="store_true", help="skip the 1k/10k/100k timing")
    p.add_argument("--json", type=Path, default=RESULTS_DIR / "correlation.json",
                   help="result file (default %(default)s)")
    args = p.parse_args(argv)
    data = args.data.resolve()
    if not data.is_dir():
        print(f"skipped: no ITBench data at {data} (see ../shared/benchmarks/README.md); pass its path")
        return 0
    started = time.perf_counter()
    names = _Names()
    scenarios, skipped = load_scenarios(data, names)
    if not scenarios:
        print(f"skipped: no usable scenario under {data}")
        return 0
    graph = {names.display(k): [names.display(d) for d in v] for k, v in build_graph(scenarios).items()}
    rules = CorrelationRules()
    m = machine_info()
    print(f"Alert correlation on ITBench storms — {len(scenarios)} scenarios ({len(skipped)} skipped), "
          f"{args.storms} storms of 3–5 scenarios, seed {args.seed}; truth: one incident per scenario instance; "
          f"rules: the defaults (window {rules.window}, {rules.graph_hops} hop, shared labels "
          f"{', '.join(rules.shared_labels)}); graph from propagations: {len(graph)} services, "
          f"{sum(map(len, graph.values()))} edges")
    print(f"machine: {m['cpu']} ×{m['cpu_count']}, Python {m['python']} ({m['implementation']})")
    quality = []
    reports: list[tuple[float, list[Any], float]] = []
    for spread in args.spread:
        st = make_storms(scenarios, names, storms=args.storms, seed=args.seed, spread=timedelta(minutes=spread),
                         gap=STORM_GAP)
        rows = evaluate(st, graph, rules)
        t_eval = time.perf_counter()
        reports.append((spread, eval_results(st, graph, rules, spread), time.perf_counter() - t_eval))
        base = next(r for r in rows if r["method"] == "Alertmanager group_by [alertname]")
        quality.append({"spread_min": spread, "alerts": len(st.items), "instances": len(st.instances),
                        "methods": rows})
        reach = rows[0]["root"]
        print(f"\nScenarios of a storm start within {spread:g} min: {len(st.items):,} alerts from "
              f"{len(st.instances)} scenario instances")
        print(render_quality(rows, base))
        print(f"root service: the true root service has an alert in {reach['reachable']} of {reach['scored']} "
              f"scored instances ({pct(reach['ceiling'])}, the ceiling for naming an affected service); "
              f"{len(st.instances) - reach['scored']} have no root service (a root that is not a workload and "
              f"reaches none)")
    tp = [] if args.no_throughput else throughput(scenarios, names, graph, rules, args.seed)
    if tp:
        print("\nThroughput (storms every 15 min; correlate() over firing + resolved events, events pre-built; "
              "best of 3 up to 10k)")
        print(render_throughput(tp))
    if skipped:
        print("\nskipped: " + "; ".join(skipped))
    results = {
        "benchmark": "correlation", "when": utc_now(), "command": command_line(), "machine": m,
        "data": str(data), "seed": args.seed, "storms": args.storms,
        "scenarios": [s.name for s in scenarios], "skipped": skipped, "rules": rules.model_dump(),
        "graph": graph, "quality": quality, "throughput": tp, "elapsed_s": time.perf_counter() - started,
    }
    save_and_say(args.json, results)
    for spread, storms, elapsed in reports:
        write_eval_report(f"correlation-spread{spread:g}", f"Alert correlation on ITBench storms (spread {spread:g} "
                          f"min)", storms, settings={"storms": args.storms, "seed": args.seed,
                                                     "rules": "defaults", "graph": "from propagations"},
                          elapsed_s=elapsed, machine=m, source="ITBench storms",
                          notes=["`root service top-1` is the root service of the incident holding most of a "
                                 "scenario instance's alerts (the correlator states no confidence)."])
    return 0


if __name__ == "__main__":
    sys.exit(main())
