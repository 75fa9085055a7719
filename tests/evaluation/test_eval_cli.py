"""`sre-bot eval`: the table, the JSON/Markdown/PNG files, and the regression gate's exit code."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from sre_bot.cli import main

TWO = ["checkout-bad-deploy", "no-cause-quiet"]


@pytest.fixture(autouse=True)
def _keep_logging() -> Iterator[None]:
    """`sre-bot eval` configures logging onto this test's captured stderr: put the previous setup back after."""
    saved, handlers = structlog.get_config(), list(logging.getLogger().handlers)
    yield
    structlog.configure(**saved)
    logging.getLogger().handlers[:] = handlers


def test_eval_prints_the_table_writes_the_report_and_passes(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Exit 0; the table has a row per case and the metrics; eval.json, eval.md and the diagram are written."""
    assert main(["eval", "--no-llm", "--out", str(tmp_path), *TWO]) == 0
    out, err = capsys.readouterr()
    assert "checkout-bad-deploy" in out and "no-cause-quiet" in out and "insufficient evidence" in out
    assert "root service top-1" in out and "grounding" in out and "Regression gate passed" in out
    assert "[1/2] checkout-bad-deploy: ✓" in err
    doc = json.loads((tmp_path / "eval.json").read_text())
    assert doc["summary"]["top1"]["value"] == 1.0 and doc["summary"]["abstention"]["value"] == 1.0
    assert doc["summary"]["grounding"]["value"] == 1.0 and doc["passed"] is True
    assert doc["settings"]["answered by"] == "engine only"
    assert doc["settings"]["thresholds"] == "invariants only (a subset of the library)"
    assert {t["metric"] for t in doc["thresholds"]} == {"grounding", "gaps", "errors"}
    md = (tmp_path / "eval.md").read_text()
    assert "![reliability diagram](eval-reliability.png)" in md and "| checkout-bad-deploy |" in md
    assert (tmp_path / "eval-reliability.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_failed_threshold_exits_1_and_names_it(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A floor the run does not reach fails the gate, naming the metric, its value and the bound."""
    bounds = tmp_path / "t.yaml"
    bounds.write_text("engine:\n  top1: {min: 1.0}\n  cause_kind: {min: 1.01}\n  grounding: {min: 1.0}\n")
    assert main(["eval", "--no-llm", "--out", str(tmp_path), "--thresholds", str(bounds), *TWO]) == 1
    out = capsys.readouterr().out
    assert "Regression gate FAILED" in out and "FAILED: cause kind = 1 (must be >= 1.01)" in out
    assert main(["eval", "--no-llm", "--out", str(tmp_path), "--thresholds", str(bounds), "--no-thresholds",
                 *TWO]) == 0


def test_json_output_and_folder_and_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """--json prints the document; a folder runs its files; an unknown name or bad threshold file exits 2."""
    folder = tmp_path / "lib"
    folder.mkdir()
    from sre_bot.sandbox.scenario import scenario_path

    (folder / "quiet.yaml").write_text(scenario_path("no-cause-quiet").read_text())
    assert main(["eval", "--no-llm", "--json", "--out", str(tmp_path / "o"), str(folder)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [s["name"] for s in doc["scenarios"]] == ["no-cause-quiet"]
    assert main(["eval", "--no-llm", "--out", str(tmp_path), "no-such-scenario"]) == 2
    assert "no scenario 'no-such-scenario'" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("engine:\n  speed: {min: 1}\n")
    assert main(["eval", "--no-llm", "--out", str(tmp_path), "--thresholds", str(bad), *TWO[1:]]) == 2
    assert "expected a known metric" in capsys.readouterr().err


def test_the_shipped_thresholds_gate_top1_grounding_and_abstention() -> None:
    """The CI gate holds floors for top-1, grounding (100%) and abstention, for the engine and the model."""
    from sre_bot.evaluation.thresholds import load_thresholds

    engine = load_thresholds(None, "engine")
    assert engine["grounding"] == {"min": 1.0} and "top1" in engine and "abstention" in engine
    assert engine["false_abstention"]["max"] < 0.5 and engine["errors"] == {"max": 0.0}
    assert load_thresholds(None, "llm")["grounding"] == {"min": 1.0}
