"""Safe building blocks for PromQL and LogQL text.

A service name interpolated into a query must never break or widen it: values are always written as
double-quoted strings with `\\`, `"` and control characters escaped (PromQL and LogQL share Go's string syntax).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from string import Template

__all__ = ["quote_value", "matchers", "selector", "render_template", "TEMPLATE_VARS", "LABEL_NAME_RE",
           "regex_escape", "regex_matcher"]

LABEL_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
TEMPLATE_VARS = ("selector", "container_selector", "service", "namespace", "container")

_RE2_META = frozenset("\\.+*?()|[]{}^$")
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def quote_value(value: str) -> str:
    """`value` as a double-quoted PromQL/LogQL string literal."""
    return '"' + "".join(_ESCAPES.get(c, c) for c in value) + '"'


def matchers(labels: Mapping[str, str]) -> str:
    """`{a: x, b: y}` -> `a="x", b="y"` (equality matchers, label names validated, values escaped)."""
    parts = []
    for name, value in labels.items():
        if not LABEL_NAME_RE.match(name):
            raise ValueError(f"invalid label name {name!r}")
        parts.append(f"{name}={quote_value(value)}")
    return ", ".join(parts)


def selector(labels: Mapping[str, str]) -> str:
    """A full stream/series selector: `{a="x", b="y"}`."""
    return "{" + matchers(labels) + "}"


def render_template(template: str, variables: Mapping[str, str]) -> str:
    """Substitute `$name` / `${name}` variables; unknown `$` sequences (e.g. `$1` in label_replace) stay."""
    return Template(template).safe_substitute(variables)


def regex_escape(value: str) -> str:
    """`value` as an RE2 regular expression matching exactly it (Go's `regexp.QuoteMeta`: `\\.+*?()|[]{}^$`)."""
    return "".join("\\" + c if c in _RE2_META else c for c in value)


def regex_matcher(label: str, values: list[str] | tuple[str, ...]) -> str:
    """`label=~"a|b|c"`: a matcher selecting exactly `values` (each escaped, sorted, deduplicated; Prometheus
    anchors the regex at both ends)."""
    if not LABEL_NAME_RE.match(label):
        raise ValueError(f"invalid label name {label!r}")
    if not values:
        raise ValueError("a regex matcher needs at least one value")
    return f"{label}=~{quote_value('|'.join(regex_escape(v) for v in sorted(set(values))))}"
