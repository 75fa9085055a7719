"""The condition language of `when:` and the template variables: parsed safely, evaluated deterministically."""

from __future__ import annotations

import pytest

from sre_bot.config import Config, ServiceConfig
from sre_bot.runbooks.conditions import ConditionError, parse_condition
from sre_bot.runbooks.templates import TemplateProblem, identifiers, render, service_values


@pytest.mark.parametrize("text, values, matched", [
    ("value > 0.05", {"value": 0.16}, True),
    ("value > 0.05", {"value": 0.01}, False),
    ("count > 0 and limit_hit", {"count": 3, "limit_hit": True}, True),
    ('sync_status != "Synced" or health != "Healthy"', {"sync_status": "Synced", "health": "Degraded"}, True),
    ('"KubePodCrashLooping" in alertnames', {"alertnames": ["KubePodCrashLooping"]}, True),
    ('health not in ["Healthy", "Progressing"]', {"health": "Degraded"}, True),
    ("max > 1.5 * first", {"max": 200.0, "first": 40.0}, True),
    ("-value < 0", {"value": 2}, True),
    ("not ok", {"ok": False}, True),
    ("10 < value <= 20", {"value": 20}, True),
    ("ok == true", {"ok": True}, True),
])
def test_conditions_evaluate_as_written(text, values, matched):
    """Comparisons, and/or/not, `in`, chained comparisons and arithmetic give the expected answer."""
    assert parse_condition(text).evaluate(values).matched is matched


def test_no_data_is_never_a_finding():
    """A value with no data makes its comparison unknown, unknown never matches, and SQL logic carries it."""
    c = parse_condition("value > 0.05")
    verdict = c.evaluate({"value": None})
    assert not verdict.matched and verdict.unknown == ("value",)
    assert parse_condition("value > 1 or count > 0").evaluate({"value": None, "count": 2}).matched
    assert not parse_condition("value > 1 and count > 0").evaluate({"value": None, "count": 2}).matched
    assert not parse_condition("not (value > 1)").evaluate({"value": None}).matched


@pytest.mark.parametrize("text", [
    '__import__("os").system("id")', "value.real > 1", "values[0] > 1", "(lambda: 1)() == 1",
    "[x for x in y]", "value ** 2 > 1", "value > 1 if ok else 0", "f'{value}' == '1'", "value @ 2",
    "a := 1", "", "value >",
])
def test_anything_but_the_small_grammar_is_refused(text):
    """Calls, attributes, subscripts, lambdas, comprehensions, powers and syntax errors never parse."""
    with pytest.raises(ConditionError):
        parse_condition(text)


def test_bad_evaluations_are_errors_not_guesses():
    """Comparing a string with a number, dividing by zero or testing a number for truth is a ConditionError."""
    with pytest.raises(ConditionError, match="cannot compare"):
        parse_condition("health > 3").evaluate({"health": "Healthy"})
    with pytest.raises(ConditionError, match="division by zero"):
        parse_condition("value / first > 2").evaluate({"value": 1, "first": 0})
    with pytest.raises(ConditionError, match="not true or false"):
        parse_condition("count").evaluate({"count": 3})


def test_names_are_what_the_condition_reads():
    """`names` lists the values read (true/false are constants), so the loader can check them."""
    assert parse_condition("value > 1 and ok == true and x in [1, 2]").names == {"value", "ok", "x"}


def test_templates_escape_values_for_where_they_go():
    """A service name is escaped inside a query, percent-encoded in a URL, and written as is elsewhere."""
    cfg = Config(services=[ServiceConfig(name="check\"out", namespace="shop")])
    svc = cfg.service('check"out')
    q = render('sum(rate(x{$selector, code=~"5.."}[5m])) $$ $1', service_values(cfg, svc, "query"), "query")
    assert q == 'sum(rate(x{service="check\\"out", code=~"5.."}[5m])) $ $1'
    url = render("https://status.example.com/health/$service", service_values(cfg, svc, "url"), "url")
    assert url == "https://status.example.com/health/check%22out"
    assert render("$argocd_app", service_values(cfg, svc, "raw"), "raw") == 'check"out'


def test_template_mistakes_are_named():
    """Unknown names, names with capitals, a selector in a URL and a missing value are all refused."""
    assert identifiers("${step.service} $namespace") == ["step.service", "namespace"]
    with pytest.raises(TemplateProblem, match=r"\$Service"):
        identifiers("$Service")
    with pytest.raises(TemplateProblem, match="only be used in a query"):
        render("https://x/$selector", {"selector": "a"}, "url")
    with pytest.raises(TemplateProblem, match="no value"):
        render("$service", {}, "raw")
    with pytest.raises(TemplateProblem):
        render("https://x/$service", {"service": ".."}, "url")
