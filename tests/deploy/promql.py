"""Which metric names a PromQL expression (or a Grafana variable query) reads, for tests that check the
alert rules and the dashboard only use metrics the bot really exposes.

Not a PromQL parser: strings, label matchers, ranges, grouping clauses and numbers are removed, and what is left
that looks like a name and is not called like a function is a metric name. `tests/deploy/test_metric_names.py`
checks it on known expressions, so a change that breaks it fails there first.
"""

from __future__ import annotations

import re

__all__ = ["metric_names", "label_names", "SCRAPE_SERIES", "TARGET_LABELS"]

# Series Prometheus makes itself for every scrape target: the rules may use them beside the bot's own.
SCRAPE_SERIES = frozenset({"up"})
# Labels every scraped series gets from its target.
TARGET_LABELS = frozenset({"job", "instance"})

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGES = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_OFFSETS = re.compile(r"\boffset\s+-?(?:\d+(?:ms|[smhdwy]))+")
_NUMBERS = re.compile(r"(?<![\w:$])(?:0x[0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)")
_NAME = re.compile(r"(?<![\w:$])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?")
_KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left",
                       "group_right", "inf", "nan", "atan2"})
_LABEL_VALUES = re.compile(r"^\s*label_values\((?P<selector>.*),\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*$", re.S)


def metric_names(expr: str) -> set[str]:
    """The metric names `expr` selects; a Grafana `label_values(selector, label)` query counts its selector."""
    m = _LABEL_VALUES.match(expr)
    if m:
        expr = m.group("selector")
    text = _STRINGS.sub('""', expr)
    text = _MATCHERS.sub(" ", text)
    while _RANGES.search(text):
        text = _RANGES.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    text = _OFFSETS.sub(" ", text)
    text = _NUMBERS.sub(" ", text)
    names = set()
    for name, call in _NAME.findall(text):
        if call or name.lower() in _KEYWORDS:
            continue
        names.add(name)
    return names


_MATCHER_LABEL = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
_GROUPING_LABELS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)")


def label_names(expr: str) -> set[str]:
    """The label names `expr` matches on (`{name="…"}`) or groups by (`by (…)`, `on (…)`, …)."""
    m = _LABEL_VALUES.match(expr)
    if m:
        expr = m.group("selector")
    text = _STRINGS.sub('""', expr)
    names = set()
    for matchers in _MATCHERS.findall(text):
        names.update(_MATCHER_LABEL.findall(matchers))
    for grouped in _GROUPING_LABELS.findall(text):
        names.update(n.strip() for n in grouped.split(",") if n.strip())
    return names
