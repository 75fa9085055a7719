"""Is each configured system reachable? Used by `/readyz` and `sre-bot doctor`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from ..deps import Deps
from ..errors import BackendError

__all__ = ["Check", "check_backends", "FIX"]

FIX = {
    "prometheus": "check PROMETHEUS_URL (and PROMETHEUS_TOKEN if it needs auth)",
    "loki": "check LOKI_URL (and LOKI_ORG_ID / LOKI_TOKEN for multi-tenant Loki)",
    "argocd": "check ARGOCD_URL and ARGOCD_TOKEN (an API token of a read-only account: argocd account generate-token)",
    "alertmanager": "check ALERTMANAGER_URL",
}


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    configured: bool = True


async def _ping(name: str, backend: object | None, timeout: float) -> Check:
    if backend is None:
        return Check(name, False, f"not configured: set {name.upper()}_URL", configured=False)
    try:
        version = await asyncio.wait_for(backend.ping(), timeout)  # type: ignore[attr-defined]
    except (BackendError, TimeoutError) as e:
        msg = str(e) or "timed out"
        return Check(name, False, f"{msg} — {FIX[name]}")
    return Check(name, True, f"reachable (version {version})" if version and version != "ok" else "reachable")


async def check_backends(deps: Deps) -> list[Check]:
    timeout = deps.settings.backend_timeout_s
    return list(await asyncio.gather(
        _ping("prometheus", deps.prometheus, timeout),
        _ping("loki", deps.loki, timeout),
        _ping("argocd", deps.argocd, timeout),
        _ping("alertmanager", deps.alertmanager, timeout),
    ))
