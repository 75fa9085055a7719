"""Scenario loading and validation."""

from __future__ import annotations

import copy
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from sre_bot.config import load_config
from sre_bot.errors import ConfigError
from sre_bot.sandbox import config_yaml, list_scenarios, load_scenario, parse_scenario, sandbox_config
from sre_bot.sandbox.scenario import Scenario, parse_offset, parse_span, scenario_path

MINIMAL: dict[str, Any] = {
    "name": "tiny",
    "duration": "1h",
    "services": [
        {"name": "web", "depends_on": ["db"], "signals": {"error_ratio": {"level": 0.01, "events": [
            {"at": "-10m", "ramp": "2m", "set": 0.2}]}},
         "logs": {"templates": [{"message": "boom {trace_id}", "level": "error", "rate": 6, "start": "-10m"}]}},
        {"name": "db", "kind": "database"},
    ],
}


def _errors(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as e:
        parse_scenario(data, source="scenario test.yaml")
    return str(e.value)


def _with(path: list[Any], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(MINIMAL)
    node = data
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value
    return data


def test_default_scenario_is_shipped_and_loads_by_name(scenario: Scenario) -> None:
    """The default scenario ships with the package and loads by its name."""
    assert "checkout-bad-deploy" in list_scenarios()
    assert scenario.name == "checkout-bad-deploy"
    assert [s.name for s in scenario.services] == ["frontend", "catalog", "cart", "checkout", "payments-api",
                                                    "payments-db"]
    assert scenario.truth is not None and scenario.truth.root_service == "checkout"
    assert scenario.truth.cause == "bad_deploy"


def test_load_scenario_by_path_and_unknown_name(tmp_path: Path) -> None:
    """A YAML path loads too; an unknown name lists the shipped scenarios."""
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(MINIMAL))
    assert load_scenario(path).name == "tiny"
    assert scenario_path("checkout-bad-deploy").name == "checkout-bad-deploy.yaml"
    with pytest.raises(ConfigError, match="checkout-bad-deploy"):
        load_scenario("no-such-scenario")
    (tmp_path / "bad.yaml").write_text("name: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_scenario(tmp_path / "bad.yaml")


def test_offsets_and_spans_parse() -> None:
    """Offsets are signed durations relative to now; spans are unsigned; both say what to write instead."""
    assert parse_offset("-25m") == timedelta(minutes=-25)
    assert parse_offset("-1h30m") == timedelta(minutes=-90)
    assert parse_offset("now") == parse_offset(0) == timedelta(0)
    assert parse_offset("+10m") == timedelta(minutes=10)
    assert parse_span("0") == timedelta(0) and parse_span("2d") == timedelta(days=2)
    with pytest.raises(ValueError, match="write -25m"):
        parse_offset("-25x")
    with pytest.raises(ValueError, match="not a duration"):
        parse_span(15)


def test_services_may_be_a_mapping() -> None:
    """`services:` may map names to fields, as in sre-bot.yaml."""
    data = copy.deepcopy(MINIMAL)
    data["services"] = {s.pop("name"): s for s in data["services"]}
    assert [s.name for s in parse_scenario(data).services] == ["web", "db"]


@pytest.mark.parametrize("path, value, expected", [
    (["services", 0, "signals", "error_ratio", "level"], -1, "services[web].signals.error_ratio.level: "),
    (["services", 0, "signals", "error_ratio", "events", 0, "at"], "-10x",
     "services[web].signals.error_ratio.events[0].at: '-10x' is not an offset from now"),
    (["services", 0, "signals", "error_ratio", "events", 0, "multiply"], 2,
     "services[web].signals.error_ratio.events[0]: an event needs exactly one of multiply, set or add"),
    (["services", 0, "kind"], "mainframe", "services[web].kind: "),
    (["services", 0, "name"], "Web_1", "services[Web_1].name: 'Web_1' is not a DNS label"),
    (["services", 0, "colour"], "red", "services[web].colour: Extra inputs are not permitted"),
    (["duration"], "5m", "duration: duration must be between 10m and 31d"),
    (["services", 0, "logs", "templates", 0, "level"], "loud", "services[web].logs.templates[0].level: "),
])
def test_field_errors_name_the_field(path: list[Any], value: Any, expected: str) -> None:
    """A bad field is reported with its path, service items named, and the reason."""
    msg = _errors(_with(path, value))
    assert msg.startswith("invalid scenario test.yaml:\n")
    assert expected in msg


@pytest.mark.parametrize("path, value, expected", [
    (["services", 0, "depends_on"], ["cache"], "services[web].depends_on: unknown service 'cache'"),
    (["services", 0, "signals", "saturation"], 1, "services[web].signals.saturation: unknown signal"),
    (["services", 0, "logs", "templates", 0, "message"], "boom {orderid}",
     "services[web].logs.templates[0].message: unknown placeholder {orderid}"),
    (["alerts"], [{"alertname": "X", "service": "api", "starts": "-5m"}], "alerts[0].service: unknown service"),
    (["alerts"], [{"alertname": "X", "starts": "-5m", "ends": "-6m"}], "alerts[0].ends: must come after starts"),
    (["alerts"], [{"alertname": "X", "starts": "-5m", "inhibited_by": "Y"}], "alerts[0].inhibited_by:"),
    (["truth"], {"root_service": "api", "cause": "bad_deploy", "summary": "."}, "truth: unknown service 'api'"),
    (["signals"], {"cpu": {"title": "t", "query": "up{$selector}", "unit": "count"}},
     "signals.cpu: 'cpu' is a built-in"),
])
def test_cross_field_errors_name_the_field(path: list[Any], value: Any, expected: str) -> None:
    """References between fields (services, signals, placeholders, alerts, truth) are checked by name."""
    assert expected in _errors(_with(path, value))


def test_duplicate_services_and_top_level_errors() -> None:
    """A service named twice and a non-mapping document are refused plainly."""
    data = copy.deepcopy(MINIMAL)
    data["services"].append({"name": "web"})
    assert "services[web].name: the service name 'web' is used twice" in _errors(data)
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        parse_scenario(["x"])


def test_kind_defaults_can_be_replaced_and_removed() -> None:
    """A kind brings default signals; a service replaces one or removes it with null."""
    data = _with(["services", 0, "signals", "latency_p99"], None)
    web = parse_scenario(data).services[0]
    shapes = web.shapes()
    assert "latency_p99" not in shapes and shapes["error_ratio"].level == 0.01 and shapes["up"].level == 1
    assert set(parse_scenario(MINIMAL).services[1].shapes()) == {"cpu", "memory", "up"}


def test_sandbox_config_agrees_with_the_scenario(scenario: Scenario, tmp_path: Path) -> None:
    """The bot's config names the scenario's services, namespaces, dependencies, apps and extra signals."""
    config = sandbox_config(scenario)
    assert config.service_names == [s.name for s in scenario.services]
    checkout = config.service("checkout")
    assert checkout.namespace == "shop" and checkout.depends_on == ["payments-api", "cart"]
    assert config.argocd_app(checkout) == "checkout"
    assert config.loki_selector(checkout) == '{namespace="shop", app="checkout"}'
    assert "db_connections" in config.all_signals
    path = tmp_path / "sre-bot.yaml"
    path.write_text(config_yaml(config, header="generated from checkout-bad-deploy"))
    assert load_config(path, required=True) == config
