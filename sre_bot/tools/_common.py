"""What every tool shares: turning a backend failure or a missing backend into an `error` evidence item, and
running CPU-bound analysis where the composition root said (`analyse`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from ..deps import Deps
from ..errors import BackendError
from ..models import Evidence, EvidenceSource, TimeRange, evidence_id

__all__ = ["failure", "not_configured", "fmt_value", "analyse"]

_T = TypeVar("_T")


async def analyse(deps: Deps, fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> _T:
    """`fn(*args, **kwargs)` (a pure function of `analysis/`) off the event loop, in `deps.offload`; in place
    when the deps were built without one (unit tests)."""
    if deps.offload is None:
        return fn(*args, **kwargs)
    return await deps.offload.run(fn, *args, **kwargs)

_ENV = {"prometheus": "PROMETHEUS_URL", "loki": "LOKI_URL", "argocd": "ARGOCD_URL", "alertmanager": "ALERTMANAGER_URL"}


def failure(
    source: EvidenceSource, kind: str, label: str, query: str, window: TimeRange | None, err: BackendError,
    *, service: str | None = None,
) -> Evidence:
    """An evidence item that records a failed call: the answer says plainly what could not be checked."""
    return Evidence(
        id=evidence_id(source, query, window, "error"), source=source, kind=kind, label=label, query=query,
        window=window, quote=str(err), status="error", service=service, data={"error_kind": err.kind},
    )


def not_configured(source: EvidenceSource, kind: str, label: str, *, service: str | None = None) -> Evidence:
    return Evidence(
        id=evidence_id(source, "", None, "not-configured"), source=source, kind=kind, label=label, query="",
        quote=f"{source} is not configured (set {_ENV.get(source, source.upper() + '_URL')})", status="error",
        service=service, data={"error_kind": "not_configured"},
    )


def fmt_value(v: float | None, unit: str) -> str:
    """A human number with its unit: 0.89 s -> '890 ms', 0.123 ratio -> '12.3%'."""
    if v is None:
        return "n/a"
    if unit == "seconds":
        return f"{v * 1000:,.0f} ms" if abs(v) < 10 else f"{v:,.1f} s"
    if unit == "ratio":
        return f"{v * 100:.1f}%" if abs(v) >= 0.001 or v == 0 else f"{v * 100:.3f}%"
    if unit == "bytes":
        for suffix, n in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
            if abs(v) >= n:
                return f"{v / n:,.1f} {suffix}"
        return f"{v:,.0f} B"
    if unit == "cores":
        return f"{v:.2f} cores"
    if unit == "rps":
        return f"{v:,.1f} req/s" if abs(v) < 1000 else f"{v:,.0f} req/s"
    return f"{v:,.3g}"
