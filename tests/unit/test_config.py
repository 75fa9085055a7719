"""The YAML config: defaults that work, escaping that holds, and errors that name the field."""

from pathlib import Path

import pytest

from sre_bot.config import Config, load_config, parse_config
from sre_bot.errors import ConfigError


def test_unknown_service_uses_common_conventions():
    """A service missing from the file gets the `service` label, cAdvisor labels and Loki namespace/app."""
    cfg = Config()
    svc = cfg.service("checkout")
    queries = {r.name: r.query for r in cfg.signal_queries(svc)}
    assert queries["request_rate"] == 'sum(rate(http_requests_total{service="checkout"}[5m]))'
    assert 'container="checkout"' in queries["cpu"] and 'namespace="default"' in queries["cpu"]
    assert cfg.loki_selector(svc) == '{namespace="default", app="checkout"}'


def test_hostile_service_names_cannot_break_or_widen_queries():
    """Quotes, backslashes and braces in a name stay inside one escaped label value."""
    cfg = Config()
    svc = cfg.service('x"} or up{a="\\')
    q = next(r.query for r in cfg.signal_queries(svc) if r.name == "request_rate")
    assert q == 'sum(rate(http_requests_total{service="x\\"} or up{a=\\"\\\\"}[5m]))'
    assert cfg.loki_selector(svc) == '{namespace="default", app="x\\"} or up{a=\\"\\\\"}'


def test_services_as_mapping_and_dependencies():
    """`services:` may be a mapping; depends_on and aliases resolve."""
    cfg = parse_config({"services": {"checkout": {"depends_on": ["payments-api"], "aliases": ["co"]},
                                     "payments-api": {"namespace": "pay"}}})
    assert cfg.service("co").name == "checkout"
    assert cfg.dependencies() == {"checkout": ["payments-api"], "payments-api": []}
    assert 'namespace="pay"' in cfg.loki_selector(cfg.service("payments-api"))


@pytest.mark.parametrize("data, needle", [
    ({"services": {"a": {"depends_on": ["b"]}}}, "unknown service"),
    ({"services": {"a": {"colour": "red"}}}, "colour"),
    ({"defaults": {"service_label": "bad-label"}}, "service_label"),
    ({"signals": {"x": {"title": "x", "query": "up", "unit": "rps"}}}, "signals.x.query"),
    ({"signals": {"x": {"title": "x", "query": "up{$selector}", "unit": "furlongs"}}}, "unit"),
    ([1, 2], "top level"),
])
def test_invalid_config_names_the_field(data, needle):
    """Each invalid file fails with a ConfigError that names what is wrong."""
    with pytest.raises(ConfigError) as e:
        parse_config(data)
    assert needle in str(e.value)


def test_missing_optional_file_gives_defaults(tmp_path: Path):
    """No sre-bot.yaml is fine: defaults apply."""
    assert load_config(tmp_path / "nope.yaml") == Config()


def test_broken_yaml_is_a_config_error(tmp_path: Path):
    """A YAML syntax error is reported with the file name, not a traceback."""
    p = tmp_path / "sre-bot.yaml"
    p.write_text("services: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(p)


def test_example_config_in_readme_loads():
    """The example sre-bot.yaml shipped in the repo is valid."""
    root = Path(__file__).resolve().parents[2]
    cfg = load_config(root / "sre-bot.example.yaml", required=True)
    assert cfg.services
