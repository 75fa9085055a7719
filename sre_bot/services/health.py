"""Is each configured system reachable? Used by `/readyz` and `sre-bot doctor`; and is anything configured at all
(`nothing_to_investigate`, used by `doctor` and `ask`, so that an empty setup is never mistaken for a healthy one)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from ..deps import Deps
from ..errors import BackendError
from ..settings import Settings

__all__ = ["Check", "check_backends", "FIX", "SYSTEMS", "TO_SET", "nothing_to_investigate"]

SYSTEMS = ("prometheus", "loki", "argocd", "alertmanager")
TO_SET = "set PROMETHEUS_URL (metrics), and LOKI_URL, ARGOCD_URL, ALERTMANAGER_URL for logs, deploys and alerts"

FIX = {
    "prometheus": "check PROMETHEUS_URL (and PROMETHEUS_TOKEN if it needs auth)",
    "loki": "check LOKI_URL (and LOKI_ORG_ID / LOKI_TOKEN for multi-tenant Loki)",
    "argocd": "check ARGOCD_URL and ARGOCD_TOKEN (an API token of a read-only account: argocd account generate-token)",
    "alertmanager": "check ALERTMANAGER_URL",
    "tempo": "check TEMPO_URL (and TEMPO_ORG_ID / TEMPO_TOKEN for multi-tenant Tempo)",
}


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    configured: bool = True


async def _ping(name: str, backend: object | None, timeout: float, wait: float | None = None) -> Check:
    if backend is None:
        return Check(name, False, f"not configured: set {name.upper()}_URL", configured=False)
    patience = timeout if wait is None else min(wait, timeout)
    try:
        version = await asyncio.wait_for(backend.ping(), patience)  # type: ignore[attr-defined]
    except TimeoutError:
        if patience < timeout:
            return Check(name, False, f"no answer within {patience:g}s (slow or down; this check waits no longer)")
        return Check(name, False, f"timed out — {FIX[name]}")
    except BackendError as e:
        return Check(name, False, f"{str(e) or 'failed'} — {FIX[name]}")
    return Check(name, True, f"reachable (version {version})" if version and version != "ok" else "reachable")


async def check_backends(deps: Deps, *, wait: float | None = None) -> list[Check]:
    """The four systems an investigation reads, and Tempo when it is configured (optional: not listed otherwise),
    pinged at once; `wait`: give up on one after that many seconds (readiness) rather than its backend timeout."""
    timeout = deps.settings.backend_timeout_s
    return list(await asyncio.gather(
        _ping("prometheus", deps.prometheus, timeout, wait),
        _ping("loki", deps.loki, timeout, wait),
        _ping("argocd", deps.argocd, timeout, wait),
        _ping("alertmanager", deps.alertmanager, timeout, wait),
        *([_ping("tempo", deps.tempo, timeout, wait)] if deps.tempo is not None else []),
    ))


def nothing_to_investigate(settings: Settings) -> str | None:
    """None when at least one system an investigation reads is set; else what to set, and how to try the bot."""
    if any(getattr(settings, f"{name}_url") is not None for name in SYSTEMS):
        return None
    return f"nothing is configured to investigate: {TO_SET} — or try `sre-bot demo` to see the bot on a simulated shop"
