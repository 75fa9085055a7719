"""The `packaging` marker: tests that build the wheel and install it into a fresh venv (tens of seconds)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "packaging: builds the wheel and installs it in a fresh venv (slow-ish; runs "
                                       "in CI; `-m 'not packaging'` leaves it out)")
