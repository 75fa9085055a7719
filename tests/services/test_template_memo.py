"""Log templates are mined once per service's lines: a second scope that reads the same lines reuses them
(`tools/logs.py` through `Offload.memo`), against the wire-format Loki test server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from sre_bot.backends.loki import LokiBackend
from sre_bot.config import parse_config
from sre_bot.deps import Deps
from sre_bot.models import TimeRange
from sre_bot.services.offload import Offload
from sre_bot.settings import load_settings
from sre_bot.tools.logs import scope_log_shifts
from tests.fakes.loki import FakeLoki

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
WINDOW = TimeRange.ending(NOW, timedelta(minutes=10))
BASELINE = WINDOW.before(timedelta(minutes=30))
MIN = 60 * 10**9
B0 = int(BASELINE.start.timestamp()) * 10**9
W0 = int(WINDOW.start.timestamp()) * 10**9


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as c:
        yield c


def _shop(loki: FakeLoki) -> None:
    """cart logs the same error before and during; checkout starts a new error in the window."""
    for app in ("cart", "checkout"):
        loki.push({"namespace": "shop", "app": app},
                  [(B0 + m * MIN + 10**9, f"ERROR upstream timeout after {100 + m}ms") for m in range(40)])
    loki.push({"namespace": "shop", "app": "checkout"},
              [(W0 + m * MIN + 2 * 10**9, f"ERROR pool exhausted: 50 of 50 connections in use (req {m})")
               for m in range(10)])


async def test_the_same_lines_are_mined_once_and_give_the_same_answer(loki_server: FakeLoki,
                                                                      client: httpx.AsyncClient) -> None:
    """Checkout's and cart's templates come from the memo the second time (the same scope read again, and a scope of
    checkout alone), and the evidence is the same as mined afresh without any memo."""
    _shop(loki_server)
    config = parse_config({"defaults": {"namespace": "shop"}, "services": [{"name": "cart"}, {"name": "checkout"}]})
    plain = Deps(settings=load_settings(None, LOKI_URL=loki_server.url), config=config,
                 loki=LokiBackend(client, loki_server.url))
    offload = Offload(0)
    try:
        deps = replace(plain, offload=offload)
        both = [config.service("cart"), config.service("checkout")]
        first = await scope_log_shifts(deps, both, WINDOW, BASELINE)
        assert offload.memo_hits == 0
        again = await scope_log_shifts(deps, both, WINDOW, BASELINE)
        hits = offload.memo_hits
        assert hits >= 1 and again == first
        alone = await scope_log_shifts(deps, [config.service("checkout")], WINDOW, BASELINE)
        assert offload.memo_hits == hits + 1  # checkout's lines read by another query: the same lines, not mined
        fresh = await scope_log_shifts(plain, both, WINDOW, BASELINE)
    finally:
        offload.close()
    assert fresh == first
    [new] = [e for e in first["checkout"] if e.data.get("kind") == "new"]
    assert "pool exhausted" in new.quote and new.data["during"] == 10
    assert [e.data.get("kind") for e in alone["checkout"]] == [e.data.get("kind") for e in first["checkout"]]
