"""The structured final answer the model must give, as a pydantic model and as the `submit_answer` tool.

The model answers by calling `submit_answer`; its input is validated against `ModelAnswer`. Nothing here is
shown to anyone before `grounding.py` has checked every quote, number and action against the evidence.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ModelQuote", "ModelHypothesis", "ModelTimelineEntry", "ModelAction", "ModelAnswer",
           "ANSWER_TOOL", "answer_tool_definition", "inline_refs"]

ANSWER_TOOL = "submit_answer"


class _M(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ModelQuote(_M):
    evidence_id: str = Field(description="id of the evidence item the text is copied from")
    text: str = Field(description="a verbatim excerpt of that evidence item's text, copied exactly")


class ModelHypothesis(_M):
    service: str | None = Field(None, description="the service that is the likely cause, if one")
    cause: str = Field(description="one sentence: what went wrong")
    confidence: float = Field(ge=0, le=1, description="0..1: how strongly the evidence supports this cause")
    evidence_ids: list[str] = Field(default_factory=list, description="ids of the evidence items it rests on")
    quotes: list[ModelQuote] = Field(default_factory=list, description="verbatim excerpts that show it")


class ModelTimelineEntry(_M):
    at: str = Field(description="time as it appears in the evidence, e.g. '04:02 UTC'")
    text: str
    evidence_id: str | None = None


class ModelAction(_M):
    action: str = Field(description="a name from the action catalog, nothing else")
    args: dict[str, Any] = Field(default_factory=dict)
    reason: str = Field(description="why, in one sentence, citing the evidence")
    evidence_ids: list[str] = Field(default_factory=list)


class ModelAnswer(_M):
    summary: str = Field(description="two or three sentences for the on-call engineer")
    insufficient_evidence: bool = Field(False, description="true when the evidence does not support any cause")
    timeline: list[ModelTimelineEntry] = Field(default_factory=list)
    hypotheses: list[ModelHypothesis] = Field(default_factory=list, description="most likely first, at most 3")
    suggested_actions: list[ModelAction] = Field(default_factory=list)
    unknowns: list[str] = Field(default_factory=list, description="what could not be checked or is still unclear")
    needs_human_check: Literal[True] = True


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """The JSON schema with every local `$ref` replaced by its definition (tool schemas are simpler that way)."""
    defs = schema.get("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return walk(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {k: walk(v) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [walk(x) for x in node]
        return node

    return walk(schema)


def answer_tool_definition() -> dict[str, Any]:
    return {
        "name": ANSWER_TOOL,
        "description": "Give the final answer. Call this exactly once, when you are done investigating. Every quote "
                       "must be copied verbatim from an evidence item; cite evidence ids; propose only catalog "
                       "actions; say insufficient_evidence when nothing supports a cause.",
        "input_schema": inline_refs(ModelAnswer.model_json_schema()),
    }
