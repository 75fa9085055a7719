"""The regression gate: each metric's floor or ceiling, per answerer, from `thresholds.yaml` (or a file given).

    engine:                     # the statistics engine alone (--no-llm, or no ANTHROPIC_API_KEY)
      top1: {min: 0.70}
      false_abstention: {max: 0.15}
    llm:                        # when the model answered
      grounding: {min: 1.0}

A metric the run could not measure (no case of that kind) is reported as skipped, not failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError
from .metrics import METRIC_LABELS

__all__ = ["Check", "load_thresholds", "check_thresholds", "metric_value"]


@dataclass(frozen=True)
class Check:
    metric: str
    value: float | None
    bound: float
    op: str  # ">=" or "<="
    ok: bool

    def describe(self) -> str:
        label = METRIC_LABELS.get(self.metric, self.metric)
        got = "not measured (skipped)" if self.value is None else f"{self.value:.4g}"
        verdict = "ok" if self.ok else "FAILED"
        return f"{verdict}: {label} = {got} (must be {self.op} {self.bound:g})"


def load_thresholds(path: str | Path | None, profile: str) -> dict[str, dict[str, float]]:
    """The `profile` section (engine | llm) of the file, or of the shipped `thresholds.yaml`."""
    try:
        if path is None:
            text = resources.files("sre_bot").joinpath("evaluation", "thresholds.yaml").read_text(encoding="utf-8")
            where = "the shipped thresholds.yaml"
        else:
            text, where = Path(path).read_text(encoding="utf-8"), str(path)
        data = yaml.safe_load(text) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"cannot read thresholds {path or 'thresholds.yaml'}: {e}") from None
    section = data.get(profile) or {}
    if not isinstance(section, dict):
        raise ConfigError(f"{where}: `{profile}` must be a mapping of metric -> {{min: x}} or {{max: x}}")
    out: dict[str, dict[str, float]] = {}
    for metric, bound in section.items():
        if metric not in METRIC_LABELS or not isinstance(bound, dict) or not set(bound) <= {"min", "max"} or not bound:
            raise ConfigError(f"{where}: {profile}.{metric}: expected a known metric with `min` and/or `max` "
                              f"(metrics: {', '.join(METRIC_LABELS)})")
        out[metric] = {k: float(v) for k, v in bound.items()}
    return out


def metric_value(summary: dict[str, Any], metric: str) -> float | None:
    if metric in summary and isinstance(summary[metric], dict):
        return summary[metric].get("value")
    if isinstance(summary.get(metric), (int, float)):
        return float(summary[metric])
    return summary.get("calibration", {}).get(metric)


def check_thresholds(summary: dict[str, Any], thresholds: dict[str, dict[str, float]]) -> list[Check]:
    out = []
    for metric, bound in thresholds.items():
        v = metric_value(summary, metric)
        for key, op in (("min", ">="), ("max", "<=")):
            if key in bound:
                b = bound[key]
                ok = v is None or (v >= b - 1e-9 if key == "min" else v <= b + 1e-9)
                out.append(Check(metric, v, b, op, ok))
    return out
