"""Token accounting: a conservative size estimate before a request, the real usage after, and its cost.

The estimate (characters / 3.5, rounded up) errs high for English and JSON, so a request estimated under the
budget is under it. Real counts come back in each response's `usage` and are summed per answer.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

__all__ = ["estimate_tokens", "estimate_request", "Usage", "Prices"]

_CHARS_PER_TOKEN = 3.5


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / _CHARS_PER_TOKEN)


def estimate_request(body: dict[str, Any]) -> int:
    """Estimated input tokens of a Messages API request body (system, tools and messages)."""
    parts = {k: body.get(k) for k in ("system", "tools", "messages")}
    return estimate_tokens(json.dumps(parts, ensure_ascii=False, separators=(",", ":")))


@dataclass(frozen=True)
class Prices:
    """USD per million tokens."""

    input: float = 3.0
    output: float = 15.0
    cache_write: float = 3.75
    cache_read: float = 0.30


@dataclass
class Usage:
    """Tokens of one answer, summed over its requests."""

    requests: int = 0
    input: int = 0  # uncached input tokens
    output: int = 0
    cache_write: int = 0
    cache_read: int = 0

    def add(self, usage: Any) -> None:
        """Add one response's `usage` (an SDK object or a dict)."""
        get = usage.get if isinstance(usage, dict) else lambda k: getattr(usage, k, None)
        self.requests += 1
        self.input += get("input_tokens") or 0
        self.output += get("output_tokens") or 0
        self.cache_write += get("cache_creation_input_tokens") or 0
        self.cache_read += get("cache_read_input_tokens") or 0

    @property
    def total_input(self) -> int:
        return self.input + self.cache_write + self.cache_read

    def cost(self, p: Prices) -> float:
        return (self.input * p.input + self.output * p.output + self.cache_write * p.cache_write
                + self.cache_read * p.cache_read) / 1e6

    def as_dict(self, p: Prices) -> dict[str, Any]:
        return {"requests": self.requests, "input": self.input, "output": self.output,
                "cache_write": self.cache_write, "cache_read": self.cache_read,
                "cost_usd": round(self.cost(p), 6)}

    def describe(self, p: Prices) -> str:
        cached = f" ({self.cache_read:,} cached)" if self.cache_read else ""
        return (f"{self.total_input:,} input{cached} / {self.output:,} output tokens in {self.requests} "
                f"request(s), ${self.cost(p):.4f}")
