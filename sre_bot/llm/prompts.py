"""Prompt templates, loaded from `prompts/*.txt` and rendered with `string.Template`.

A file starts with `# prompt: NAME` and `# version: N` header lines (then comment lines, then the text). The
version goes into the audit with every request, so an answer can always be traced to the prompt that made it.
A missing variable is an error at render time, never a silently empty hole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

from ..errors import ConfigError

__all__ = ["Prompt", "Prompts", "default_prompts_dir", "load_prompt", "PROMPT_NAMES"]

PROMPT_NAMES = ("investigator", "question", "followup", "final_answer", "repair")
_HEADER = re.compile(r"^#\s*(\w+):\s*(.+?)\s*$")


def default_prompts_dir() -> Path:
    from ..resources import prompts_dir

    return prompts_dir()


@dataclass(frozen=True)
class Prompt:
    name: str
    version: str
    text: str

    @property
    def ref(self) -> str:
        return f"{self.name}-v{self.version}"

    def render(self, **variables: object) -> str:
        try:
            return Template(self.text).substitute({k: str(v) for k, v in variables.items()})
        except KeyError as e:
            raise ConfigError(f"prompt {self.ref}: variable ${e.args[0]} was not given") from None


def _parse(path: Path) -> Prompt:
    meta: dict[str, str] = {}
    body: list[str] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if not line.startswith("#"):
            body = lines[i:]
            break
        m = _HEADER.match(line)
        if m:
            meta[m.group(1)] = m.group(2)
    if "version" not in meta:
        raise ConfigError(f"prompt {path}: missing '# version: N' header")
    return Prompt(name=meta.get("prompt", path.stem), version=meta["version"], text="\n".join(body).strip() + "\n")


def load_prompt(name: str, directory: Path | None = None) -> Prompt:
    """One prompt file, from `directory` when it has it, else the shipped one."""
    path = (directory or default_prompts_dir()) / f"{name}.txt"
    if not path.is_file():
        path = default_prompts_dir() / f"{name}.txt"
    if not path.is_file():
        raise ConfigError(f"prompt file {path} is missing")
    return _parse(path)


@dataclass(frozen=True)
class Prompts:
    investigator: Prompt
    question: Prompt
    followup: Prompt
    final_answer: Prompt
    repair: Prompt

    @classmethod
    def load(cls, directory: Path | None = None) -> Prompts:
        d = directory or default_prompts_dir()
        found = {}
        for name in PROMPT_NAMES:
            path = d / f"{name}.txt"
            if not path.is_file():
                raise ConfigError(f"prompt file {path} is missing (set SRE_BOT_PROMPTS_DIR)")
            found[name] = _parse(path)
        return cls(**found)

    @property
    def version(self) -> str:
        return ",".join(p.ref for p in (self.investigator, self.question, self.followup, self.final_answer,
                                        self.repair))
