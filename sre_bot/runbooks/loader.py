"""Runbook files in, checked runbooks out: `check_runbooks` lists every problem (file, step, reason);
`load_runbooks` refuses to load anything when there is one.

    runbooks/high-error-rate.yaml: step `recent_deploy`: when: unknown value `minutes` (argocd_app gives ...)
    runbooks/unsafe.yaml: step `clean`: no shell: a step cannot run a command (`command:`); ...

A path is a folder (its `*.yaml` / `*.yml`, not recursive) or one file. Two runbooks with the same name, YAML that
does not parse, and a file that is not a mapping are problems too.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml
from pydantic import ValidationError

from ..backends.http_check import HttpCheckBackend
from ..config import Config
from ..errors import ConfigError
from ..metrics import Metrics
from .checks import check_match, check_remediation, check_step, precheck_step, uses_service
from .library import RunbookLibrary
from .model import MatchRule, Remediation, Runbook, Step

__all__ = ["Problem", "runbook_files", "parse_runbook", "check_runbooks", "load_runbooks", "build_library"]


@dataclass(frozen=True)
class Problem:
    file: str
    step: str | None
    reason: str

    def __str__(self) -> str:
        where = f"step `{self.step}`: " if self.step else ""
        return f"{self.file}: {where}{self.reason}"


def runbook_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ConfigError(f"runbooks: {path} is neither a folder nor a file")
    return sorted(p for p in path.iterdir() if p.is_file() and p.suffix in (".yaml", ".yml"))


def _step_name(raw: Any, index: int) -> str:
    sid = raw.get("id") if isinstance(raw, Mapping) else None
    return str(sid) if isinstance(sid, str) and sid else f"#{index + 1}"


def _shape(data: Mapping[str, Any], raw_steps: list[Any], skip: set[int]) -> list[tuple[str | None, str]]:
    """(step, reason) for every shape error pydantic finds, minus steps already refused by the precheck."""
    try:
        Runbook.model_validate(data)
    except ValidationError as e:
        out: list[tuple[str | None, str]] = []
        for err in e.errors():
            loc = list(err.get("loc", ()))
            msg = str(err.get("msg", "")).removeprefix("Value error, ")
            if loc[:1] == ["steps"] and len(loc) > 1 and isinstance(loc[1], int):
                if loc[1] in skip:
                    continue
                field = ".".join(str(p) for p in loc[2:]) or "step"
                out.append((_step_name(raw_steps[loc[1]], loc[1]), f"{field}: {msg}"))
            else:
                out.append((None, f"{'.'.join(str(p) for p in loc) or 'runbook'}: {msg}"))
        return out
    return []


def parse_runbook(data: Any, *, source: str, config: Config, digest: str = "") -> tuple[Runbook | None,
                                                                                         list[Problem]]:
    """The runbook in `data` (parsed YAML), checked; None and the problems when there is any."""
    if not isinstance(data, Mapping):
        return None, [Problem(source, None, "the top level must be a mapping (name, title, steps, ...)")]
    steps_value = data.get("steps")
    raw_steps: list[Any] = steps_value if isinstance(steps_value, list) else []
    problems: list[Problem] = []
    unsafe: set[int] = set()
    for i, raw in enumerate(raw_steps):
        why = precheck_step(raw) if isinstance(raw, Mapping) else "a step must be a mapping (id, title, tool, ...)"
        if why:
            unsafe.add(i)
            problems.append(Problem(source, _step_name(raw, i), why))
    problems += [Problem(source, s, r) for s, r in _shape(data, raw_steps, unsafe)]
    steps: dict[str, Step] = {}
    ids: set[str] = set()
    for i, raw in enumerate(raw_steps):
        name = _step_name(raw, i)
        if name in ids:
            problems.append(Problem(source, name, f"the id `{name}` is used by an earlier step"))
        ids.add(name)
        if i in unsafe:
            continue
        try:
            step = Step.model_validate(raw)
        except ValidationError:
            continue  # reported by `_shape`
        problems += [Problem(source, step.id, r) for r in check_step(step, steps, config)]
        steps.setdefault(step.id, step)
    remediation = []
    raw_remediation = data.get("remediation")
    for i, raw in enumerate(raw_remediation if isinstance(raw_remediation, list) else []):
        try:
            r = Remediation.model_validate(raw)
        except ValidationError:
            continue
        remediation.append(r)
        problems += [Problem(source, None, f"remediation[{i}] {r.action}: {p}")
                     for p in check_remediation(r, steps, config)]
    with contextlib.suppress(ValidationError):  # reported by `_shape`
        problems += [Problem(source, None, p) for p in check_match(MatchRule.model_validate(data.get("match") or {}))]
    if problems:
        order = {_step_name(raw, i): i for i, raw in reversed(list(enumerate(raw_steps)))}
        return None, sorted(problems, key=lambda p: order.get(p.step, len(order)) if p.step else len(order) + 1)
    rb = Runbook.model_validate(data)
    return rb.model_copy(update={"source": source, "digest": digest,
                                 "needs_service": uses_service(rb.steps, rb.remediation)}), []


def _read(path: Path, config: Config) -> tuple[Runbook | None, list[Problem]]:
    source = str(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        return None, [Problem(source, None, f"cannot be read: {e.strerror or e}")]
    try:
        data = yaml.safe_load(raw.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        return None, [Problem(source, None, f"not valid YAML: {' '.join(str(e).split())}")]
    return parse_runbook(data, source=source, config=config, digest=hashlib.sha256(raw).hexdigest()[:12])


def check_runbooks(path: Path, config: Config) -> tuple[list[Runbook], list[Problem]]:
    """Every runbook under `path` that is valid, and every problem found (all files are checked)."""
    good: list[Runbook] = []
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for f in runbook_files(path):
        rb, found = _read(f, config)
        problems += found
        if rb is None:
            continue
        if rb.name in seen:
            problems.append(Problem(str(f), None, f"the name `{rb.name}` is already used by {seen[rb.name]}"))
            continue
        seen[rb.name] = str(f)
        good.append(rb)
    return good, problems


def load_runbooks(path: Path, config: Config) -> dict[str, Runbook]:
    """The runbooks under `path` by name; ConfigError listing every problem when any file has one."""
    good, problems = check_runbooks(path, config)
    if problems:
        lines = "\n".join(f"  {p}" for p in problems)
        raise ConfigError(f"invalid runbooks in {path} ({len(problems)} problem(s); nothing loaded):\n{lines}\n"
                          f"Check them with: sre-bot runbook check {path}")
    return {rb.name: rb for rb in good}


def build_library(config: Config, client: httpx.AsyncClient, metrics: Metrics | None = None) -> RunbookLibrary:
    """What the bot holds: the configured folder's runbooks (ConfigError if any is invalid) and, with
    `runbooks.http_allow`, the health-check client over the shared `client`."""
    rc = config.runbooks
    http = HttpCheckBackend(client, allow=rc.http_allow, timeout=rc.http_timeout, max_bytes=rc.http_max_bytes,
                            metrics=metrics) if rc.http_allow else None
    if rc.dir is None:
        return RunbookLibrary(http=http)
    return RunbookLibrary(load_runbooks(rc.dir, config), http=http, source=str(rc.dir))
