"""Template variables in runbook steps and remediations: `$service`, `${selector}`, `${step_id.value}`.

The same `$` syntax as the config's signal queries (`sre_bot.querylang.render_template`), so the braces of PromQL
and LogQL selectors need no escaping: `sum(rate(http_requests_total{$selector, code=~"5.."}[5m]))`. `$$` is a
literal `$`; a `$` followed by something that is not a name (`$1` in `label_replace`) stays as it is.

How a value is written depends on where it goes (`Kind`):

    query   PromQL / LogQL text: names escaped for a "..." string; $selector, $container_selector and
            $log_selector are whole matchers / selectors
    url     a health-check URL: each value percent-encoded (a name can never add a path segment or a host)
    raw     Argo CD app names, alert label values, action arguments: the value itself

`${step_id.value}` (braces required) is a value an earlier step produced; only remediation arguments use it.
Pure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from string import Template
from typing import Literal
from urllib.parse import quote

from ..config import Config, ServiceConfig
from ..querylang import quote_value

__all__ = ["Kind", "SERVICE_VARS", "QUERY_ONLY", "identifiers", "render", "service_values", "TemplateProblem"]

Kind = Literal["query", "url", "raw"]

SERVICE_VARS: dict[str, str] = {
    "service": "the service's name",
    "namespace": "its Kubernetes namespace (config, else defaults.namespace)",
    "container": "its container name (config, else the service name)",
    "argocd_app": "its Argo CD application (config argocd_app, else the service name)",
    "selector": 'its request-metric matchers, e.g. service="checkout" (queries only)',
    "container_selector": 'namespace="shop", container="checkout" (queries only)',
    "log_selector": 'its Loki stream selector, e.g. {namespace="shop", app="checkout"} (queries only)',
}
QUERY_ONLY = frozenset({"selector", "container_selector", "log_selector"})


class _Tpl(Template):
    # `$name` as usual; inside braces a dotted `${step.value}` is allowed too
    braceidpattern = r"(?a:[_a-z][_a-z0-9]*(?:\.[_a-z][_a-z0-9]*)?)"
    flags = re.ASCII  # lower-case names only (no IGNORECASE): `$Service` is a typo, not a variable


class TemplateProblem(ValueError):
    """A template that names an unknown variable, or a value that cannot be written where it goes."""


def identifiers(text: str) -> list[str]:
    """The variable names `text` uses, in order (`step.value` for step references); TemplateProblem for a `$`
    that starts like a variable but is not one (`$Service`, `${service`)."""
    for m in _Tpl.pattern.finditer(text):
        if m.group("invalid") is not None:
            nxt = text[m.end("invalid"):m.end("invalid") + 1]
            if nxt.isalpha() or nxt == "{":
                bad = re.match(r"\{?[\w.]*\}?", text[m.end("invalid"):])
                raise TemplateProblem(f"`${bad.group(0) if bad else nxt}` is not a variable "
                                      "(names are lower case: $service, ${step_id.value})")
    return list(dict.fromkeys(_Tpl(text).get_identifiers()))


def _write(value: str, kind: Kind) -> str:
    if kind == "url":
        if value in (".", ".."):
            raise TemplateProblem(f"{value!r} cannot be part of a URL")
        return quote(value, safe="")
    return value


def render(text: str, values: Mapping[str, str], kind: Kind) -> str:
    """`text` with every variable replaced by its value written for `kind`; TemplateProblem for an unknown one."""
    missing = [n for n in identifiers(text) if n not in values]
    if missing:
        raise TemplateProblem(f"no value for ${', $'.join(missing)}")
    if kind != "query":
        bad = [n for n in identifiers(text) if n in QUERY_ONLY]
        if bad:
            raise TemplateProblem(f"${bad[0]} can only be used in a query")
    return _Tpl(text).safe_substitute({k: _write(v, kind) for k, v in values.items()})


def service_values(config: Config, svc: ServiceConfig, kind: Kind) -> dict[str, str]:
    """The service variables as they are written for `kind` (escaped for queries, plain otherwise)."""
    ns = config.namespace_of(svc)
    raw = {"service": svc.name, "namespace": ns, "container": svc.container or svc.name,
           "argocd_app": config.argocd_app(svc)}
    if kind != "query":
        return raw
    out = {k: quote_value(v)[1:-1] for k, v in raw.items()}
    variables = config.variables(svc)
    out.update(selector=variables["selector"], container_selector=variables["container_selector"],
               log_selector=config.loki_selector(svc))
    return out
