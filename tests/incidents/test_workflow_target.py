"""The root-service investigation of an incident asks about a service chosen on the topology the alerts were
grouped by: the discovered one when the processor has one, else the configured depends_on."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from sre_bot.analysis.topology import Topology
from sre_bot.incidents.workflow import IncidentWorkflow


def _incident(*services: str) -> Any:
    return SimpleNamespace(incident=SimpleNamespace(services=list(services)))


def _deps(depends_on: dict[str, list[str]]) -> Any:
    return SimpleNamespace(config=SimpleNamespace(dependencies=lambda: depends_on))


def test_the_target_follows_the_discovered_call_graph() -> None:
    """payments alerted first, but frontend → checkout → payments was discovered: the entry of the chain is asked
    about (its scope holds everything below it), as with a configured graph."""
    s = _incident("payments", "checkout", "frontend")
    discovered = Topology.build(discovered=[("frontend", "checkout"), ("checkout", "payments")])
    assert IncidentWorkflow(_deps({}), topology=lambda: discovered).target(s) == "frontend"
    # without a discovered topology and with nothing configured: no edge, the earliest affected service
    assert IncidentWorkflow(_deps({})).target(s) == "payments"
    # the configured graph alone, as before
    assert IncidentWorkflow(_deps({"checkout": ["payments"]})).target(s) == "checkout"
    assert IncidentWorkflow(_deps({}), topology=lambda: discovered).target(_incident()) is None
