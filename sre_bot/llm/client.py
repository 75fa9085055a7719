"""The model client, built once by the composition root: `open_llm(settings, config)` yields an `LLM` or None.

None means no ANTHROPIC_API_KEY: every answer then comes from the statistics engine alone, and says so. Retries on
429, 529 and 5xx are the SDK's own (bounded by SRE_BOT_LLM_MAX_RETRIES, exponential backoff honouring
retry-after); after them the caller falls back to the engine.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..config import Config
from ..metrics import Metrics
from ..settings import Settings
from .audit import Audit
from .budget import Prices
from .conversation import Conversations
from .prompts import Prompts
from .redact import Redactor

if TYPE_CHECKING:  # the SDK takes about a second to import: only a process with a key pays for it (`open_llm`)
    import anthropic

__all__ = ["LLM", "Limits", "open_llm", "check_model"]


@dataclass(frozen=True)
class Limits:
    max_steps: int = 8
    deadline_s: float = 90.0
    max_output_tokens: int = 4096
    input_budget: int = 60000
    tool_result_tokens: int = 2500


@dataclass(frozen=True)
class LLM:
    client: anthropic.AsyncAnthropic
    model: str
    prompts: Prompts
    redactor: Redactor
    limits: Limits = field(default_factory=Limits)
    prices: Prices = field(default_factory=Prices)
    audit: Audit = field(default_factory=Audit)
    conversations: Conversations = field(default_factory=Conversations)
    metrics: Metrics | None = None
    max_retries: int = 2


@asynccontextmanager
async def open_llm(settings: Settings, config: Config, metrics: Metrics | None = None) -> AsyncIterator[LLM | None]:
    s = settings
    if s.anthropic_api_key is None:
        yield None
        return
    import anthropic

    prompts = Prompts.load(s.prompts_dir)
    redactor = Redactor(extra_patterns=config.llm.redact, redact_emails=s.llm_redact_emails,
                        redact_ips=s.llm_redact_ips)
    client = anthropic.AsyncAnthropic(
        api_key=s.anthropic_api_key.get_secret_value(),
        base_url=str(s.anthropic_base_url).rstrip("/") if s.anthropic_base_url else None,
        max_retries=s.llm_max_retries, timeout=s.llm_request_timeout_s,
    )
    try:
        yield LLM(
            client=client, model=s.anthropic_model, prompts=prompts, redactor=redactor, metrics=metrics,
            limits=Limits(max_steps=s.llm_max_steps, deadline_s=s.llm_deadline_s,
                          max_output_tokens=s.llm_max_output_tokens, input_budget=s.llm_input_budget_tokens,
                          tool_result_tokens=s.llm_tool_result_tokens),
            prices=Prices(input=s.llm_price_input, output=s.llm_price_output, cache_write=s.llm_price_cache_write,
                          cache_read=s.llm_price_cache_read),
            audit=Audit(path=s.llm_audit_path), max_retries=s.llm_max_retries,
        )
    finally:
        await client.close()


async def check_model(settings: Settings) -> tuple[bool, str]:
    """Whether the key works and the model exists (`GET /v1/models/{id}`: no tokens spent), said plainly."""
    assert settings.anthropic_api_key is not None
    import anthropic

    async with anthropic.AsyncAnthropic(
            api_key=settings.anthropic_api_key.get_secret_value(), max_retries=0, timeout=10,
            base_url=str(settings.anthropic_base_url).rstrip("/") if settings.anthropic_base_url else None) as c:
        try:
            m = await c.models.retrieve(settings.anthropic_model)
        except anthropic.AuthenticationError:
            return False, "ANTHROPIC_API_KEY was refused (401): check the key"
        except anthropic.NotFoundError:
            return False, f"model {settings.anthropic_model!r} not found: set ANTHROPIC_MODEL to a current model"
        except anthropic.APIStatusError as e:
            return False, f"the Anthropic API answered {e.status_code}"
        except anthropic.APIError:
            return False, "the Anthropic API could not be reached"
    return True, f"key works; model {m.id}"
