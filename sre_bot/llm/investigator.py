"""The tool-use loop: Claude investigates with read-only tools over the engine's findings and drafts an answer.

Bounded in every direction, and none of the bounds ends in an exception shown to the user:
- at most `max_steps` requests; the last one forces `submit_answer` (tool_choice), so the model must answer;
- a call identical or near-identical (same tool, same arguments after normalising case, spaces and defaults) to
  an earlier one is refused with a message to the model instead of being run again;
- each tool result has a token cap (oversized results are summarised, see `evidence_text.py`); when the request
  nears the input budget, or the wall clock nears the deadline, the next step is the forced final answer;
- a final answer that does not validate gets one repair attempt; then `LLMUnavailable`, and the caller shows
  the engine's answer. API errors after the SDK's bounded retries, and the hard deadline, end the same way.
Tool calls of one step run concurrently. Every request is redacted as a whole just before it is sent, and
recorded in the audit with the model, the prompt version and the token usage.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pydantic import ValidationError

from ..actions.catalog import catalog_summary
from ..analysis.engine import DEPLOY_LOOKBACK_S
from ..deps import Deps
from ..errors import validation_problems
from ..investigation import Investigation
from ..logging import get_logger
from ..models import Evidence
from .budget import Prices, Usage, estimate_request
from .client import LLM
from .conversation import Conversation
from .evidence_text import render_evidence
from .grounding import GroundedAnswer, ground
from .schema import ANSWER_TOOL, ModelAnswer, answer_tool_definition
from .toolbox import ToolContext, ToolInputError, parse_call, tool_definitions

__all__ = ["LLMResult", "LLMUnavailable", "run_llm_investigation", "Progress"]

log = get_logger(__name__)

Progress = Callable[[str], Awaitable[None]]
ENGINE_EVIDENCE_SHOWN = 16


class LLMUnavailable(Exception):
    """The model gave no usable answer; `reason` is said to the user above the engine's answer."""

    def __init__(self, reason: str, *, kind: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


@dataclass
class LLMResult:
    answer: GroundedAnswer
    usage: Usage
    steps: int
    tools_called: list[str]
    model: str
    prompt_version: str
    ended: str  # answered | forced (step cap, budget, deadline) | repaired
    refused_calls: int
    summarised_results: int
    conversation: Conversation
    evidence_count: int = 0
    prices: Prices = field(default_factory=Prices)


def _norm(v: Any) -> Any:
    if isinstance(v, str):
        return re.sub(r"\s+", "", v.lower())[:2000]
    if isinstance(v, dict):
        return {k: _norm(x) for k, x in sorted(v.items()) if x is not None}
    if isinstance(v, list):
        return [_norm(x) for x in v]
    return v


def _signature(name: str, args: Any) -> str:
    dumped = args.model_dump(mode="json", exclude_defaults=True)
    for k in ("start", "end"):  # the same minute is the same window
        if isinstance(dumped.get(k), str):
            dumped[k] = dumped[k][:16]
    return name + json.dumps(_norm(dumped), sort_keys=True)


def _engine_context(engine: Investigation) -> list[Evidence]:
    picked: list[Evidence] = []
    for h in engine.hypotheses:
        picked.extend(h.evidence[:5])
    picked.extend(e for e in engine.evidence if e.status == "error" and e not in picked)
    return list({e.id: e for e in picked}.values())[:ENGINE_EVIDENCE_SHOWN]


def _engine_text(engine: Investigation) -> str:
    lines = [f"summary: {engine.summary}"]
    for r in engine.ranking[:5]:
        lines.append(f"- {r.service}: score {r.score:.2f}, confidence {r.confidence:.2f}: {r.cause} "
                     f"({'; '.join(r.reasons[:3])})")
    if engine.checked:
        lines.append("checked: " + "; ".join(engine.checked[:20]))
    if engine.gaps:
        lines.append("could not check: " + "; ".join(engine.gaps))
    return "\n".join(lines)


class _Run:
    def __init__(self, llm: LLM, ctx: ToolContext, conv: Conversation, progress: Progress | None):
        self.llm, self.ctx, self.conv, self.progress = llm, ctx, conv, progress
        self.usage = Usage()
        self.tools_called: list[str] = []
        self.refused = 0
        self.summarised = 0
        self.step = 0
        self.system = [{"type": "text", "cache_control": {"type": "ephemeral"},
                        "text": llm.prompts.investigator.render(catalog=catalog_summary(webhooks={
                            n: w.description for n, w in ctx.deps.config.actions.webhooks.items()}),
                                                                max_steps=llm.limits.max_steps)}]
        self.tools = [*tool_definitions(ctx.deps), answer_tool_definition()]

    # --- one request -------------------------------------------------------------------------------------
    def _body(self, forced: bool) -> dict[str, Any]:
        messages = [dict(m) for m in self.conv.messages]
        last = messages[-1]
        content = [dict(b) for b in last["content"]]
        content[-1] = {**content[-1], "cache_control": {"type": "ephemeral"}}  # cache the conversation so far
        messages[-1] = {**last, "content": content}
        body = {"model": self.llm.model, "max_tokens": self.llm.limits.max_output_tokens, "system": self.system,
                "tools": self.tools, "messages": messages,
                "tool_choice": {"type": "tool", "name": ANSWER_TOOL} if forced else {"type": "auto"}}
        return self.llm.redactor.redact_obj(body)  # the safety net: nothing leaves unredacted

    async def _send(self, forced: bool) -> list[dict[str, Any]]:
        body = self._body(forced)
        self.step += 1
        entry: dict[str, Any] = {"step": self.step, "model": self.llm.model,
                                 "prompt_version": self.llm.prompts.version, "forced": forced,
                                 "estimated_input_tokens": estimate_request(body), "request": body}
        import anthropic  # loaded already: an LLM exists only once `open_llm` imported it

        try:
            resp = await self.llm.client.messages.create(**body)
        except anthropic.APIStatusError as e:
            entry.update(outcome=f"http {e.status_code}")
            self.llm.audit.record(entry)
            what = {429: "rate limited (429)", 529: "overloaded (529)"}.get(e.status_code, f"error {e.status_code}")
            raise LLMUnavailable(f"the Anthropic API is {what} after {self.llm.max_retries} retries"
                                 if e.status_code in (429, 529) or e.status_code >= 500
                                 else f"the Anthropic API refused the request ({e.status_code})",
                                 kind=f"http_{e.status_code}") from e
        except (anthropic.APIConnectionError, anthropic.APITimeoutError) as e:
            entry.update(outcome="unreachable")
            self.llm.audit.record(entry)
            raise LLMUnavailable("the Anthropic API could not be reached", kind="unreachable") from e
        except (anthropic.APIError, ValueError) as e:  # a 200 whose body is not a message (JSONDecodeError)
            entry.update(outcome=f"unreadable response: {type(e).__name__}")
            self.llm.audit.record(entry)
            raise LLMUnavailable("the Anthropic API sent a response that could not be read", kind="bad_response") from e
        if not isinstance(getattr(resp, "content", None), list) or resp.usage is None:
            entry.update(outcome="unreadable response: not a message")
            self.llm.audit.record(entry)
            raise LLMUnavailable("the Anthropic API sent a response that could not be read", kind="bad_response")
        self.usage.add(resp.usage)
        content = [b.model_dump(mode="json", exclude_none=True) for b in resp.content]
        content = [{k: v for k, v in b.items() if k in ("type", "text", "id", "name", "input")} for b in content]
        entry.update(outcome=resp.stop_reason, response=content, usage=resp.usage.model_dump(mode="json"))
        self.llm.audit.record(entry)
        self.conv.messages.append({"role": "assistant", "content": content or [{"type": "text", "text": "(empty)"}]})
        return content

    # --- tools -------------------------------------------------------------------------------------------
    async def _run_tools(self, uses: list[dict[str, Any]]) -> list[dict[str, Any]]:
        planned: list[tuple[dict[str, Any], Any]] = []
        results: dict[str, dict[str, Any]] = {}
        labels = []
        for u in uses:
            try:
                tool, args = parse_call(u["name"], u.get("input"))
            except ToolInputError as e:
                results[u["id"]] = {"type": "tool_result", "tool_use_id": u["id"], "is_error": True,
                                    "content": str(e)}
                continue
            sig = _signature(tool.name, args)
            if sig in self.conv.calls:
                self.refused += 1
                results[u["id"]] = {"type": "tool_result", "tool_use_id": u["id"], "is_error": True,
                                    "content": f"Refused: {tool.name} was already called with the same arguments "
                                               f"(step {self.conv.calls[sig]}); its result is above. Use it, call "
                                               f"something different, or call {ANSWER_TOOL}."}
                continue
            self.conv.calls[sig] = self.step
            planned.append((u, (tool, args)))
            labels.append(tool.label(args))
        if labels and self.progress:
            await self.progress("checking " + ", ".join(dict.fromkeys(labels)))
        outcomes = await asyncio.gather(*(t.run(self.ctx, a) for _, (t, a) in planned), return_exceptions=True)
        for (u, (tool, _)), out in zip(planned, outcomes, strict=False):
            self.tools_called.append(tool.name)
            if isinstance(out, ToolInputError):
                results[u["id"]] = {"type": "tool_result", "tool_use_id": u["id"], "is_error": True,
                                    "content": str(out)}
                continue
            if isinstance(out, BaseException):
                log.error("tool failed", tool=tool.name, error=repr(out), exc_info=out)
                results[u["id"]] = {"type": "tool_result", "tool_use_id": u["id"], "is_error": True,
                                    "content": f"{tool.name} failed inside sre-bot; try another tool."}
                continue
            rendered = render_evidence(out, cap_tokens=self.llm.limits.tool_result_tokens,
                                       redact=self.llm.redactor.redact)
            self.summarised += rendered.summarised
            self.conv.remember(out, rendered.visible)
            results[u["id"]] = {"type": "tool_result", "tool_use_id": u["id"], "content": rendered.text}
        return [results[u["id"]] for u in uses]

    # --- the loop ----------------------------------------------------------------------------------------
    async def run(self, first_user_content: list[dict[str, Any]]) -> tuple[ModelAnswer, str]:
        limits = self.llm.limits
        started = time.monotonic()
        reserve = min(20.0, limits.deadline_s * 0.25)
        pending = [*self.conv.open_tool_uses, *first_user_content]
        self.conv.open_tool_uses = []
        repaired, ended = False, "answered"
        forced_reason: str | None = None
        while True:
            if forced_reason is None:
                if self.step + 1 >= limits.max_steps:
                    forced_reason = "the step limit is reached"
                elif time.monotonic() - started > limits.deadline_s - reserve:
                    forced_reason = "time is nearly up"
                elif estimate_request({"system": self.system, "tools": self.tools,
                                       "messages": [*self.conv.messages, {"role": "user", "content": pending}]}
                                      ) > limits.input_budget * 0.85:
                    forced_reason = "the token budget is nearly used"
                if forced_reason is not None:
                    ended = "forced: " + forced_reason
                    pending = self._shrink(pending, limits.input_budget)
                    pending.append({"type": "text", "text": self.llm.prompts.final_answer.render(
                        reason=forced_reason)})
            self.conv.messages.append({"role": "user", "content": pending})
            content = await self._send(forced=forced_reason is not None)
            uses = [b for b in content if b.get("type") == "tool_use"]
            submit = next((b for b in uses if b["name"] == ANSWER_TOOL), None)
            others = [b for b in uses if b["name"] != ANSWER_TOOL]
            if submit is not None:
                try:
                    answer = ModelAnswer.model_validate(submit.get("input"))
                except ValidationError as e:
                    if repaired:
                        raise LLMUnavailable("the model's answer did not validate twice", kind="malformed") from e
                    repaired, forced_reason = True, "repair"
                    problems = validation_problems(e)
                    pending = [*self._not_run(others),
                               {"type": "tool_result", "tool_use_id": submit["id"], "is_error": True,
                                "content": self.llm.prompts.repair.render(errors=problems)}]
                    ended = "repaired"
                    continue
                self.conv.open_tool_uses = [
                    *self._not_run(others),
                    {"type": "tool_result", "tool_use_id": submit["id"], "content": "answer shown to the engineer"}]
                return answer, ended
            if not uses:  # prose instead of the answer tool: one repair, then give up
                if repaired:
                    raise LLMUnavailable("the model did not give a structured answer", kind="malformed")
                repaired, forced_reason, ended = True, "repair", "repaired"
                pending = [{"type": "text", "text": self.llm.prompts.repair.render(
                    errors=f"no {ANSWER_TOOL} call in your reply")}]
                continue
            if forced_reason is not None:  # forced, yet it called other tools: that is the repair case too
                if repaired:
                    raise LLMUnavailable("the model would not give its final answer", kind="malformed")
                repaired = True
                pending = [*self._not_run(others), {"type": "text", "text": self.llm.prompts.repair.render(
                    errors=f"only {ANSWER_TOOL} may be called now")}]
                continue
            pending = await self._run_tools(others)

    def _not_run(self, uses: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{"type": "tool_result", "tool_use_id": u["id"], "is_error": True,
                 "content": "not run: the investigation is at its final answer"} for u in uses]

    def _shrink(self, pending: list[dict[str, Any]], budget: int) -> list[dict[str, Any]]:
        """Over budget even now: earlier tool results, then the largest new ones, are replaced by a note saying so
        (never cut silently; the model is told what is missing)."""
        def size() -> int:
            return estimate_request({"system": self.system, "tools": self.tools,
                                     "messages": [*self.conv.messages, {"role": "user", "content": pending}]})

        older = [b for m in self.conv.messages if m["role"] == "user" for b in m["content"]
                 if b.get("type") == "tool_result"]
        newer = sorted((b for b in pending if b.get("type") == "tool_result"),
                       key=lambda b: -len(str(b.get("content", ""))))
        for b in [*older, *newer]:
            if size() <= budget * 0.9:
                break
            if len(str(b.get("content", ""))) > 400:
                b["content"] = ("[this result was removed to stay within the token budget; answer from the rest, "
                                "and list what it would have shown under unknowns]")
        return pending


async def run_llm_investigation(llm: LLM, deps: Deps, question: str, engine: Investigation, *,
                                services: Mapping[str, str], graph: Mapping[str, list[str]] | None = None,
                                conversation: Conversation | None = None, key: str | None = None,
                                progress: Progress | None = None) -> LLMResult:
    """Investigate `question` with the model; raises LLMUnavailable when no usable answer comes back."""
    started = time.monotonic()
    conv = conversation or Conversation(key=key or "", engine=engine, window=engine.window)
    ctx = ToolContext(deps=deps, window=conv.window, engine=conv.engine, services=services, graph=graph or {})
    run = _Run(llm, ctx, conv, progress)
    redact = llm.redactor.redact
    if not conv.messages:
        shown = _engine_context(engine)
        rendered = render_evidence(shown, cap_tokens=llm.limits.tool_result_tokens * 2, redact=redact)
        conv.remember(shown, rendered.visible)
        services_text = "; ".join(f"{s} -> {', '.join((graph or {}).get(s, [])) or '-'}"
                                  for s in sorted(set(services.values()))[:60])
        text = llm.prompts.question.render(question=redact(question), window=conv.window.label(),
                                           engine=_engine_text(engine) + "\n" + rendered.text,
                                           services=services_text or "none configured")
    else:
        text = llm.prompts.followup.render(question=redact(question))
    mark, owed, calls = len(conv.messages), list(conv.open_tool_uses), dict(conv.calls)
    try:
        async with asyncio.timeout(llm.limits.deadline_s):
            answer, ended = await run.run([{"type": "text", "text": redact(text)}])
    except (TimeoutError, LLMUnavailable) as e:
        del conv.messages[mark:]  # a thread's conversation stays as it was before the failed turn
        conv.open_tool_uses, conv.calls = owed, calls
        if isinstance(e, LLMUnavailable):
            raise
        raise LLMUnavailable(f"the model took longer than {llm.limits.deadline_s:.0f}s", kind="deadline") from None
    finally:
        if llm.metrics is not None:
            for kind, n in (("input", run.usage.input), ("output", run.usage.output),
                            ("cache_write", run.usage.cache_write), ("cache_read", run.usage.cache_read)):
                llm.metrics.llm_tokens.labels(kind).inc(n)
    grounded = ground(answer, visible=conv.visible, evidence=conv.evidence, services=services,
                      deploys_since=conv.window.start - timedelta(seconds=DEPLOY_LOOKBACK_S),
                      webhooks=deps.config.actions.webhooks.keys())
    log.info("llm answer", steps=run.step, tools=run.tools_called, ended=ended, refused=run.refused,
             grounding=grounded.counts, dropped_actions=grounded.dropped_actions,
             usage=run.usage.as_dict(llm.prices), seconds=round(time.monotonic() - started, 3))
    if llm.metrics is not None:
        for kind, n in grounded.counts.items():
            if n and kind != "quotes_checked":
                llm.metrics.llm_grounding.labels(kind).inc(n)
    if conv.key:
        await llm.conversations.put(conv, now=deps.clock())
    return LLMResult(answer=grounded, usage=run.usage, steps=run.step, tools_called=run.tools_called,
                     model=llm.model, prompt_version=llm.prompts.investigator.ref, ended=ended,
                     refused_calls=run.refused, summarised_results=run.summarised, conversation=conv,
                     evidence_count=len(conv.evidence), prices=llm.prices)
