"""The model's optional second opinion on the correlator's grouping: merge two incidents, or split one. Shown as
a suggestion in the thread, never applied — the rules' grouping stays until a person acts.

The model sees a brief of each incident (`incidents/briefs.py`: title, services, alerts with fingerprints, the
merge reasons), redacted.
A suggestion survives only if it names incidents that were in the briefs (a split: alerts of that incident), and
its quote is found verbatim in a named incident's brief.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .client import LLM
from .grounding import MIN_QUOTE_CHARS, normalise
from .oneshot import forced_tool_call
from .prompts import load_prompt

__all__ = ["Advice", "AdviceResult", "incident_advice", "ADVICE_TOOL"]

ADVICE_TOOL = "incident_advice"
_TOOL = {
    "name": ADVICE_TOOL,
    "description": "Suggest merging incidents, splitting one, or nothing; each suggestion quotes a brief verbatim.",
    "input_schema": {"type": "object", "required": ["suggestions"], "properties": {"suggestions": {
        "type": "array", "items": {"type": "object", "required": ["kind", "incidents", "reason", "quote"],
                                   "properties": {
                                       "kind": {"type": "string", "enum": ["merge", "split", "none"]},
                                       "incidents": {"type": "array", "items": {"type": "integer"}},
                                       "alerts": {"type": "array", "items": {"type": "string"},
                                                  "description": "split: fingerprints that belong elsewhere"},
                                       "reason": {"type": "string"}, "quote": {"type": "string"}}}}}},
}


@dataclass(frozen=True)
class Advice:
    kind: Literal["merge", "split"]
    incidents: tuple[int, ...]
    alerts: tuple[str, ...]
    reason: str
    quote: str


@dataclass(frozen=True)
class AdviceResult:
    advice: list[Advice]
    dropped: list[str]
    model: str
    prompt_version: str
    tokens: int


def _ground(raw: Any, briefs: Mapping[int, str], fingerprints: Mapping[int, set[str]]
            ) -> tuple[list[Advice], list[str]]:
    out: list[Advice] = []
    dropped: list[str] = []
    items = raw.get("suggestions") if isinstance(raw, dict) else None
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict) or item.get("kind") not in ("merge", "split"):
            continue
        try:
            nums = tuple(dict.fromkeys(int(n) for n in item.get("incidents") or []))
        except (TypeError, ValueError):
            dropped.append("incident numbers that are not numbers")
            continue
        kind, reason = item["kind"], " ".join(str(item.get("reason", "")).split())[:300]
        alerts = tuple(str(a) for a in item.get("alerts") or [])
        if any(n not in briefs for n in nums) or (kind == "merge" and len(nums) < 2) or (
                kind == "split" and (len(nums) != 1 or not alerts or not set(alerts) <= fingerprints[nums[0]])):
            dropped.append(f"{kind} {list(nums)}: incidents or alerts not in the briefs")
            continue
        quote = normalise(str(item.get("quote", ""))).strip("\"'“”‘’ ")
        if len(quote.replace(" ", "")) < MIN_QUOTE_CHARS or not any(quote in normalise(briefs[n]) for n in nums):
            dropped.append(f"{kind} {list(nums)}: quote not found in the briefs")
            continue
        if reason:
            out.append(Advice(kind, nums, alerts, reason, quote))
    return out, dropped


async def incident_advice(llm: LLM, briefs: Mapping[int, str], fingerprints: Mapping[int, set[str]], *,
                          prompts_dir: Path | None = None) -> AdviceResult:
    """Ask once about these incidents (number -> brief, the newest first; number -> its alerts' fingerprints);
    OneShotUnavailable when the model gave nothing usable."""
    prompt = load_prompt("incident_advice", prompts_dir)
    briefs = {n: llm.redactor.redact(text) for n, text in briefs.items()}
    text = "\n\n".join(briefs.values())
    raw, usage = await forced_tool_call(llm, kind="incident_advice", prompt=prompt, tool=_TOOL, text=text)
    advice, dropped = _ground(raw, briefs, fingerprints)
    if llm.metrics is not None and dropped:
        llm.metrics.llm_grounding.labels("incident_advice_dropped").inc(len(dropped))
    return AdviceResult(advice, dropped, llm.model, prompt.ref, usage.input + usage.output)
