"""A Loki selector that matches no stream is a gap named in the answer, never "error logs unchanged"."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from sre_bot.backends.loki import LokiBackend
from sre_bot.config import Config, parse_config
from sre_bot.deps import Deps
from sre_bot.models import TimeRange
from sre_bot.sandbox import load_scenario
from sre_bot.sandbox.bot_config import config_yaml
from sre_bot.sandbox.server import Sandbox
from sre_bot.settings import load_settings
from sre_bot.tools.logs import error_shift, error_templates, log_lines, scope_log_shifts
from tests.cli._run import run_cli
from tests.fakes.loki import FakeLoki

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
WINDOW = TimeRange.ending(NOW, timedelta(minutes=10))
BASELINE = WINDOW.before(timedelta(minutes=30))
MIN = 60 * 10**9
B0 = int(BASELINE.start.timestamp()) * 10**9


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as c:
        yield c


def _config() -> Config:
    return parse_config({"defaults": {"namespace": "shop"}, "services": [
        {"name": "cart"}, {"name": "checkout"},
        {"name": "legacy", "loki_selector": '{job="legacy-vm"}'}, {"name": "typo", "loki_selector": '{job="lgacy"}'}]})


def _deps(loki: FakeLoki, client: httpx.AsyncClient) -> Deps:
    return Deps(settings=load_settings(None, LOKI_URL=loki.url), config=_config(), loki=LokiBackend(client, loki.url))


def _info(loki: FakeLoki, stream: dict[str, str], minutes: int = 40) -> None:
    loki.push(stream, [(B0 + m * MIN + 10**9, f"INFO handled request {m}") for m in range(minutes)])


async def test_shared_selector_no_stream_vs_quiet_stream(loki_server: FakeLoki, client: httpx.AsyncClient) -> None:
    """cart logs (no errors): read, nothing changed (an empty list); checkout has no stream at all: a named gap."""
    _info(loki_server, {"namespace": "shop", "app": "cart"})
    deps = _deps(loki_server, client)
    found = await scope_log_shifts(deps, [deps.config.service("cart"), deps.config.service("checkout")], WINDOW,
                                   BASELINE)
    assert found["cart"] == []
    [gap] = found["checkout"]
    assert gap.status == "error" and gap.data["error_kind"] == "no_stream" and gap.service == "checkout"
    assert gap.quote.startswith('no log stream matches `{namespace="shop", app="checkout"}` in Loki in ')
    assert "check `loki_selector` for checkout" in gap.quote
    # no extra query: the scope's count query already said which services have lines
    assert len(loki_server.requests_to("/loki/api/v1/query_range")) == 4


async def test_own_selector_no_stream_vs_quiet_stream(loki_server: FakeLoki, client: httpx.AsyncClient) -> None:
    """A service with its own selector: one count query only when nothing was read, and a gap only when no line
    of the selector exists at all."""
    _info(loki_server, {"job": "legacy-vm"})
    deps = _deps(loki_server, client)
    assert await error_shift(deps, deps.config.service("legacy"), WINDOW, BASELINE) == []
    [gap] = await error_shift(deps, deps.config.service("typo"), WINDOW, BASELINE)
    assert gap.data["error_kind"] == "no_stream" and "`{job=\"lgacy\"}`" in gap.quote
    assert "its own `loki_selector`" in gap.quote
    counts = [r.param("query") for r in loki_server.requests_to("/loki/api/v1/query_range")
              if (r.param("query") or "").startswith("sum(count_over_time(")]
    assert counts == ['sum(count_over_time({job="legacy-vm"} [60s]))', 'sum(count_over_time({job="lgacy"} [60s]))']


async def test_the_answer_names_the_gap_and_keeps_its_confidence(tmp_path: Path) -> None:
    """`ask --json` on the card-gateway outage (card-gateway writes no logs to Loki): the gap names its selector, its
    Checked line does not say "error logs unchanged", and the diagnosis is unchanged (Loki is not called down)."""
    async with Sandbox(load_scenario("card-gateway-outage")) as sb:
        cfg = tmp_path / "sre-bot.yaml"
        cfg.write_text(config_yaml(sb.config))
        code, out, err = await run_cli("ask", "why is checkout failing?", "--json", "--no-llm",
                                       env={**sb.urls.as_env(), "SRE_BOT_CONFIG": str(cfg)}, cwd=tmp_path)
    assert code == 0, err
    data = json.loads(out)
    [gap] = [g for g in data["gaps"] if "no log stream" in g]
    assert gap.startswith('no log stream matches `{namespace="shop", app="card-gateway"}` in Loki')
    [line] = [c for c in data["checked"] if c.startswith("card-gateway:") and "Tempo" not in c]  # the signals line
    assert "error logs unchanged" not in line
    assert any("error logs unchanged" in c for c in data["checked"] if c.startswith("cart:"))
    assert data["hypotheses"][0]["service"] == "card-gateway" and data["hypotheses"][0]["confidence"] > 0.9


async def test_logs_and_templates_tell_no_stream_from_no_match(loki_server: FakeLoki, client: httpx.AsyncClient) -> None:
    """`/sre logs` and `/sre status` (and the model's tools): a filter that matches nothing is "no lines matched";
    a selector that matches no stream is a gap naming the selector."""
    _info(loki_server, {"namespace": "shop", "app": "cart"})
    deps = _deps(loki_server, client)
    quiet = await log_lines(deps, deps.config.service("cart"), WINDOW, text="no such words")
    assert quiet.status == "no_data" and quiet.quote.startswith("no log lines matched")
    [no_errors] = await error_templates(deps, deps.config.service("cart"), WINDOW)
    assert no_errors.status == "no_data" and no_errors.quote.startswith("no error lines")
    gap = await log_lines(deps, deps.config.service("checkout"), WINDOW, text="timeout")
    assert gap.status == "error" and gap.kind == "logs" and gap.data["error_kind"] == "no_stream"
    assert gap.quote.startswith('no log stream matches `{namespace="shop", app="checkout"}` in Loki in ')
    [tgap] = await error_templates(deps, deps.config.service("checkout"), WINDOW)
    assert tgap.status == "error" and tgap.kind == "log_template" and tgap.data["error_kind"] == "no_stream"
