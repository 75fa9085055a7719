"""Bad-change detection: a verdict on one Argo CD sync — healthy, suspicious or bad — with the evidence quoted.

    check = await check_deploy(deps, "checkout")                      # the app's newest sync (or revision=…)
    check.verdict.verdict                                             # healthy | suspicious | bad | unknown
    stored = await record_check(deps, check)                          # one row per (app, sync), None: already judged
    proposed = await propose_rollback(deps, check, channel=…, thread_ts=…)   # bad only, through the approval gate
    reply = check_reply(check, proposed)                              # what `/sre deploy-check` shows

How a sync is judged: the service the app deploys (the config's `argocd_app`, else the service named like the app)
and, with `deploys.callers`, its direct callers (`depends_on`); each golden signal is fetched once over the hour
before the sync through the sync's after-window (`tools/signals.golden_signals`, with the same window a day
earlier), the `deploys.before` before the sync is compared with the after-window (`[sync, sync + deploys.wait]`, cut
at now), and the changed service's error-log templates of the after-window with those of the before-window
(`tools/logs.error_shift`). The statistics are `analysis/change_verdict.judge`.

A `bad` verdict on the app's current deploy proposes `argocd.rollback` to the deploy before it, through `propose`:
source `{"kind": "deploy_check", "verdict": <id>, …}`, so the autonomy ladder, approvers and kill switch apply as to
any proposal, and a deploy check never runs an action without a person's click (`policy.unattended_refusal`).

A posted bad or suspicious verdict is scored like an answer (`verdict_draft`: answerer `deploy_check`, the
hypothesis "bad deploy of <service> (<revision>)", its confidence the level's measured track record,
`VERDICT_TRACK_RECORD`); votes on it count for the rollback it proposed (the step-down), never for the engine's
calibration.

`/sre deploy-check <app> [revision]` runs the same check on demand (`deploy_check_command`).
`sandbox_changes` judges every sync of the sandbox library through this path (the benchmark's sandbox rows).
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..actions.approvals import Proposed, propose
from ..actions.catalog import validate_action
from ..actions.deps import ActionDeps
from ..analysis.change_verdict import ChangeVerdict, SignalSamples, TemplateCounts, Thresholds, judge
from ..config import ServiceConfig
from ..deps import Deps
from ..errors import BackendError, NotFound, UsageError
from ..feedback.model import DEPLOY_CHECK, AnswerDraft, AnswerHypothesis
from ..models import Application, DeployRecord, Evidence, TimeRange
from ..store.verdicts import VerdictRecord, new_verdict_id
from ..tools.deploys import deploy_history
from ..tools.logs import error_shift
from ..tools.signals import golden_signals
from .caller import Caller
from .reply import Reply, Section, gaps_of, md_escape
from .verbs import Invocation

__all__ = ["DeployCheck", "check_deploy", "headline", "record_check", "propose_rollback", "check_reply",
           "deploy_check_command", "service_for_app", "ICON", "ENGINE_VERSION", "sandbox_changes",
           "VERDICT_TRACK_RECORD", "verdict_confidence", "track_record", "verdict_draft"]

ENGINE_VERSION = "change-verdict-v1"
ICON = {"bad": "🔴", "suspicious": "🟡", "healthy": "🟢", "unknown": "⚪"}
MIN_AFTER = timedelta(minutes=1)  # before this, nothing after the sync can be judged
LEAD = timedelta(minutes=3)  # the minutes just before the sync, kept apart for the onset guard

# How often each posted verdict level was right on the benchmark, as (right, of): the confidence a verdict's
# answer states is its Laplace-smoothed precision (right + 1) / (of + 2) (`verdict_confidence`). Measured by
# `python -m benchmarks.nezha_changes` (benchmarks/results/nezha_changes.json, started 2026-12-05T14:30:25Z) with
# the shipped thresholds (not held out): both Nezha days (`default_rows`, 91 changes: bad 12 right of 12,
# suspicious 4 of 4) and the sandbox library (`sandbox`, 14 syncs: bad 9 of 9, suspicious 0 of 2 — both red
# herrings). Counted by
#   python -c "import json, collections; d = json.load(open('benchmarks/results/nezha_changes.json')); \
#     print(collections.Counter((r['verdict'], r['bad']) for k in ('default_rows', 'sandbox') for r in d[k]))"
# → bad 21/21 → 22/23 = 0.96; suspicious 4/6 → 5/8 = 0.62. Re-measure and update together with the thresholds.
VERDICT_TRACK_RECORD: dict[str, tuple[int, int]] = {"bad": (21, 21), "suspicious": (4, 6)}


@dataclass
class DeployCheck:
    app: str
    service: str
    deploy: DeployRecord
    previous: DeployRecord | None  # the deploy before it (the rollback target)
    current: bool  # the judged deploy is still the app's newest
    verdict: ChangeVerdict
    after: TimeRange
    before: TimeRange
    checked_at: datetime
    complete: bool  # the whole after-window has passed
    evidence: list[Evidence] = field(default_factory=list)
    deploy_evidence: Evidence | None = None
    verdict_id: str = field(default_factory=new_verdict_id)
    project: str | None = None  # the Argo CD project (a route may match it)
    full_at: datetime | None = None  # when the whole after-window has passed (the watcher's verdict time)

    @property
    def revision(self) -> str:
        return self.deploy.revision

    def doc(self) -> dict[str, Any]:
        """What the store keeps: the verdict's statistics and reasons, and what the feedback loop needs to score
        it later (engine version, evidence ids, the windows)."""
        return {
            "engine": ENGINE_VERSION, **self.verdict.to_doc(),
            "deploy": {"id": self.deploy.id, "revision": self.deploy.revision, "author": self.deploy.initiated_by,
                       "deployed_at": self.deploy.deployed_at.isoformat()},
            "previous": None if self.previous is None else {"id": self.previous.id,
                                                            "revision": self.previous.revision},
            "after": {"start": self.after.start.isoformat(), "end": self.after.end.isoformat()},
            "before": {"start": self.before.start.isoformat(), "end": self.before.end.isoformat()},
            "evidence_ids": [e.id for e in self.evidence], "complete": self.complete,
            "gaps": gaps_of(self.evidence),
        }


def service_for_app(deps: Deps, app: str) -> ServiceConfig:
    """The configured service whose Argo CD app is `app`, else a service named like the app."""
    for s in deps.config.services:
        if deps.config.argocd_app(s) == app:
            return s
    return deps.config.service(app)


def _callers(deps: Deps, svc: ServiceConfig) -> list[ServiceConfig]:
    return [s for s in deps.config.services if svc.name in s.depends_on and s.name != svc.name]


def _pick(app: Application, revision: str | None, synced_at: datetime | None) -> DeployRecord:
    history = sorted(app.history, key=lambda d: (d.deployed_at, d.id), reverse=True)
    if not history:
        raise UsageError(f"Argo CD application {app.name!r} has no deploy history: nothing to check")
    if synced_at is not None:
        found = next((d for d in history if d.deployed_at == synced_at), None)
    elif revision:
        found = next((d for d in history if d.revision.startswith(revision) or str(d.id) == revision), None)
    else:
        found = history[0]
    if found is None:
        known = ", ".join(d.revision[:7] for d in history[:5])
        raise UsageError(f"{app.name} has no deploy of revision {revision!r} in its history (newest: {known})")
    return found


def _dependencies(deps: Deps, svc: ServiceConfig) -> list[ServiceConfig]:
    return [deps.config.service(d) for d in svc.depends_on if d != svc.name]


def _samples(deps: Deps, ev: Evidence, after: TimeRange, before: TimeRange, *, caller: bool = False,
             dependency: bool = False) -> SignalSamples | None:
    data = ev.data or {}
    name = data.get("signal")
    sig = deps.config.all_signals.get(str(name)) if name else None
    if sig is None or ev.service is None:
        return None
    a0, a1, b0 = after.start.timestamp(), after.end.timestamp(), before.start.timestamp()
    lead = a0 - LEAD.total_seconds()

    def pick(points: Any, lo: float, hi: float, *, end_closed: bool) -> list[float]:
        out = []
        for p in points or []:
            try:
                t, v = float(p[0]), float(p[1])
            except (TypeError, ValueError, IndexError):
                continue
            if lo <= t and (t <= hi if end_closed else t < hi) and math.isfinite(v):
                out.append(v)
        return out

    return SignalSamples(service=ev.service, signal=str(name), title=sig.title, unit=sig.unit, bad=sig.bad,
                         before=pick(data.get("points"), b0, lead, end_closed=False),
                         recent=pick(data.get("points"), lead, a0, end_closed=False),
                         after=pick(data.get("points"), a0, a1, end_closed=True),
                         day_before=pick(data.get("seasonal_points"), a0, a1, end_closed=True),
                         min_abs=sig.min_abs, caller=caller, dependency=dependency)


def _templates(items: list[Evidence], after: TimeRange, before: TimeRange) -> list[TemplateCounts]:
    out = []
    for e in items:
        d = e.data or {}
        if e.status != "ok" or e.kind != "log_shift" or e.service is None:
            continue
        out.append(TemplateCounts(service=e.service, template=str(d.get("template", "")), example=e.quote,
                                  before=int(d.get("before", 0)), after=int(d.get("during", 0)),
                                  before_minutes=before.duration.total_seconds() / 60,
                                  after_minutes=after.duration.total_seconds() / 60))
    return out


async def check_deploy(deps: Deps, app_name: str, *, revision: str | None = None, synced_at: datetime | None = None,
                       app: Application | None = None, thresholds: Thresholds | None = None) -> DeployCheck:
    """Judge one sync of `app_name` (the newest, or the one of `revision` / `synced_at`). UsageError when Argo CD is
    not configured, the app or revision is unknown, or the sync is less than a minute old."""
    if deps.argocd is None:
        raise UsageError("Argo CD is not configured (set ARGOCD_URL): there are no deploys to check")
    if app is None:
        try:
            app = await deps.argocd.get_app(app_name)
        except NotFound:
            raise UsageError(f"no Argo CD application named {app_name!r} (`/sre deploys` lists them)") from None
        except BackendError as e:
            raise UsageError(f"could not read Argo CD application {app_name!r}: {e}") from e
    deploy = _pick(app, revision, synced_at)
    history = sorted(app.history, key=lambda d: (d.deployed_at, d.id), reverse=True)
    older = [d for d in history if (d.deployed_at, d.id) < (deploy.deployed_at, deploy.id)]
    now = deps.clock()
    cfg = deps.config.deploys
    at = deploy.deployed_at
    if now - at < MIN_AFTER:
        raise UsageError(f"{app.name} revision {deploy.revision[:7]} synced {int((now - at).total_seconds())} s ago: "
                         f"ask again after {(at + MIN_AFTER):%H:%M:%S} UTC (the watcher judges it at "
                         f"{(at + cfg.wait_delta):%H:%M} UTC)")
    end = min(now, at + cfg.wait_delta)
    after = TimeRange(start=at, end=end)
    before = TimeRange(start=at - cfg.before_delta, end=at)
    svc = service_for_app(deps, app.name)
    callers = _callers(deps, svc) if cfg.callers else []
    below = _dependencies(deps, svc)
    groups = await asyncio.gather(
        golden_signals(deps, svc, after, seasonal=True),
        *(golden_signals(deps, c, after, seasonal=True) for c in [*callers, *below]),
        error_shift(deps, svc, after, before) if deps.loki is not None else asyncio.sleep(0, result=[]))
    own, *rest = groups[:-1]
    logs: list[Evidence] = list(groups[-1])
    samples = [s for e in own if (s := _samples(deps, e, after, before)) is not None]
    for i, c_items in enumerate(rest):
        role = {"caller": True} if i < len(callers) else {"dependency": True}
        samples += [s for e in c_items if (s := _samples(deps, e, after, before, **role)) is not None]
    templates = _templates(logs, after, before)
    # the statistics (numpy/scipy, and their import on the first verdict) run in the analysis workers, off the loop
    verdict = (await deps.offload.run(judge, samples, logs=templates, thresholds=thresholds)
               if deps.offload is not None else judge(samples, logs=templates, thresholds=thresholds))
    query = f"GET /api/v1/applications/{app.name}"
    url = deps.argocd.app_url(app.name)
    dev = next((e for e in deploy_history(app, query=query, url=url, service=svc.name)
                if (e.data or {}).get("id") == deploy.id), None)
    evidence = [*own, *(e for c in rest for e in c), *logs]
    return DeployCheck(app=app.name, service=svc.name, deploy=deploy, previous=older[0] if older else None,
                       current=bool(history) and history[0].id == deploy.id and history[0].deployed_at == at,
                       verdict=verdict, after=after, before=before, checked_at=now,
                       complete=now >= at + cfg.wait_delta, evidence=evidence, deploy_evidence=dev,
                       project=app.project, full_at=at + cfg.wait_delta)


async def record_check(deps: Deps, check: DeployCheck) -> VerdictRecord | None:
    """Store the verdict (one per sync); None when the sync already has one or there is no store."""
    if deps.store is None:
        return None
    rec = VerdictRecord(id=check.verdict_id, app=check.app, service=check.service, revision=check.revision,
                        synced_at=check.deploy.deployed_at, checked_at=check.checked_at,
                        verdict=check.verdict.verdict, doc=check.doc())
    return await deps.store.verdicts.record(rec)


async def propose_rollback(deps: Deps, check: DeployCheck, *, channel: str, thread_ts: str | None = None,
                           requested_by: str | None = None, requested_by_name: str | None = None,
                           ) -> Proposed | None:
    """For a `bad` verdict on the app's current deploy: `argocd.rollback` to the deploy before it, through the
    approval gate. None when there is nothing to propose (not bad, not current, no earlier deploy, no store)."""
    if (check.verdict.verdict != "bad" or not check.current or check.previous is None or deps.store is None
            or check.deploy_evidence is None):
        return None
    evidence = {e.id: e for e in check.evidence} | {check.deploy_evidence.id: check.deploy_evidence}
    cited = [check.deploy_evidence.id] + [e.id for e in check.evidence if _worse_evidence(check, e)][:4]
    names = {s.name: s.name for s in deps.config.services} | {a: s.name for s in deps.config.services
                                                               for a in s.aliases}
    names.setdefault(check.service, check.service)
    reason = f"deploy check: {check.verdict.reasons[0]}" if check.verdict.reasons else "deploy check: bad"
    try:
        args: dict[str, object] = {"service": check.service, "to_history_id": check.previous.id}
        if len(check.deploy.revision or "") >= 7:  # the revision judged bad: only while it runs, never back to it
            args["away_from"] = check.deploy.revision
        proposal = validate_action("argocd.rollback", args,
                                   reason=reason, evidence_ids=cited, evidence=evidence, services=names,
                                   since=check.deploy.deployed_at - timedelta(seconds=1))
    except UsageError:
        return None
    source = {"kind": "deploy_check", "verdict": check.verdict_id, "version": ENGINE_VERSION, "app": check.app,
              "revision": check.revision, "synced_at": check.deploy.deployed_at.isoformat()}
    trigger = {"kind": "deploy_check", "app": check.app, "revision": check.revision, "channel": channel,
               "thread_ts": thread_ts}
    return await propose(ActionDeps.of(deps), proposal, source=source, trigger=trigger, requested_by=requested_by,
                         requested_by_name=requested_by_name, channel=channel, thread_ts=thread_ts,
                         evidence=evidence)


def _worse_evidence(check: DeployCheck, e: Evidence) -> bool:
    worse = {(f.service, f.signal) for f in check.verdict.worse}
    return e.status == "ok" and (e.service, (e.data or {}).get("signal")) in worse


def headline(check: DeployCheck, *, mrkdwn: bool = True) -> str:
    """`🔴 bad: checkout 4f1c2e9 (dana.kim, 14:05 UTC) — 3 findings: …`; mrkdwn-safe, or plain for a summary (which
    the renderer escapes itself)."""
    d = check.deploy
    by = f", {d.initiated_by}" if d.initiated_by else ""
    v = check.verdict
    text = (f"{ICON[v.verdict]} {v.verdict}: {check.app} {d.revision[:7]} (synced {d.deployed_at:%H:%M} UTC{by}) — "
            f"{v.summary}")
    return md_escape(text) if mrkdwn else text


def verdict_confidence(verdict: str) -> float | None:
    """The measured, Laplace-smoothed precision of a verdict level (`VERDICT_TRACK_RECORD`); None for the others."""
    if verdict not in VERDICT_TRACK_RECORD:
        return None
    right, of = VERDICT_TRACK_RECORD[verdict]
    return round((right + 1) / (of + 2), 2)


def track_record(verdict: str) -> str | None:
    """`bad verdicts were right 21 of 21 times on the benchmark (confidence 0.96)`, or None."""
    confidence = verdict_confidence(verdict)
    if confidence is None:
        return None
    right, of = VERDICT_TRACK_RECORD[verdict]
    return (f"{verdict} verdicts were right {right} of {of} times on the benchmark (Nezha and the sandbox library; "
            f"confidence {confidence:.2f})")


def verdict_draft(check: DeployCheck) -> AnswerDraft | None:
    """A bad or suspicious verdict as an answer to score: "bad deploy of <service> (<revision>)" at the level's
    measured confidence; None for healthy and unknown (nothing claimed)."""
    confidence = verdict_confidence(check.verdict.verdict)
    if confidence is None:
        return None
    rev = check.revision[:7]
    return AnswerDraft(
        question=f"deploy check of {check.app} {rev}", answered_by=DEPLOY_CHECK, engine=ENGINE_VERSION,
        calibration=f"{check.verdict.verdict}: the benchmark's track record, (right+1)/(of+2)",
        hypotheses=[AnswerHypothesis(service=check.service, cause=f"bad deploy of {check.service} ({rev})",
                                     cause_kind="bad_deploy", confidence=confidence)])


def check_reply(check: DeployCheck, proposed: Proposed | None = None) -> Reply:
    v = check.verdict
    lines = [f"• {md_escape(r)}" for r in v.reasons[:6]]  # mrkdwn (`Reply.text`); the headline is the summary
    if not check.complete and check.full_at is not None:
        lines.append(f"_Judged on the first {int(check.after.duration.total_seconds())} s after the sync; the "
                     f"watcher gives its verdict at {check.full_at:%H:%M} UTC, once the whole wait has passed._")
    if v.verdict == "bad" and proposed is None:
        if not check.current:
            lines.append("_Not proposing a rollback: the app has been deployed again since._")
        elif check.previous is None:
            lines.append("_No earlier deploy to roll back to._")
    elif proposed is not None and proposed.kind == "suggest":
        lines.append(md_escape(f"Rollback suggested, not requested ({proposed.note}): "
                               f"`/sre run {proposed.proposal.command()}`"))
    record = track_record(v.verdict)
    if record is not None:
        lines.append(f"_{md_escape(record[0].upper() + record[1:])}._")
    requests = [proposed.request] if proposed is not None and proposed.request is not None else []
    shown = sorted(check.evidence, key=lambda e: (not _worse_evidence(check, e), e.status != "ok"))
    sections = [Section(title="Signals after the sync vs before", evidence=[e for e in shown if e.kind == "signal"])]
    logs = [e for e in check.evidence if e.kind != "signal"]
    if logs:
        sections.append(Section(title="Error logs", evidence=logs))
    if check.deploy_evidence is not None:
        sections.append(Section(title="Argo CD", evidence=[check.deploy_evidence]))
    notes = {r.id: f"Proposed by the deploy check ({v.verdict}) of {check.app} {check.revision[:7]}"
             for r in requests}
    return Reply(kind="deploys", title=f"Deploy check: {check.app} {check.revision[:7]}",
                 summary=headline(check, mrkdwn=False), text="\n".join(lines),
                 window=check.after, sections=sections, gaps=gaps_of(check.evidence), requests=requests,
                 request_notes=notes)


async def deploy_check_command(deps: Deps, inv: Invocation) -> Reply:
    """`/sre deploy-check <app> [revision]`."""
    words = inv.args.split()
    if not words or len(words) > 2:
        raise UsageError("`/sre deploy-check` needs an Argo CD app: `/sre deploy-check <app> [revision]`")
    check = await check_deploy(deps, words[0], revision=words[1] if len(words) > 1 else None)
    if check.complete:
        await record_check(deps, check)
    proposed = None
    caller: Caller | None = inv.caller
    channel = caller.channel if caller is not None else None
    if channel and check.verdict.verdict == "bad":
        proposed = await propose_rollback(deps, check, channel=channel, thread_ts=caller.thread_ts if caller else None,
                                          requested_by=caller.user if caller else None,
                                          requested_by_name=caller.user_name if caller else None)
        if proposed is not None and proposed.request is not None and deps.store is not None:
            await deps.store.verdicts.attach(check.verdict_id, request_id=proposed.request.id)
    return check_reply(check, proposed)


async def sandbox_changes(*, wait: timedelta = timedelta(minutes=4),
                          before: timedelta = timedelta(minutes=30)) -> list[dict[str, Any]]:
    """Every Argo CD sync of every sandbox scenario with `before` of history before it and `wait` after it (and
    before the scenario's now), judged through `check_deploy` against the sandbox with the clock at sync + wait.
    Bad when the scenario's truth names that revision as the cause (a bad deploy, or a config change shipped as a
    sync; the benchmark's sandbox rows)."""
    from ..clock import frozen_clock
    from ..compose import open_deps
    from ..sandbox import Sandbox, list_scenarios, load_scenario
    from ..settings import load_settings

    rows: list[dict[str, Any]] = []
    for name in list_scenarios():
        scenario = load_scenario(name)
        truth = _bad_revisions(scenario)
        async with Sandbox(scenario) as sb:
            if sb.urls.argocd is None or sb.urls.prometheus is None:
                continue
            now = sb.world.anchor_dt
            start = now - scenario.duration
            settings = load_settings(None, **sb.urls.as_env())
            async with open_deps(settings, config=sb.config, use_store=False) as deps:
                assert deps.argocd is not None
                try:
                    apps = await deps.argocd.list_apps()
                except BackendError:
                    continue  # Argo CD is down in this scenario: no syncs to see
            for app in apps:
                for d in app.history:
                    if d.deployed_at - before < start or d.deployed_at + wait > now:
                        continue
                    clock = frozen_clock(d.deployed_at + wait)
                    async with open_deps(settings, config=sb.config, use_store=False, clock=clock) as deps:
                        started = time.perf_counter()
                        check = await check_deploy(deps, app.name, synced_at=d.deployed_at, app=app)
                        seconds = time.perf_counter() - started
                    naive = any(f.after_median is not None and f.before_median is not None and not f.caller
                                and _naive_worse(f.after_median, f.before_median, f.unit, f.signal, deps)
                                for f in check.verdict.signals)
                    v = check.verdict
                    rows.append({"scenario": name, "app": app.name, "revision": d.revision,
                                 "bad": d.revision in truth, "verdict": v.verdict, "is_bad": v.verdict == "bad",
                                 "flagged": v.verdict in ("bad", "suspicious"), "naive": naive,
                                 "reasons": v.reasons[:3], "gaps": gaps_of(check.evidence),
                                 "seconds": round(seconds, 3)})
    return rows


def _naive_worse(after: float, before: float, unit: str, signal: str, deps: Deps) -> bool:
    sig = deps.config.all_signals.get(signal)
    bad = sig.bad if sig is not None else "up"
    delta = after - before if bad == "up" else before - after if bad == "down" else abs(after - before)
    return delta > 0 and delta >= 0.10 * max(abs(before), 1e-12)


def _bad_revisions(scenario: Any) -> set[str]:
    truth = scenario.truth
    return {t.revision for t in (truth.cases() if truth is not None else [])
            if t.cause in ("bad_deploy", "config_change") and t.revision}
