"""The bot's own Prometheus metrics, on a registry built by the composition root (no globals)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["Metrics", "CONTENT_TYPE_LATEST"]


@dataclass(frozen=True)
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        object.__setattr__(self, "requests", Counter(
            "sre_bot_requests_total", "Requests handled, by surface and kind.", ["surface", "kind", "outcome"],
            registry=r))
        object.__setattr__(self, "request_seconds", Histogram(
            "sre_bot_request_duration_seconds", "Time to answer a request, by surface and kind.",
            ["surface", "kind"], registry=r, buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)))
        object.__setattr__(self, "backend_seconds", Histogram(
            "sre_bot_backend_request_duration_seconds", "Backend call latency.", ["backend", "operation"],
            registry=r, buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10)))
        object.__setattr__(self, "backend_errors", Counter(
            "sre_bot_backend_errors_total", "Backend call failures, by kind.", ["backend", "kind"], registry=r))
        object.__setattr__(self, "llm_tokens", Counter(
            "sre_bot_llm_tokens_total", "LLM tokens used, by type (input, output, cache_read, cache_write).",
            ["type"], registry=r))
        object.__setattr__(self, "llm_answers", Counter(
            "sre_bot_llm_answers_total", "LLM investigations, by outcome (answered, forced, repaired, fallback_*).",
            ["outcome"], registry=r))
        object.__setattr__(self, "llm_grounding", Counter(
            "sre_bot_llm_grounding_removals_total", "What the grounding check removed or could not verify, by kind.",
            ["kind"], registry=r))
        object.__setattr__(self, "actions", Counter(
            "sre_bot_actions_total", "Executed actions, by catalog name and outcome (succeeded, failed).",
            ["action", "outcome"], registry=r))
        object.__setattr__(self, "action_refusals", Counter(
            "sre_bot_action_refusals_total", "Refused approval clicks, by reason (tampered, unauthorised, …).",
            ["code"], registry=r))
        object.__setattr__(self, "page_followups", Counter(
            "sre_bot_page_followups_total", "Pages acknowledged or resolved with their incident, by provider, event "
            "and outcome (ok, failed).", ["provider", "event", "outcome"], registry=r))
        object.__setattr__(self, "investigations", Gauge(
            "sre_bot_investigations", "Investigations of this process now, by state (running, waiting for a slot).",
            ["state"], registry=r))

    # attributes created in __post_init__ (declared for type checkers)
    requests: Counter = field(init=False, repr=False)
    request_seconds: Histogram = field(init=False, repr=False)
    backend_seconds: Histogram = field(init=False, repr=False)
    backend_errors: Counter = field(init=False, repr=False)
    llm_tokens: Counter = field(init=False, repr=False)
    llm_answers: Counter = field(init=False, repr=False)
    llm_grounding: Counter = field(init=False, repr=False)
    actions: Counter = field(init=False, repr=False)
    action_refusals: Counter = field(init=False, repr=False)
    page_followups: Counter = field(init=False, repr=False)
    investigations: Gauge = field(init=False, repr=False)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
