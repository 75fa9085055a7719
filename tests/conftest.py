"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from sre_bot.sandbox import load_scenario
from sre_bot.sandbox.server import Sandbox
from tests.fakes.argocd import FakeArgoCD
from tests.fakes.loki import FakeLoki
from tests.fakes.slack_api import fake_slack  # noqa: F401  (the `fake_slack` fixture)
from tests.realprom import PrometheusFactory, require_binaries


@pytest.fixture
async def shop() -> AsyncIterator[Sandbox]:
    """The default sandbox scenario (checkout-bad-deploy) served on loopback: `.urls.as_env()`, `.config`."""
    async with Sandbox(load_scenario()) as sb:
        yield sb


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


@pytest.fixture(autouse=True)
def _no_real_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test can reach a real model: a key from the developer's shell is dropped, and the default API address
    is a closed loopback port (tests that use a model point ANTHROPIC_BASE_URL at the fake)."""
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
