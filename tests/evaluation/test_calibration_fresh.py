"""The shipped calibration is fitted for the scoring code as it is now: CI fails when it is stale.

`sre_bot/evaluation/calibration.json` records a digest of the code that makes the engine's scores and the
calibration's features (`evaluation.calibrate.scoring_digest`: parsed source, so comments and docstrings do not
count). Any change to how candidates are scored changes what a confidence means, so the file must be refitted:

    .venv/bin/python -m benchmarks.nezha_rca      # records the engine inputs of every Nezha question (~15 min)
    .venv/bin/python -m benchmarks.calibrate      # replays them through the current engine, refits, writes the file
"""

from __future__ import annotations

from sre_bot.evaluation.calibrate import scoring_digest
from sre_bot.services.confidence import shipped_calibration

REFIT = ("run `python -m benchmarks.nezha_rca` (if the evidence gathering changed) and then "
         "`python -m benchmarks.calibrate`, and commit sre_bot/evaluation/calibration.json")


def test_the_shipped_calibration_is_fitted_for_the_current_scoring_code() -> None:
    cal = shipped_calibration()
    assert cal is not None, f"sre_bot/evaluation/calibration.json is missing or unreadable: {REFIT}"
    fitted_for = cal.meta.get("engine_digest")
    assert fitted_for == scoring_digest(), (
        f"the shipped calibration was fitted for scoring code {fitted_for}, the code is now {scoring_digest()}: "
        f"its confidences no longer mean what they say. {REFIT}")


def test_the_shipped_calibration_rests_on_real_data_checked_out_of_sample() -> None:
    """Fitted on the library and at least one real dataset, with held-out scores and a threshold recorded."""
    cal = shipped_calibration()
    assert cal is not None
    datasets = cal.meta.get("datasets") or {}
    assert "scenario library" in datasets and any(d.startswith("Nezha") for d in datasets), datasets
    assert cal.points >= 100 and 0 < cal.correct < cal.points
    assert isinstance(cal.meta.get("abstain_below"), float) and 0 < cal.meta["abstain_below"] < 1
    assert cal.meta.get("held_out_brier"), "the method must have been chosen out of sample"
    assert "calibrated on the scenario library" in cal.describe()


def test_the_digest_ignores_comments_and_docstrings_but_not_code() -> None:
    """Only what changes the scores changes the digest."""
    import ast

    from sre_bot.evaluation import calibrate

    src = "'''doc'''\nX = 1  # a comment\ndef f():\n    '''doc'''\n    return X\n"
    same = "'''other doc'''\n\nX = 1\ndef f():\n    return X  # else\n"
    other = "X = 2\ndef f():\n    return X\n"

    def dump(text: str) -> str:
        return ast.dump(calibrate._strip_docstrings(ast.parse(text)))

    assert dump(src) == dump(same) != dump(other)
