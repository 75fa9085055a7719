"""Helpers for scripting the fake model from what the bot actually sent: evidence ids and their text."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from tests.fakes.anthropic_api import call, tool_use
from tests.fakes.slack_api import FakeSlack

_EVIDENCE = re.compile(r'<evidence id="([^"]+)"[^>]*>\n(.*?)\n</evidence>', re.S)


def evidence_in(body: dict[str, Any]) -> dict[str, str]:
    """Every evidence id in every user message of a request body -> its text as sent."""
    out: dict[str, str] = {}
    for m in body["messages"]:
        if m["role"] != "user":
            continue
        for b in m["content"]:
            texts = [b.get("text", "")] if b.get("type") == "text" else []
            if b.get("type") == "tool_result":
                c = b.get("content")
                texts = [c] if isinstance(c, str) else [x.get("text", "") for x in c or []]
            for t in texts:
                for eid, block in _EVIDENCE.findall(t):
                    out[eid] = block.split("text:\n", 1)[-1]
    return out


def find(body: dict[str, Any], needle: str) -> tuple[str, str]:
    """(evidence id, the line containing `needle`) from what was sent."""
    for eid, text in evidence_in(body).items():
        for line in text.splitlines():
            if needle in line:
                return eid, line.strip()
    raise AssertionError(f"{needle!r} is in no evidence sent: {list(evidence_in(body))}")


def answer(**fields: Any):
    """A submit_answer tool call with sensible defaults."""
    payload = {"summary": "see hypotheses", "hypotheses": [], "needs_human_check": True, **fields}
    return tool_use(call("submit_answer", payload))


async def final_update(fake: FakeSlack, timeout: float = 30) -> dict[str, Any]:
    """The last chat.update once it is the answer (not a "Looking…" progress update)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        done = [c for c in fake.calls("chat.update") if not c.args.get("text", "").startswith("🔎")]
        if done:
            return done[-1].args
        await asyncio.sleep(0.05)
    raise AssertionError(f"no answer posted; calls: {[c.method for c in fake.calls()]}")


def blocks_text(blocks: list[dict]) -> str:
    out = []
    for b in blocks:
        if isinstance(b.get("text"), dict):
            out.append(b["text"]["text"])
        for e in b.get("elements", []):
            label = e.get("text", "")  # a button's label is a text object
            out.append(label if isinstance(label, str) else label.get("text", ""))
    return "\n".join(out)
