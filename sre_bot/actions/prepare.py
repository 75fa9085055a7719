"""Turn a validated action into exactly what will run: resolved arguments and a preview a person can check.

Defaults are resolved here, once, against the live system (the rollback target is the deploy before the current
one *now*, the workload to restart is looked up in the app's resource tree), and the result is pinned in the
request: the executor runs these arguments, never re-resolves them, so what was approved is what runs.

A silence resting on evidence (anyone's but a person's own `/sre run`) is checked against what it selects now:
every firing alert its matchers select must be one the cited evidence shows firing, or it is refused as wider than
its evidence.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..deps import Deps
from ..errors import BackendError, UsageError
from ..models import Alert, Evidence
from ..windows import format_duration, parse_duration
from .catalog import CATALOG, ActionSpec, ProposedAction
from .webhook_body import render_webhook

__all__ = ["Prepared", "prepare", "FiringShown", "firing_shown"]


@dataclass(frozen=True)
class FiringShown:
    """The alerts some evidence shows firing: by fingerprint, and by label set (for items without one)."""

    fingerprints: frozenset[str]
    label_sets: tuple[Mapping[str, str], ...]

    def includes(self, alert: Alert) -> bool:
        return alert.fingerprint in self.fingerprints or any(dict(ls) == alert.labels for ls in self.label_sets)


def firing_shown(evidence: Collection[Evidence]) -> FiringShown:
    """The firing alerts among `evidence` (items of kind `alert` with status `ok`)."""
    alerts = [e for e in evidence if e.kind == "alert" and e.status == "ok"]
    return FiringShown(
        fingerprints=frozenset(str(fp) for e in alerts if (fp := e.data.get("fingerprint"))),
        label_sets=tuple({str(k): str(v) for k, v in labels.items()} for e in alerts
                         if isinstance(labels := e.data.get("labels"), dict) and labels))


@dataclass(frozen=True)
class Prepared:
    action: str
    args: dict[str, Any]  # validated and resolved: what the executor runs
    preview: str  # exactly what will happen, in words
    spec: ActionSpec
    undo: str | None = None  # how to reverse it, when it can be


def _short(rev: str | None) -> str:
    return (rev or "?")[:10]


def _same_revision(a: str | None, b: str | None) -> bool:
    """The same commit, one of them possibly abbreviated (at least 7 characters, as git abbreviates)."""
    if not a or not b:
        return False
    n = min(len(a), len(b))
    return n >= 7 and a[:n].lower() == b[:n].lower() or a == b


def _when(t: datetime) -> str:
    return f"{t:%Y-%m-%d %H:%M} UTC"


async def prepare(deps: Deps, proposal: ProposedAction, *, now: datetime, requested_by: str | None = None,
                  request_id: str = "", channel: str = "", shown: FiringShown | None = None) -> Prepared:
    """Resolve and describe `proposal`; UsageError (said to the person) when it cannot run as asked.

    `shown`: the alerts the proposal's evidence shows firing; a silence may select no other (None: a person asked
    for it with `/sre run`, and is their own evidence)."""
    spec = CATALOG[proposal.action]
    args = dict(proposal.args)
    try:
        if proposal.action in ("argocd.rollback", "argocd.sync", "argocd.restart"):
            return await _argocd(deps, spec, args)
        if proposal.action == "alertmanager.silence":
            return await _silence(deps, spec, args, now=now, shown=shown)
        if proposal.action in ("pagerduty.page", "opsgenie.alert"):
            from .paging import prepare_page

            return await prepare_page(deps, spec, args, now=now, requested_by=requested_by, request_id=request_id,
                                      channel=channel)
        if proposal.action == "eda.event":
            from .eda import prepare_eda

            return await prepare_eda(deps, spec, args, now=now, requested_by=requested_by, request_id=request_id,
                                     channel=channel)
        return _webhook(deps, spec, args, requested_by=requested_by, request_id=request_id, channel=channel)
    except BackendError as e:
        raise UsageError(f"could not prepare {proposal.action}: {e}") from e


async def _argocd(deps: Deps, spec: ActionSpec, args: dict[str, Any]) -> Prepared:
    if deps.argocd is None:
        raise UsageError(f"{spec.name} needs Argo CD, which is not configured (ARGOCD_URL)")
    svc = deps.config.service(args["service"])
    app_name = deps.config.argocd_app(svc)
    app = await deps.argocd.get_app(app_name)
    where = f"Argo CD app `{app.name}` (project {app.project}" + (f", namespace {app.namespace})" if app.namespace
                                                                   else ")")
    args["app"] = app.name
    if spec.name == "argocd.rollback":
        if not app.history:
            raise UsageError(f"{app.name} has no deploy history in Argo CD: nothing to roll back to")
        current = app.history[0]
        wanted = args.get("to_history_id")
        bad = args.get("away_from")
        if bad and not _same_revision(current.revision, bad):
            raise UsageError(f"{app.name} no longer runs `{_short(bad)}` (it runs `{_short(current.revision)}`, "
                             f"history {current.id}): nothing to roll back")
        # the deploy before the current one: never the current revision again, never the one blamed
        earlier = [d for d in app.history if d.id != current.id and d.revision != current.revision
                   and not (bad and _same_revision(d.revision, bad))]
        target = next((d for d in app.history if d.id == wanted), None) if wanted is not None else \
            (earlier[0] if earlier else None)
        if target is None:
            known = ", ".join(str(d.id) for d in app.history[:10])
            raise UsageError(f"{app.name}: no history id {wanted} to roll back to (known: {known})" if wanted
                             is not None else f"{app.name} has no earlier deploy of another revision to roll back to")
        if target.id == current.id:
            raise UsageError(f"{app.name} already runs history id {current.id} ({_short(current.revision)})")
        if bad and _same_revision(target.revision, bad):
            raise UsageError(f"{app.name}: history id {target.id} is `{_short(bad)}`, the revision blamed; "
                             "choose another")
        args.update(to_history_id=target.id, to_revision=target.revision, from_revision=current.revision)
        by = f" by {current.initiated_by}" if current.initiated_by else ""
        preview = (f"Roll back {where} from `{_short(current.revision)}` (history {current.id}, deployed "
                   f"{_when(current.deployed_at)}{by}) to `{_short(target.revision)}` (history {target.id}, "
                   f"deployed {_when(target.deployed_at)}). Argo CD refuses this while auto-sync is on.")
        return Prepared(spec.name, args, preview, spec, undo=f"argocd.sync revision={current.revision}")
    if spec.name == "argocd.sync":
        args["from_revision"] = app.revision
        preview = f"Sync {where} from `{_short(app.revision)}` to revision `{args['revision']}`."
        undo = f"argocd.sync revision={app.revision}" if app.revision else None
        return Prepared(spec.name, args, preview, spec, undo=undo)
    tree = await deps.argocd.resource_tree(app.name)
    kind = args.get("kind", "Deployment")
    workloads = [n for n in tree if n.kind == kind]
    if not workloads:
        raise UsageError(f"{app.name} has no {kind} in its Argo CD resource tree")
    named = [n for n in workloads if n.name in (svc.name, svc.container, app.name)]
    if len(named) != 1 and len(workloads) != 1:
        names = ", ".join(n.name for n in workloads[:10])
        raise UsageError(f"{app.name} has several {kind}s ({names}); none is named after {svc.name}")
    w = named[0] if len(named) == 1 else workloads[0]
    args.update(resource_name=w.name, namespace=w.namespace, group=w.group or ("apps" if kind in
                ("Deployment", "StatefulSet") else None), version=getattr(w, "version", None) or "v1")
    preview = (f"Run the Argo CD resource action `restart` on {kind} `{w.namespace or '-'}/{w.name}` of {where}: "
               "its pods are replaced one at a time (a rolling restart). Not reversible, but changes no version.")
    return Prepared(spec.name, args, preview, spec)


async def _silence(deps: Deps, spec: ActionSpec, args: dict[str, Any], *, now: datetime,
                   shown: FiringShown | None) -> Prepared:
    if deps.alertmanager is None:
        raise UsageError("alertmanager.silence needs Alertmanager, which is not configured (ALERTMANAGER_URL)")
    duration = parse_duration(args["duration"])
    matching = await deps.alertmanager.alerts(matchers=args["matchers"])
    matchers = ", ".join(f'{k}="{v}"' for k, v in args["matchers"].items())
    wider = [a for a in matching if not shown.includes(a)] if shown is not None else []
    if wider:
        which = ", ".join(sorted({f"{a.name} ({a.labels.get('service') or a.fingerprint})" for a in wider})[:8])
        raise UsageError(f"alertmanager.silence {{{matchers}}} would also silence {len(wider)} firing alert(s) "
                         f"the evidence does not show ({which}); a silence may only cover alerts the evidence "
                         "shows firing")
    names = sorted({a.labels.get("alertname", "?") for a in matching})
    firing = (f"it matches {len(matching)} firing alert(s) now: {', '.join(names[:8])}"
              + ("…" if len(names) > 8 else "")) if matching else "it matches no firing alert right now"
    args["ends_in_s"] = int(duration.total_seconds())
    preview = (f"Create an Alertmanager silence for {{{matchers}}} lasting {format_duration(duration)} "
               f"(until {_when(now + duration)} if approved now), comment “{args['comment']}”; {firing}.")
    return Prepared(spec.name, args, preview, spec, undo="expire the silence")


def _webhook(deps: Deps, spec: ActionSpec, args: dict[str, Any], *, requested_by: str | None, request_id: str,
             channel: str) -> Prepared:
    hook = deps.config.actions.webhooks.get(args["name"])
    if hook is None:
        raise UsageError(f"webhook {args['name']!r} is not configured")
    body = render_webhook(hook.body, service=args.get("service"), request_id=request_id,
                          requested_by=requested_by, approver="<approver>", reason="", channel=channel)
    host = hook.url.host or "?"
    desc = f" ({hook.description})" if hook.description else ""
    preview = f"{hook.method} to webhook `{args['name']}`{desc} at {host}{hook.url.path or ''} with body {body}"
    return Prepared(spec.name, args, preview[:1500], spec)
