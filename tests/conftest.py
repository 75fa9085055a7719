"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.argocd import FakeArgoCD
from tests.fakes.loki import FakeLoki
from tests.fakes.slack_api import fake_slack  # noqa: F401  (the `fake_slack` fixture)
from tests.realprom import PrometheusFactory, require_binaries


@pytest.fixture
def loki_server() -> Iterator[FakeLoki]:
    """A running fake Loki (no tenant required): `.push(labels, [(ts, line)])`, `.url`, `.requests`."""
    with FakeLoki() as server:
        yield server


@pytest.fixture
def argocd_server() -> Iterator[FakeArgoCD]:
    """A running fake Argo CD expecting `Authorization: Bearer test-token`: `.add_app(...)`, `.url`, `.requests`."""
    with FakeArgoCD(token="test-token") as server:
        yield server


@pytest.fixture(scope="session")
def real_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusFactory]:
    """`url = real_prometheus(openmetrics_text)`: a real Prometheus serving that history (cached per text)."""
    require_binaries()
    factory = PrometheusFactory(tmp_path_factory.mktemp("prometheus"))
    yield factory
    factory.close()
