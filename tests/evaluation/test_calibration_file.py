"""SRE_BOT_CALIBRATION: a team's own calibration file is used when it reads, and stops the start with a clear error
when it does not (never an answer that fails halfway)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sre_bot.compose import open_deps
from sre_bot.config import parse_config
from sre_bot.errors import ConfigError
from sre_bot.services.confidence import abstain_threshold, calibration_for, shipped_calibration
from sre_bot.settings import load_settings


@pytest.mark.parametrize(("text", "why"), [
    ("{not json", "is not a calibration file"),
    (json.dumps({"method": "magic", "source": "x", "points": 1, "correct": 1}), "unknown calibration method"),
    (json.dumps({"method": "logistic", "source": "x", "points": 1, "correct": 1, "features": ["a"], "mean": [0],
                 "scale": [1], "coef": [1], "intercept": 0}), "other features"),
])
async def test_a_bad_calibration_file_stops_the_start_with_its_name(tmp_path: Path, text: str, why: str) -> None:
    path = tmp_path / "team-calibration.json"
    path.write_text(text, encoding="utf-8")
    settings = load_settings(None, SRE_BOT_CALIBRATION=str(path))
    with pytest.raises(ConfigError, match=why) as e:
        async with open_deps(settings, config=parse_config({})):
            pass
    assert "SRE_BOT_CALIBRATION" in str(e.value) and str(path) in str(e.value)


async def test_a_missing_file_is_named(tmp_path: Path) -> None:
    settings = load_settings(None, SRE_BOT_CALIBRATION=str(tmp_path / "nope.json"))
    with pytest.raises(ConfigError, match="cannot read .*nope.json"):
        async with open_deps(settings, config=parse_config({})):
            pass


def test_a_teams_file_and_threshold_are_used(tmp_path: Path) -> None:
    shipped = shipped_calibration()
    assert shipped is not None
    own = {**shipped.to_dict(), "source": "our incidents", "abstain_below": 0.3}
    path = tmp_path / "ours.json"
    path.write_text(json.dumps(own), encoding="utf-8")
    cal = calibration_for(load_settings(None, SRE_BOT_CALIBRATION=str(path)))
    assert cal.source == "our incidents" and abstain_threshold(load_settings(None), cal) == 0.3
    # the setting wins over the file's threshold
    assert abstain_threshold(load_settings(None, SRE_BOT_ABSTAIN_BELOW="0.6"), cal) == 0.6
    assert calibration_for(load_settings(None)) is shipped
