"""What a runbook means, checked before it may load: every problem is reported, each with its step and reason.

- a step names a read-only tool from `steps.TOOLS`; one that looks like a shell (`command:`, `tool: kubectl`) or
  like a write (`tool: argocd.rollback`, `method: POST`) is refused, saying so;
- its parameters validate for that tool, its template variables are known and allowed where they are written,
  a `logql` query reads lines, and an `http_check` URL has a literal host under `runbooks.http_allow`;
- its condition parses and reads only values the tool gives; `needs` and `stop` make sense;
- a remediation names a proposable catalog action with arguments that fit it (and a configured webhook),
  whose `${step.value}` references exist;
- `match.hypothesis_kinds` are kinds the engine produces.
Pure: the config is passed in.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, get_args

from pydantic import ValidationError

from ..actions.catalog import CATALOG
from ..analysis.engine import CauseKind
from ..backends.http_check import url_allowed
from ..config import Config
from ..errors import validation_problems
from .conditions import ConditionError, parse_condition
from .model import MatchRule, Remediation, Step
from .steps import SHELL_WORDS, TOOLS, WRITE_WORDS
from .templates import QUERY_ONLY, SERVICE_VARS, TemplateProblem, identifiers

__all__ = ["precheck_step", "check_step", "check_remediation", "check_match", "uses_service", "CAUSE_KINDS"]

CAUSE_KINDS: tuple[str, ...] = get_args(CauseKind)
_TOOL_LIST = ", ".join(TOOLS)
_SHELL_TOOLS = frozenset({"shell", "sh", "bash", "zsh", "exec", "kubectl", "ssh", "powershell", "subprocess"})


def precheck_step(raw: Mapping[str, Any]) -> str | None:
    """Why a step is unsafe or names no tool at all (said before its shape is checked), or None."""
    shell = [k for k in raw if str(k).lower() in SHELL_WORDS]
    if shell:
        return (f"no shell: a step cannot run a command (`{shell[0]}:`); it calls one read-only tool "
                f"({_TOOL_LIST})")
    tool = str(raw.get("tool", "")).strip()
    low = tool.lower()
    if not tool:
        return f"a step needs a `tool` ({_TOOL_LIST})"
    words = re.split(r"[^a-z]+", low)
    if low in SHELL_WORDS or any(w in _SHELL_TOOLS for w in words):
        return f"no shell: `{tool}` runs commands; a step calls one read-only tool ({_TOOL_LIST})"
    if low in CATALOG or any(w in words for w in WRITE_WORDS):
        return (f"`{tool}` changes something, and a step only reads: name the action under `remediation:`, "
                "where it is offered for approval")
    if low not in TOOLS:
        return f"unknown tool `{tool}` (tools: {_TOOL_LIST})"
    params = raw.get("params") or {}
    if isinstance(params, Mapping):
        shell = [k for k in params if str(k).lower() in SHELL_WORDS]
        if shell:
            return f"no shell: a step cannot run a command (`params.{shell[0]}`)"
        method = str(params.get("method", "GET")).upper()
        if method != "GET":
            return f"write-capable: `{tool}` only sends GET, not {method}"
    return None


def _templates(text: str, where: str, kind: str, *, steps: Mapping[str, Step] | None = None) -> Iterator[str]:
    try:
        names = identifiers(text)
    except TemplateProblem as e:
        yield f"{where}: {e}"
        return
    for n in names:
        if "." in n:
            if steps is None:
                yield f"{where}: ${{{n}}} reads a step's value, which only remediation arguments may do"
                continue
            sid, value = n.split(".", 1)
            step = steps.get(sid)
            if step is None:
                yield f"{where}: ${{{n}}} names no step `{sid}`"
            elif value not in TOOLS[step.tool].values:
                yield (f"{where}: ${{{n}}}: step `{sid}` ({step.tool}) gives no value `{value}` "
                       f"(it gives {', '.join(TOOLS[step.tool].values)})")
        elif n not in SERVICE_VARS:
            yield f"{where}: unknown template variable ${n} (variables: ${', $'.join(SERVICE_VARS)})"
        elif kind != "query" and n in QUERY_ONLY:
            yield f"{where}: ${n} can only be used in a query"


def _http_url(url: str, config: Config) -> Iterator[str]:
    literal = url.split("$", 1)[0]
    if "$" in url and not re.match(r"^https?://[^/$?#]+/", url):
        yield f"params.url `{url}`: the host of a health-check URL cannot come from a variable"
        return
    allow = config.runbooks.http_allow
    if not allow:
        yield f"params.url `{url}` is not allowed: no URL is (add a prefix to runbooks.http_allow in the config)"
    elif not url_allowed(literal, allow):
        yield f"params.url `{url}` is not under any prefix in runbooks.http_allow ({', '.join(allow)})"


def check_step(step: Step, earlier: Mapping[str, Step], config: Config) -> Iterator[str]:
    """Every problem with a step whose shape is valid (and that passed `precheck_step`)."""
    spec = TOOLS[step.tool]
    try:
        params = spec.params.model_validate(step.params)
    except ValidationError as e:
        yield f"params: {validation_problems(e)} ({step.tool} takes {', '.join(spec.params.model_fields)})"
        params = None
    if params is not None:
        for name, kind in spec.templated.items():
            text = getattr(params, name)
            if text is not None:
                yield from _templates(text, f"params.{name}", kind)
        if step.tool == "logql" and not re.match(r"^\s*(\{|\$\{?log_selector\b)", getattr(params, "query", "")):
            yield "params.query: a logql step reads log lines: start with a stream selector ({...} or $log_selector)"
        if step.tool == "http_check":
            yield from _http_url(getattr(params, "url", ""), config)
    if step.when is not None:
        try:
            names = parse_condition(step.when).names
        except ConditionError as e:
            yield f"when: {e}"
        else:
            unknown = sorted(names - set(spec.values))
            if unknown:
                yield (f"when: unknown value `{unknown[0]}` ({step.tool} gives {', '.join(spec.values)})")
    elif step.stop:
        yield "stop: true needs a `when` condition (a step without one is never a finding)"
    for need in step.needs:
        before = earlier.get(need)
        if before is None:
            yield f"needs: `{need}` is not an earlier valid step"
        elif before.when is None:
            yield f"needs: `{need}` has no `when` condition, so it is never a finding"


def _strings(obj: Any, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(obj, str):
        yield where, obj
    elif isinstance(obj, Mapping):
        for k, v in obj.items():
            yield from _strings(v, f"{where}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _strings(v, f"{where}[{i}]")


def _dummy(obj: Any) -> Any:
    if isinstance(obj, str):
        return re.sub(r"\$\{[^}]*\}|\$[a-z_][a-z0-9_]*", "x", obj)
    if isinstance(obj, Mapping):
        return {k: _dummy(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_dummy(v) for v in obj]
    return obj


def check_remediation(r: Remediation, steps: Mapping[str, Step], config: Config) -> Iterator[str]:
    spec = CATALOG.get(r.action)
    if spec is None:
        yield f"`{r.action}` is not in the action catalog ({', '.join(n for n, s in CATALOG.items() if s.proposable)})"
        return
    if not spec.proposable:
        yield f"`{r.action}` cannot be offered by a runbook (only a person may ask for it)"
        return
    fields = spec.args.model_fields
    unknown = [k for k in r.args if k not in fields]
    if unknown:
        yield f"{r.action} has no argument `{unknown[0]}` (it takes {', '.join(fields)})"
    for where, text in _strings(r.args, "args"):
        yield from _templates(text, where, "raw", steps=steps)
    if not unknown:
        try:
            spec.args.model_validate(_dummy(dict(r.args)))
        except ValidationError as e:
            yield f"args: {validation_problems(e)}"
    name = r.args.get("name")
    if r.action == "webhook" and isinstance(name, str) and "$" not in name \
            and name not in config.actions.webhooks:
        yield f"webhook `{name}` is not configured (actions.webhooks: {', '.join(config.actions.webhooks) or 'none'})"
    for sid in r.if_found:
        step = steps.get(sid)
        if step is None:
            yield f"if_found: `{sid}` is not a step"
        elif step.when is None:
            yield f"if_found: `{sid}` has no `when` condition, so it is never a finding"


def check_match(m: MatchRule) -> Iterator[str]:
    for k in m.hypothesis_kinds:
        if k not in CAUSE_KINDS:
            yield f"match.hypothesis_kinds: unknown kind `{k}` (kinds: {', '.join(CAUSE_KINDS)})"


def uses_service(steps: list[Step], remediation: list[Remediation]) -> bool:
    """Whether a run needs a service: a tool that reads one, or a service variable anywhere."""
    for s in steps:
        spec = TOOLS[s.tool]
        params = spec.params.model_validate(s.params)
        if spec.needs_service(params):
            return True
        if any(n in SERVICE_VARS for name in spec.templated if (t := getattr(params, name)) for n in identifiers(t)):
            return True
    return any(n in SERVICE_VARS for r in remediation for _, t in _strings(r.args, "") for n in identifiers(t))
