"""A runbook run: its steps in order, each read-only, each judged by its own condition; early stop when the root
cause is found; the model's optional notes; then the remediation, through the same approval gate as everything
else (`actions.approvals.propose`, source `{"kind": "runbook", ...}`), so approvers, autonomy and the kill switch
all apply. Nothing is executed here.

Every run is in the audit: `runbook_started` (who, which runbook and version, service, trigger), one `runbook_step`
per step (status, evidence ids, interpretation, the values read), and `runbook_finished` (outcome, cause, notes,
each remedy with its request id); the proposal's own `suggested` record and the approval decision follow it.
`on_update` is called with the state after every change, for surfaces that redraw a message in place.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from ..actions.approvals import audit, propose
from ..actions.catalog import validate_action
from ..config import ServiceConfig
from ..deps import Deps
from ..errors import UsageError
from ..llm.runbook_notes import NotesUnavailable, StepBrief, runbook_notes
from ..logging import get_logger
from ..services.caller import Caller
from ..services.names import known_services
from .conditions import ConditionError, parse_condition
from .readers import StepContext
from .run import RemedyRun, RunState, StepRun, interpret
from .steps import TOOLS
from .templates import TemplateProblem, render, service_values

__all__ = ["execute_run", "OnUpdate"]

log = get_logger(__name__)

OnUpdate = Callable[[RunState], Awaitable[None]]


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (v[:200] if isinstance(v, str) else v) for k, v in values.items()}


async def _run_step(deps: Deps, sr: StepRun, svc: ServiceConfig | None) -> None:
    step, spec = sr.step, TOOLS[sr.step.tool]
    try:
        params = spec.params.model_validate(step.params)
        updates = {name: render(getattr(params, name), service_values(deps.config, svc, kind) if svc else {}, kind)
                   for name, kind in spec.templated.items() if getattr(params, name) is not None}
        out = await spec.run(StepContext(deps, now=deps.clock(), label=step.title, svc=svc),
                             params.model_copy(update=updates))
    except TemplateProblem as e:
        sr.status, sr.interpretation = "failed", f"could not check: {e}"
        return
    except Exception as e:  # a bug: the run goes on, the log has the details
        log.exception("runbook step failed inside sre-bot", step=step.id, tool=step.tool)
        sr.status, sr.interpretation = "failed", f"could not check: the step failed inside sre-bot ({type(e).__name__})"
        return
    sr.evidence, sr.values = out.evidence, out.values
    if out.error:
        sr.status, sr.interpretation = "failed", f"could not check: {out.error}"
        return
    if step.when is None:
        sr.status, sr.interpretation = "ok", interpret(step, out.values, None, set())
        return
    condition = parse_condition(step.when)
    try:
        verdict = condition.evaluate(out.values)
    except ConditionError as e:
        sr.status, sr.interpretation = "failed", f"the condition could not be computed: {e}"
        return
    sr.status = "finding" if verdict.matched else "ok"
    sr.interpretation = interpret(step, out.values, verdict, condition.names)


def _skip_reason(state: RunState, sr: StepRun) -> str | None:
    if state.cause_step is not None:
        return f"skipped: the root cause was found at `{state.cause_step}`"
    for need in sr.step.needs:
        before = state.by_id(need)
        if before is not None and before.status != "finding":
            why = "failed" if before.status == "failed" else f"was {before.status}"
            return f"skipped: it needs `{need}` to be a finding, and that step {why}"
    return None


async def _notes(deps: Deps, state: RunState) -> None:
    if deps.llm is None:
        state.notes_by = None
        return
    briefs = [StepBrief(s.step.id, s.step.title, s.status, s.interpretation, s.evidence) for s in state.steps
              if s.status in ("ok", "finding") and any(e.status == "ok" for e in s.evidence)]
    if not briefs:
        return
    try:
        result = await runbook_notes(deps.llm, runbook=state.runbook.name, service=state.service, steps=briefs,
                                     prompts_dir=deps.settings.prompts_dir)
    except NotesUnavailable as e:
        state.notes_by = f"no model notes: {e}"
        return
    for sid, note in result.notes.items():
        sr = state.by_id(sid)
        if sr is not None:
            sr.note, sr.note_quote = note.sentence, (note.evidence_id, note.quote)
    removed = f"; {len(result.dropped)} removed by the grounding check" if result.dropped else ""
    state.notes_by = f"notes by {result.model} ({result.prompt_version}), quotes verified{removed}"


async def _remedies(deps: Deps, state: RunState, caller: Caller, trigger: dict[str, Any],
                    svc: ServiceConfig | None, *, propose_fixes: bool = True) -> None:
    rb, found = state.runbook, {s.step.id for s in state.findings}
    wanted = [r for r in rb.remediation
              if (set(r.if_found) <= found if r.if_found else state.outcome == "cause_found")]
    if not wanted:
        return
    cited = [e for s in state.findings for e in s.evidence if e.status == "ok"]
    evidence = {e.id: e for e in cited}
    names = await known_services(deps)
    values = {**(service_values(deps.config, svc, "raw") if svc else {}),
              **{f"{s.step.id}.{k}": str(v) for s in state.steps for k, v in s.values.items()
                 if v is not None and not isinstance(v, (list, dict))}}
    for r in wanted:
        try:
            args = {k: render(v, values, "raw") if isinstance(v, str) else v for k, v in r.args.items()}
            proposal = validate_action(r.action, args, reason=f"runbook {rb.name}: {r.reason}",
                                       evidence_ids=list(evidence), evidence=evidence, services=names,
                                       webhooks=deps.config.actions.webhooks.keys())
        except (UsageError, TemplateProblem) as e:
            state.remedies.append(RemedyRun(r.action, r.action, "unsupported", note=str(e)))
            continue
        if deps.store is None or not propose_fixes:
            why = "this surface has no store" if deps.store is None else "nothing is requested from a terminal"
            state.remedies.append(RemedyRun(r.action, proposal.describe(), "suggest",
                                            note=f"{why}: ask for it in Slack with `{proposal.command()}`"))
            continue
        proposed = await propose(
            deps, proposal, source={"kind": "runbook", "runbook": rb.name, "digest": rb.digest, "run_id": state.id,
                                    "found": sorted(found)},
            trigger={**trigger, "run_id": state.id}, requested_by=caller.user, requested_by_name=caller.user_name,
            channel=caller.channel, thread_ts=caller.thread_ts, evidence=evidence)
        state.remedies.append(RemedyRun(r.action, proposal.describe(), proposed.kind, note=proposed.note,
                                        request=proposed.request))


def _outcome(state: RunState) -> None:
    if state.cause_step is not None:
        state.outcome = "cause_found"
    elif state.findings:
        state.outcome = "findings"
    elif any(s.status == "failed" for s in state.steps):
        state.outcome = "incomplete"
    else:
        state.outcome = "nothing_found"


async def execute_run(deps: Deps, state: RunState, *, svc: ServiceConfig | None, caller: Caller,
                      trigger: dict[str, Any], on_update: OnUpdate | None = None,
                      propose_fixes: bool = True) -> RunState:
    """Run `state`'s steps (it comes from `run.new_run`); returns it finished. Needs the store for the audit.
    `propose_fixes=False` (a terminal, where nobody can click): a fix found is suggested with the `/sre run` line
    that asks for it, never recorded as a request."""
    rb = state.runbook

    async def changed() -> None:
        if on_update is not None:
            await on_update(state)

    await audit(deps, "runbook_started", f"runbook {rb.name} started" + (f" for {state.service}" if state.service
                else ""), actor=caller.user, run_id=state.id, runbook=rb.name, digest=rb.digest, file=rb.source,
                service=state.service, trigger=trigger, channel=caller.channel, thread_ts=caller.thread_ts)
    for sr in state.steps:
        skip = _skip_reason(state, sr)
        if skip is not None:
            sr.status, sr.interpretation = "skipped", skip
        else:
            sr.status = "running"
            await changed()
            await _run_step(deps, sr, svc)
            if sr.status == "finding" and sr.step.stop:
                state.cause, state.cause_step = sr.step.means or sr.step.title, sr.step.id
        await audit(deps, "runbook_step", f"{rb.name} step {sr.step.id}: {sr.status}", actor=caller.user,
                    run_id=state.id, runbook=rb.name, step=sr.step.id, tool=sr.step.tool, status=sr.status,
                    evidence_ids=[e.id for e in sr.evidence], interpretation=sr.interpretation,
                    values=_jsonable(sr.values))
        await changed()
    _outcome(state)
    await _notes(deps, state)
    await _remedies(deps, state, caller, trigger, svc, propose_fixes=propose_fixes)
    state.finished_at = deps.clock()
    await audit(deps, "runbook_finished", f"runbook {rb.name}: {state.outcome}"
                + (f" — {state.cause}" if state.cause else ""), actor=caller.user, run_id=state.id,
                runbook=rb.name, outcome=state.outcome, cause=state.cause, cause_step=state.cause_step,
                findings=[s.step.id for s in state.findings],
                failed=[s.step.id for s in state.steps if s.status == "failed"],
                notes={s.step.id: {"sentence": s.note, "evidence_id": s.note_quote[0], "quote": s.note_quote[1]}
                       for s in state.steps if s.note and s.note_quote}, notes_by=state.notes_by,
                remedies=[{"action": r.describe, "kind": r.kind, "note": r.note,
                           "request_id": r.request.id if r.request else None} for r in state.remedies])
    await changed()
    return state
