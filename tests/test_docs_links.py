"""The README and docs/ stay true to the tree: links resolve, and every command, verb and setting they name exists.

Checked in README.md and docs/*.md:
- every relative link (and image) points to an existing file, and a `#fragment` into a Markdown file names one of its
  headings (GitHub's anchor rules);
- every `sre-bot <subcommand>` written in code (inline or fenced) is a subcommand of the CLI parser, and a second word
  is one of its sub-subcommands where it has them (`sre-bot audit export`);
- every `/sre <verb>` is in the verb registry;
- every `SRE_BOT_*` or `*_URL` variable is a field of `Settings`;
- docs/configuration.md's environment table lists every `Settings` field, in order, with its default, and is what
  `docs/settings_table.py` prints;
- the README stays under 300 lines.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
from pathlib import Path

import pytest

from sre_bot.cli.main import _parser
from sre_bot.services.commands import REGISTRY
from sre_bot.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_FENCE = re.compile(r"^(```|~~~)")
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_INLINE_CODE = re.compile(r"(`+)(.+?)\1")
_CLI = re.compile(r"(?:^|[\s(/`])sre-bot((?:\s+[a-z][a-z-]*){1,2})")
_VERB = re.compile(r"(?<![\w/])/sre\s+([a-z][a-z_-]*[a-z])")
_ENV = re.compile(r"\b(SRE_BOT_[A-Z0-9_]*[A-Z0-9]|[A-Z][A-Z0-9_]*_URL)\b")


def _prose_and_code(text: str) -> tuple[str, list[str]]:
    """The text outside fenced blocks (for links and headings), and every piece of code: fenced blocks, indented
    blocks and inline spans."""
    prose: list[str] = []
    code: list[str] = []
    fenced = False
    for line in text.splitlines():
        if _FENCE.match(line.strip()):
            fenced = not fenced
            continue
        if fenced or line.startswith("    ") and not line.lstrip().startswith(("-", "|", "*")):
            code.append(line)
        else:
            prose.append(line)
            code.extend(m.group(2) for m in _INLINE_CODE.finditer(line))
    return "\n".join(prose), code


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, inline markup and punctuation dropped, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text
    text = text.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    prose, _ = _prose_and_code(path.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    out: set[str] = set()
    for line in prose.splitlines():
        m = re.match(r"^#{1,6}\s+(.+?)\s*#*\s*$", line)
        if not m:
            continue
        slug = _slug(m.group(1))
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def _doc_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("doc", DOCS, ids=_doc_id)
def test_every_relative_link_resolves(doc: Path) -> None:
    """Each relative link or image in a doc points to a file of the tree, and its #fragment to a heading there."""
    prose, _ = _prose_and_code(doc.read_text(encoding="utf-8"))
    prose = _INLINE_CODE.sub("", prose)
    broken = []
    for target in _LINK.findall(prose):
        if re.match(r"^[a-z][a-z+.-]*:", target):  # https:, mailto:
            continue
        path_part, _, fragment = target.partition("#")
        dest = (doc.parent / path_part).resolve() if path_part else doc
        if not dest.exists():
            broken.append(f"{target}: no such file {dest.relative_to(ROOT) if dest.is_relative_to(ROOT) else dest}")
            continue
        if fragment and dest.suffix == ".md" and fragment not in _anchors(dest):
            broken.append(f"{target}: no heading #{fragment} in {dest.relative_to(ROOT)}")
    assert not broken, "\n".join(broken)


def _subcommands() -> dict[str, set[str] | None]:
    """The parser's subcommands, each with its own subcommands (None when it takes none)."""
    def choices(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                return dict(action.choices)
        return {}

    return {name: (set(choices(sub)) or None) for name, sub in choices(_parser()).items()}


@pytest.mark.parametrize("doc", DOCS, ids=_doc_id)
def test_every_cli_command_named_exists(doc: Path) -> None:
    """`sre-bot <command> [<subcommand>]` in a doc's code is a command of the CLI parser."""
    commands = _subcommands()
    _, code = _prose_and_code(doc.read_text(encoding="utf-8"))
    unknown = set()
    for piece in code:
        for m in _CLI.finditer(piece):
            words = m.group(1).split()
            sub = commands.get(words[0], False)
            if sub is False:
                unknown.add(f"sre-bot {words[0]}")
            elif sub is not None and len(words) > 1 and words[1] not in sub:
                unknown.add(f"sre-bot {words[0]} {words[1]}")
    assert not unknown, f"not in the CLI parser: {sorted(unknown)}"


@pytest.mark.parametrize("doc", DOCS, ids=_doc_id)
def test_every_sre_verb_named_exists(doc: Path) -> None:
    """`/sre <verb>` anywhere in a doc is a verb of the registry."""
    unknown = {v for v in _VERB.findall(doc.read_text(encoding="utf-8")) if v not in REGISTRY}
    assert not unknown, f"not in REGISTRY ({', '.join(REGISTRY.names)}): {sorted(unknown)}"


def _env_names() -> list[str]:
    return [str(f.validation_alias) for f in Settings.model_fields.values()]


@pytest.mark.parametrize("doc", DOCS, ids=_doc_id)
def test_every_setting_named_exists(doc: Path) -> None:
    """Every `SRE_BOT_*` and `*_URL` variable a doc names is a field of Settings."""
    known = set(_env_names())
    unknown = set(_ENV.findall(doc.read_text(encoding="utf-8"))) - known
    assert not unknown, f"not in sre_bot/settings.py: {sorted(unknown)}"


def _shown_default(value: object) -> str:
    if value is None or value == {}:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def test_configuration_table_lists_every_setting_with_its_default() -> None:
    """docs/configuration.md's environment table is Settings, field by field: name, order and default."""
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    section = text.split("## Environment variables", 1)[1].split("\n## ", 1)[0]
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in section.splitlines()
            if line.startswith("| `")]
    listed = [(r[0].strip("`"), r[1].strip("`")) for r in rows]
    expected = [(str(f.validation_alias), _shown_default(f.get_default(call_default_factory=True)))
                for f in Settings.model_fields.values()]
    assert listed == expected


def test_configuration_table_is_the_generated_one() -> None:
    """The environment table in docs/configuration.md is exactly what `docs/settings_table.py` prints."""
    spec = importlib.util.spec_from_file_location("settings_table", ROOT / "docs" / "settings_table.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert module.table() in text, "regenerate it: .venv/bin/python docs/settings_table.py"


def test_readme_stays_short() -> None:
    """The README is an entry point under 300 lines; the reference lives in docs/."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines < 300, f"README.md has {lines} lines"
