"""Argo CD and Alertmanager at scope scale: one applications list and one alerts read for a whole scope give the
same facts as one call per service, through the bot's real clients against the sandbox's Argo CD and Alertmanager
APIs over loopback."""

from __future__ import annotations

from sre_bot.tools.alerts import firing_alerts, scope_firing_alerts
from sre_bot.tools.deploys import PER_APP_UP_TO, app_status, scope_app_status
from tests.evaluation._support import bot_on


def _facts(items):
    return [(e.kind, e.status, e.service, e.quote, tuple(sorted((e.data or {}).items(), key=str))) for e in items]


def _calls(deps, backend: str) -> float:
    total = 0.0
    for family in deps.metrics.registry.collect():
        for s in family.samples:
            if s.name == "sre_bot_backend_request_duration_seconds_count" and s.labels.get("backend") == backend:
                total += s.value
    return total


async def test_one_applications_list_gives_every_services_status_and_deploys():
    async with bot_on("checkout-bad-deploy") as (sb, deps):
        names = [s.name for s in sb.config.services] + ["not-deployed-anywhere"]
        apps = {n: deps.config.argocd_app(deps.config.service(n)) for n in names}
        assert len(apps) > PER_APP_UP_TO
        before = _calls(deps, "argocd")
        scoped = await scope_app_status(deps, apps, history=10)
        assert _calls(deps, "argocd") - before == 1
        for n, a in apps.items():
            one = await app_status(deps, a, service=n, history=10)
            assert _facts(scoped[n]) == _facts(one), n
        assert scoped["not-deployed-anywhere"][0].status == "no_data"
        assert any(e.kind == "deploy" and "4f1c2e9" in e.quote for e in scoped["checkout"])


async def test_one_alerts_read_splits_by_service():
    async with bot_on("checkout-bad-deploy") as (sb, deps):
        svcs = [deps.config.service(s.name) for s in sb.config.services]
        before = _calls(deps, "alertmanager")
        scoped = await scope_firing_alerts(deps, svcs)
        assert _calls(deps, "alertmanager") - before == 1
        for svc in svcs:
            one = await firing_alerts(deps, svc)
            assert [(e.kind, e.status, e.quote) for e in scoped[svc.name]] == \
                   [(e.kind, e.status, e.quote) for e in one], svc.name
        assert any(e.kind == "alert" for group in scoped.values() for e in group)
