"""One request that must answer through one tool (`tool_choice` forces it): the shape every small model task uses
(runbook step notes, incident merge advice). Redaction, the LLM exchange log and token metrics as for
investigations; any failure raises `OneShotUnavailable` with a reason a person can read."""

from __future__ import annotations

import asyncio
from typing import Any

from .budget import Usage
from .client import LLM
from .prompts import Prompt

__all__ = ["OneShotUnavailable", "forced_tool_call"]


class OneShotUnavailable(Exception):
    """The model gave no usable answer this time; the message says why."""


async def forced_tool_call(llm: LLM, *, kind: str, prompt: Prompt, tool: dict[str, Any], text: str,
                           max_tokens: int = 1024, timeout_s: float = 60) -> tuple[Any, Usage]:
    """The tool call's `input` (not yet checked: the caller grounds it) and the tokens used."""
    body: dict[str, Any] = {
        "model": llm.model, "max_tokens": min(max_tokens, llm.limits.max_output_tokens),
        "system": [{"type": "text", "text": prompt.text}], "tools": [tool],
        "tool_choice": {"type": "tool", "name": tool["name"]},
        "messages": [{"role": "user", "content": [{"type": "text", "text": text}]}],
    }
    body = llm.redactor.redact_obj(body)
    entry: dict[str, Any] = {"kind": kind, "model": llm.model, "prompt_version": prompt.ref, "request": body}
    usage = Usage()
    import anthropic  # loaded already: an LLM exists only once `open_llm` imported it

    try:
        async with asyncio.timeout(min(llm.limits.deadline_s, timeout_s)):
            resp = await llm.client.messages.create(**body)
    except (anthropic.APIError, TimeoutError, ValueError) as e:
        entry.update(outcome=f"failed: {type(e).__name__}")
        llm.audit.record(entry)
        raise OneShotUnavailable(f"the model did not answer ({type(e).__name__})") from e
    usage.add(resp.usage)
    content = [b.model_dump(mode="json", exclude_none=True) for b in resp.content]
    entry.update(outcome=resp.stop_reason, response=content, usage=resp.usage.model_dump(mode="json"))
    llm.audit.record(entry)
    if llm.metrics is not None:
        for name, n in (("input", usage.input), ("output", usage.output), ("cache_write", usage.cache_write),
                        ("cache_read", usage.cache_read)):
            llm.metrics.llm_tokens.labels(name).inc(n)
    call = next((b for b in content if b.get("type") == "tool_use" and b.get("name") == tool["name"]), None)
    if call is None:
        raise OneShotUnavailable(f"the model did not call {tool['name']}")
    return call.get("input"), usage
