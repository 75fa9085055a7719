"""One confidence everywhere: the probability that a hypothesis is the root cause.

The engine ranks candidates with its own scores; what a person reads is that ranking mapped through a calibration
fitted on real ground truth (`analysis/calibration.py`, fitted by `python -m benchmarks.calibrate`): the scenario
library and the public Nezha fault-injection days, chosen and checked out of sample. Slack, the console, `--json`,
the audit and the feedback records all carry this one number as `confidence`; the engine's own number stays beside
it as `engine_confidence`.

The calibration shipped with the package is `sre_bot/evaluation/calibration.json`; SRE_BOT_CALIBRATION names a file
of a team's own. An answer abstains ("insufficient evidence") when its top hypothesis's probability is below
SRE_BOT_ABSTAIN_BELOW, or, when that is unset, below the threshold the calibration was shipped with.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path

from ..analysis.calibration import Calibration
from ..errors import ConfigError
from ..settings import Settings

__all__ = ["shipped_calibration", "calibration_for", "abstain_threshold", "DEFAULT_ABSTAIN_BELOW", "SHOWN_FLOOR"]

DEFAULT_ABSTAIN_BELOW = 0.3  # only when neither the setting nor the calibration names a threshold
SHOWN_FLOOR = 0.05  # a runner-up below this probability is not shown as a hypothesis


@lru_cache(maxsize=1)
def shipped_calibration() -> Calibration | None:
    """The calibration shipped with the package; None when absent or unreadable (answers then say so)."""
    try:
        text = resources.files("sre_bot").joinpath("evaluation", "calibration.json").read_text(encoding="utf-8")
        return Calibration.from_dict(json.loads(text))
    except (OSError, ValueError, KeyError, TypeError):
        return None


@lru_cache(maxsize=8)
def _from_file(path: str) -> Calibration:
    try:
        return Calibration.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
    except OSError as e:
        raise ConfigError(f"SRE_BOT_CALIBRATION: cannot read {path}: {e.strerror or e}") from None
    except (ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"SRE_BOT_CALIBRATION: {path} is not a calibration file: {e}") from None


def calibration_for(settings: Settings) -> Calibration:
    """The team's file when SRE_BOT_CALIBRATION names one, else the shipped calibration, else the identity."""
    if settings.calibration_file is not None:
        return _from_file(str(settings.calibration_file))
    return shipped_calibration() or Calibration.identity("no calibration file")


def abstain_threshold(settings: Settings, cal: Calibration) -> float:
    if settings.abstain_below is not None:
        return settings.abstain_below
    shipped = cal.meta.get("abstain_below")
    return float(shipped) if isinstance(shipped, int | float) else DEFAULT_ABSTAIN_BELOW
