"""One scenario through the bot's real surfaces: the sandbox on loopback, the bot's own clients, its own answers.

Per scenario: start the simulated Prometheus, Loki, Argo CD and Alertmanager (a `down` backend answers 503, an
`absent` one is not configured) with the clock frozen at `now`; build `Deps` with `open_deps` exactly as
`sre-bot ask` does; read the alerts Alertmanager would notify (active: not silenced, not inhibited) through the
bot's Alertmanager client and the deploy times through its Argo CD client, correlate them with the config's rules
and graph, and score the incidents against the truth's; then ask each truth incident's question with `explain`
(the engine, and the model when one is configured) and score the answer. The truth is read here, never by the bot.

Settings are the code's defaults (so a developer's shell does not change the numbers) with the sandbox's URLs;
only the model's settings (ANTHROPIC_*, SRE_BOT_LLM_*) come from the environment.
"""

from __future__ import annotations

import time
import traceback
from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..alert_payloads import fingerprint
from ..analysis.correlation import AlertEvent, correlate
from ..clock import frozen_clock
from ..compose import open_deps
from ..deps import Deps
from ..errors import BackendError
from ..sandbox.generate import World
from ..sandbox.scenario import Scenario
from ..sandbox.server import Sandbox
from ..services.explain import explain
from ..settings import Settings, load_settings
from .cases import EvalCase, action_text, eval_cases
from .grounding import check_quotes
from .metrics import pair_counts
from .results import CaseResult, CorrelationResult, ScenarioResult
from .scoring import Answer

__all__ = ["run_scenario", "eval_settings", "BACKEND_WORDS"]

BACKEND_WORDS = {"prometheus": ("prometheus",), "loki": ("loki",), "argocd": ("argo cd", "argocd"),
                 "alertmanager": ("alertmanager",)}
_FROM_ENV = ("ANTHROPIC_", "SRE_BOT_LLM_", "SRE_BOT_PROMPTS_DIR", "SRE_BOT_REDACT_")


def eval_settings(urls: Mapping[str, str], *, env_file: str | None = None) -> Settings:
    """The code's default settings, the sandbox's URLs, and the model's settings from the environment."""
    pinned: dict[str, Any] = {}
    for f in Settings.model_fields.values():
        alias = f.validation_alias if isinstance(f.validation_alias, str) else None
        if alias and not alias.startswith(_FROM_ENV):
            pinned[alias] = f.get_default(call_default_factory=True)
    pinned.update(urls)
    return load_settings(env_file, **pinned)


async def _deploy_times(deps: Deps) -> dict[str, list[datetime]]:
    if deps.argocd is None:
        return {}
    out: dict[str, list[datetime]] = {}
    for svc in deps.config.services:
        if not svc.argocd_app:
            continue
        try:
            app = await deps.argocd.get_app(svc.argocd_app)
        except BackendError:
            continue
        out[svc.name] = [d.deployed_at for d in app.history]
    return out


async def _correlation(deps: Deps, world: World, sc: Scenario, cases: list[EvalCase]) -> CorrelationResult | None:
    if deps.alertmanager is None:
        return None
    try:
        alerts = await deps.alertmanager.alerts()  # what Alertmanager notifies: active, not silenced or inhibited
    except BackendError:
        return None
    events = [AlertEvent(fingerprint=a.fingerprint, labels=a.labels, annotations=a.annotations, starts_at=a.starts_at,
                         generator_url=a.generator_url) for a in alerts]
    cfg = deps.config
    incidents = correlate(events, cfg.correlation, cfg.dependencies(), await _deploy_times(deps),
                          aliases={a: s.name for s in cfg.services for a in s.aliases})
    owner = {fingerprint(world.alert_labels(sc.alerts[i])): c.name for c in cases for i in c.alerts}
    fps = [e.fingerprint for e in events]
    pred_of = {fp: inc.key for inc in incidents for fp in inc.alerts}
    truth = [owner.get(fp, f"~{fp}") for fp in fps]  # an alert in no truth incident is noise: alone
    pred = [pred_of.get(fp, f"?{fp}") for fp in fps]
    both, t, p = pair_counts(truth, pred)
    roots_right = roots_scored = 0
    detail = []
    by_key = {inc.key: inc for inc in incidents}
    for c in cases:
        mine = [pred[n] for n, fp in enumerate(fps) if owner.get(fp) == c.name]
        if not mine:
            continue
        main = Counter(mine).most_common(1)[0][0]
        got = by_key[main].root_service if main in by_key else None
        if c.truth.root_service is not None:
            roots_scored += 1
            roots_right += got == c.truth.root_service
        detail.append({"case": c.name, "alerts": len(mine), "incidents": len(set(mine)), "main_incident": main,
                       "root_service": got, "truth_root": c.truth.root_service})
    return CorrelationResult(
        alerts=len(fps), truth_incidents=len({x for x in truth if not x.startswith("~")}), incidents=len(incidents),
        pairs_both=both, pairs_truth=t, pairs_predicted=p, roots_right=roots_right, roots_scored=roots_scored,
        incidents_detail=detail + [{"incident": i.key, "title": i.title, "alerts": len(i.alerts),
                                    "root_service": i.root_service} for i in incidents])


