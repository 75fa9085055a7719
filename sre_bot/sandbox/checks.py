"""The cross-field rules of a scenario, and where its errors are: paths like `services[checkout].signals.cpu`.

The model checks each field; these check references between fields: depends_on, signal names, log
placeholders, alert services and inhibitions, Argo CD app names, the truth's services.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ..config import DEFAULT_SIGNALS

if TYPE_CHECKING:
    from .scenario import Scenario

__all__ = ["reference_errors", "field_path", "PLACEHOLDER_RE", "BUILTIN_PLACEHOLDERS", "PSEUDO_SIGNALS"]

PLACEHOLDER_RE = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")
BUILTIN_PLACEHOLDERS = frozenset({
    "trace_id", "span_id", "request_id", "duration_ms", "duration_s", "ip", "user_id", "order_id", "int", "pod",
    "service", "namespace",
})
PSEUDO_SIGNALS = frozenset({"up"})  # generated and queryable (`up{...}`), not a config signal


def reference_errors(sc: Scenario) -> list[str]:
    """Cross-field checks, each message starting with the path of the field at fault."""
    errs: list[str] = []
    names = [s.name for s in sc.services]
    known = set(names)
    for dup in sorted({n for n in names if names.count(n) > 1}):
        errs.append(f"services[{dup}].name: the service name {dup!r} is used twice")
    signal_names = set(DEFAULT_SIGNALS) | set(sc.signals) | PSEUDO_SIGNALS
    for name in sc.signals:
        if name in DEFAULT_SIGNALS or name in PSEUDO_SIGNALS:
            errs.append(f"signals.{name}: {name!r} is a built-in signal; give the custom signal another name")
    apps: dict[str, str] = {}
    for s in sc.services:
        where = f"services[{s.name}]"
        for d in s.depends_on:
            if d not in known:
                errs.append(f"{where}.depends_on: unknown service {d!r} (known: {', '.join(names)})")
        for sig in s.signals:
            if sig not in signal_names:
                errs.append(f"{where}.signals.{sig}: unknown signal (known: {', '.join(sorted(signal_names))})")
        allowed = BUILTIN_PLACEHOLDERS | set(s.logs.vars)
        for i, t in enumerate(s.logs.templates):
            for field, text in [("message", t.message), *((f"fields.{k}", v) for k, v in t.fields.items())]:
                for m in PLACEHOLDER_RE.finditer(text):
                    if m.group(1) and m.group(1) not in allowed:
                        errs.append(f"{where}.logs.templates[{i}].{field}: unknown placeholder {{{m.group(1)}}} "
                                    "(define it in logs.vars, or use one of "
                                    f"{', '.join(sorted(BUILTIN_PLACEHOLDERS))})")
            if t.start is not None and t.end is not None and t.end <= t.start:
                errs.append(f"{where}.logs.templates[{i}].end: must come after start")
        app = sc.app_name(s)
        if app is not None:
            if app in apps:
                errs.append(f"{where}.argocd.name: app {app!r} is already used by service {apps[app]!r}")
            apps[app] = s.name
    fired = {a.alertname for a in sc.alerts}
    for i, a in enumerate(sc.alerts):
        if a.service is not None and a.service not in known:
            errs.append(f"alerts[{i}].service: unknown service {a.service!r}")
        if a.ends is not None and a.ends <= a.starts:
            errs.append(f"alerts[{i}].ends: must come after starts")
        if a.inhibited_by is not None and (a.inhibited_by not in fired or a.inhibited_by == a.alertname):
            errs.append(f"alerts[{i}].inhibited_by: {a.inhibited_by!r} is not another alert of this scenario")
    if sc.truth is not None:
        errs += _truth_errors(sc, known)
    return errs


def _truth_errors(sc: Scenario, known: set[str]) -> list[str]:
    """The truth names known services, alert references that select an alert, and each alert at most once."""
    from .truth import alert_ref_matches

    assert sc.truth is not None
    errs: list[str] = []
    many = bool(sc.truth.incidents)
    owner: dict[int, str] = {}
    for inc in sc.truth.cases():
        where = f"truth.incidents[{inc.name}]" if many else "truth"
        for s in [inc.root_service, inc.action_service, *inc.affected]:
            if s is not None and s not in known:
                errs.append(f"{where}: unknown service {s!r}")
        for ref in inc.alerts or []:
            hits = [i for i, a in enumerate(sc.alerts) if alert_ref_matches(ref, a.alertname, a.service)]
            if not hits:
                errs.append(f"{where}.alerts: {ref!r} selects no alert of this scenario")
            for i in hits:
                if owner.setdefault(i, inc.name) != inc.name:
                    errs.append(f"{where}.alerts: {ref!r} is already in incident {owner[i]!r}")
    return errs


def field_path(loc: tuple[Any, ...], data: dict[str, Any]) -> str:
    """('services', 2, 'signals') -> 'services[cart].signals' when the item has a name."""
    out = ""
    node: Any = data
    for part in loc:
        if isinstance(part, int):
            name = node[part].get("name") if isinstance(node, list) and part < len(node) and isinstance(
                node[part], dict) else None
            out += f"[{name}]" if isinstance(name, str) and name else f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
        else:
            if str(part).startswith(("function-", "constrained-")):
                continue
            out += ("." if out else "") + str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return out or "(top level)"
