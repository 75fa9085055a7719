"""Telemetry and control-system adapters: one module per system, async, each with an injected client.

They never import each other; each returns the typed models of `sre_bot.models` and raises only the
`sre_bot.errors.BackendError` tree. Shared HTTP error mapping and timing live in `_http`.
"""

from __future__ import annotations

from .alertmanager import AlertmanagerBackend
from .argocd import ArgoCDBackend
from .loki import LokiBackend
from .prometheus import PrometheusBackend

__all__ = ["AlertmanagerBackend", "ArgoCDBackend", "LokiBackend", "PrometheusBackend"]
