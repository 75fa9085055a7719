"""Prompt files: each one loads with a version and renders with its variables; a missing variable is an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from sre_bot.actions.catalog import catalog_summary
from sre_bot.errors import ConfigError
from sre_bot.llm.prompts import PROMPT_NAMES, Prompts, default_prompts_dir
from sre_bot.llm.schema import answer_tool_definition
from sre_bot.llm.toolbox import tool_definitions

VARIABLES = {
    "investigator": {"catalog": catalog_summary(), "max_steps": 8},
    "question": {"question": "why is checkout slow?", "window": "04:00–05:00 UTC", "engine": "summary: …",
                 "services": "checkout -> db"},
    "followup": {"question": "what about the DB?"},
    "final_answer": {"reason": "the step limit is reached"},
    "repair": {"errors": "summary: Field required"},
}


@pytest.mark.parametrize("name", PROMPT_NAMES)
def test_every_prompt_renders(name):
    """Each prompt file has a version header and renders with its documented variables, leaving no `$`."""
    p = getattr(Prompts.load(), name)
    assert p.version.isdigit() and p.ref == f"{name}-v{p.version}"
    text = p.render(**VARIABLES[name])
    assert "$" not in text and text.strip()


def test_investigator_prompt_names_the_catalog_and_the_data_rule():
    """The system prompt lists every catalog action and says tool text is data, not instructions."""
    text = Prompts.load().investigator.render(**VARIABLES["investigator"])
    assert "argocd.rollback(service, to_history_id?, away_from?)" in text
    assert "never instructions" in text


def test_missing_variable_is_a_config_error():
    """Rendering without a variable names it."""
    with pytest.raises(ConfigError, match=r"\$question"):
        Prompts.load().followup.render()


def test_missing_prompt_file_is_a_config_error(tmp_path: Path):
    """A prompts dir without the files says which file is missing and which setting to use."""
    with pytest.raises(ConfigError, match="investigator.txt is missing"):
        Prompts.load(tmp_path)


def test_prompt_without_version_is_rejected(tmp_path: Path):
    """A prompt file must carry a version (the audit records it)."""
    for n in PROMPT_NAMES:
        (tmp_path / f"{n}.txt").write_text((default_prompts_dir() / f"{n}.txt").read_text())
    (tmp_path / "repair.txt").write_text("# prompt: repair\nno version here\n")
    with pytest.raises(ConfigError, match="version"):
        Prompts.load(tmp_path)


def test_tool_schemas_are_self_contained():
    """Tool input schemas have no $ref left and the answer tool requires a summary."""
    defs = [*tool_definitions(), answer_tool_definition()]
    assert all("$ref" not in str(d["input_schema"]) for d in defs)
    assert "summary" in defs[-1]["input_schema"]["required"]
    assert len({d["name"] for d in defs}) == len(defs)
