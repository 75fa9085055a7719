"""Fixtures for the sandbox tests: the default scenario, a World at a frozen `now`, running servers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from sre_bot.clock import frozen_clock
from sre_bot.sandbox import Sandbox, Scenario, World, load_scenario
from tests.sandbox._support import NOW


@pytest.fixture(scope="session")
def scenario() -> Scenario:
    return load_scenario("checkout-bad-deploy")


@pytest.fixture
def world(scenario: Scenario) -> World:
    return World(scenario, NOW)


@pytest.fixture
async def sandbox(scenario: Scenario) -> AsyncIterator[Sandbox]:
    async with Sandbox(scenario, clock=frozen_clock(NOW)) as sb:
        yield sb


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """One HTTP client per test (building a client costs ~30 ms of TLS setup, even for plain http)."""
    async with httpx.AsyncClient(timeout=10) as client:
        yield client