def _truth_action(case: EvalCase) -> str | None:
    a = case.truth.action
    if a is None:
        return None
    return "none" if a == "none" else action_text(a.name, case.truth.action_service)


async def _case(deps: Deps, world: World, sc: Scenario, case: EvalCase) -> CaseResult:
    row = CaseResult(scenario=sc.name, case=case.name, question=case.question, truth_root=case.truth.root_service,
                     truth_cause=case.truth.cause, truth_action=_truth_action(case),
                     gaps_expected=sorted(n for n, state in sc.backends.items() if state != "up"))
    t0 = time.perf_counter()
    try:
        done = await explain(deps, case.question)
    except Exception as e:  # an engine bug is a wrong answer with a traceback, not the end of the run
        row.wall_s = round(time.perf_counter() - t0, 3)
        row.error = f"{type(e).__name__}: {e}"
        row.extra["traceback"] = traceback.format_exc()
        row.abstained = True
        return row
    row.wall_s = round(time.perf_counter() - t0, 3)
    ans = Answer(done)
    row.answered_by, row.abstained, row.services = ans.answered_by, ans.abstained, ans.services
    row.cause_kind, row.answer_kind, row.confidence, row.calibrated = (ans.cause_kind, ans.answer_kind,
                                                                         ans.confidence, ans.calibrated)
    row.actions, row.summary = ans.actions, ans.summary
    evidence = {e.id: e for e in done.engine.evidence}
    visible: dict[str, str] = {}
    if done.llm is not None:
        evidence.update(done.llm.conversation.evidence)
        visible = done.llm.conversation.visible
        u = done.llm.usage
        row.tokens = {"requests": u.requests, "input": u.input, "output": u.output, "cache_write": u.cache_write,
                      "cache_read": u.cache_read}
        row.cost_usd = round(u.cost(done.llm.prices), 6)
    elif done.why_engine:
        row.extra["why_engine"] = done.why_engine
    g = check_quotes(ans.shown, ans.model_quotes, evidence=evidence, visible=visible, world=world)
    row.quotes_shown, row.quotes_verified, row.quotes_source_checked = g.shown, g.verified, g.source_checked
    row.unverified = g.problems
    said = " ".join(ans.gaps).lower()
    row.gaps_said = [n for n in row.gaps_expected if any(w in said for w in BACKEND_WORDS.get(n, (n,)))]
    inv = done.engine
    row.extra.update(ranking=[{"service": r.service, "score": r.score, "engine_confidence": r.engine_confidence,
                               "parts": r.parts,
                               "confidence": r.confidence, "cause_kind": r.cause_kind} for r in inv.ranking],
                     focus=inv.focus, gaps=inv.gaps, abstain_reason=inv.abstain_reason)
    return row


async def run_scenario(sc: Scenario, *, now: datetime, use_llm: bool = True, env_file: str | None = None,
                       ) -> ScenarioResult:
    """Every truth incident of `sc` asked and scored; the scenario's sandbox runs only for this call."""
    t0 = time.perf_counter()
    result = ScenarioResult(name=sc.name, description=" ".join(sc.description.split()),
                            backends={k: v for k, v in sc.backends.items() if v != "up"})
    cases = eval_cases(sc)
    clock = frozen_clock(now)
    try:
        async with Sandbox(sc, clock=clock, now=now) as sb:
            settings = eval_settings(sb.urls.as_env(), env_file=env_file)
            async with open_deps(settings, config=sb.config, clock=clock, use_llm=use_llm) as deps:
                result.correlation = await _correlation(deps, sb.world, sc, cases)
                for case in cases:
                    result.cases.append(await _case(deps, sb.world, sc, case))
    except Exception as e:  # the sandbox or the bot's setup failed: say so in the row, keep going
        result.error = f"{type(e).__name__}: {e}"
    result.wall_s = round(time.perf_counter() - t0, 3)
    return result
