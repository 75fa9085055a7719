"""Token use per LLM answer on the sandbox scenarios: the bot's own path against a scripted fake Messages API.

    .venv/bin/python -m benchmarks.llm_tokens                 # every shipped scenario + a huge-logs variant
    .venv/bin/python -m benchmarks.llm_tokens --json /tmp/x.json

For every shipped sandbox scenario, plus a "huge logs" variant of the default one (an extra error-log template on
the root-cause service at a high rate), the question "why is <a caller of the root service> slow?" goes through
`sre_bot.services.explain.explain` with ANTHROPIC_BASE_URL pointing at `tests.fakes.anthropic_api.FakeAnthropic`.
No real model is ever called and no network is needed: the sandbox and the fake listen on loopback.

The model is a script (the same for every configuration, so the comparison is fair): step 1 calls, in parallel,
engine_findings, golden_signals, search_logs (errors only, limit 500), error_log_templates and deploy_history for
the scenario's true root service; step 2 calls submit_answer quoting one real line of the deploy evidence it got.

Two configurations run on the same sandbox data: "budgeted" (the settings' defaults) and the baseline "uncapped"
(SRE_BOT_LLM_TOOL_RESULT_TOKENS=50000, SRE_BOT_LLM_INPUT_BUDGET=900000).

Token counts are the fake server's deterministic estimate (ceil(characters of the JSON request / 4)), not a real
tokenizer: they show relative numbers (budgeted ÷ uncapped, which tool result dominates) and the order of
magnitude, not what a bill would say to the token.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import math
import os
import re
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from benchmarks._report import (
    REPO_ROOT,
    RESULTS_DIR,
    command_line,
    format_table,
    machine_info,
    num,
    progress,
    utc_now,
    write_json,
)
from sre_bot.clock import frozen_clock
from sre_bot.compose import open_deps
from sre_bot.llm.budget import Prices, Usage, estimate_request
from sre_bot.logging import configure_logging
from sre_bot.sandbox.scenario import Scenario, list_scenarios, load_scenario, parse_scenario, scenario_path
from sre_bot.sandbox.server import Sandbox
from sre_bot.services.explain import explain
from sre_bot.settings import Settings, load_settings
from tests.fakes.anthropic_api import FakeAnthropic, call, tool_use
from tests.llm._script import answer, find

DEFAULT_SCENARIO = "checkout-bad-deploy"
# The sandbox's "now", pinned as the sandbox tests pin it (tests/sandbox/_support.py NOW): same data every run.
NOW = datetime(2026, 11, 21, 14, 35, tzinfo=timezone.utc)
CONFIGS: dict[str, dict[str, str]] = {
    "budgeted": {},  # the settings' defaults
    "uncapped": {"SRE_BOT_LLM_TOOL_RESULT_TOKENS": "50000", "SRE_BOT_LLM_INPUT_BUDGET": "900000"},
}
BASELINE = "uncapped"
STEP1_TOOLS = ("engine_findings", "golden_signals", "search_logs", "error_log_templates", "deploy_history")
# The real API caches no prefix shorter than 1,024 tokens on Sonnet models; the fake does the same with this.
MIN_CACHE_TOKENS = 1024
FAKE_CHARS_PER_TOKEN = 4  # the fake's usage: ceil(len(json.dumps(body)) / 4)
# Environment that would change "the settings' defaults" or where the bot looks; removed in this process only.
_SCRUB = re.compile(r"^(SRE_BOT_|ANTHROPIC_|PROMETHEUS_|LOKI_|ARGOCD_|ALERTMANAGER_|GRAFANA_)")
_EVIDENCE = re.compile(r'<evidence ([^>]*)>\n(.*?)\n</evidence>', re.S)

HUGE_LOG_RATE = 3000  # lines per minute
HUGE_LOG_START = "-20m"
HUGE_LOG_TEMPLATE = {  # ~320 characters a line: 500 of them (the line limit) fit under the 50,000 cap
    "message": "payment authorization failed, giving up on order",
    "level": "error",
    "start": HUGE_LOG_START,
    "fields": {
        "error": "upstream payments-api returned 503: could not obtain connection from pool payments-db within 5000ms",
        "order_id": "{order_id}", "user_id": "{user_id}", "trace_id": "{trace_id}", "span_id": "{span_id}",
        "duration_ms": "{duration_ms}",
    },
}


@dataclass
class Case:
    label: str
    scenario: Scenario
    root: str
    asked_about: str
    note: str


def _fake_tokens(body: dict[str, Any]) -> int:
    return math.ceil(len(json.dumps(body)) / FAKE_CHARS_PER_TOKEN)


def _wire_bytes(body: dict[str, Any]) -> int:
    """The body as httpx 0.28 sends it (compact separators, UTF-8)."""
    return len(json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8"))


def _asked_about(sc: Scenario, root: str) -> str:
    """A service that calls the root service (the first in the scenario's order), else the root itself."""
    return next((s.name for s in sc.services if root in s.depends_on), root)


def _case(label: str, sc: Scenario, note: str) -> Case:
    if sc.truth is None:
        raise SystemExit(f"scenario {sc.name} has no `truth:` (its root service is needed for the scripted model)")
    root = sc.truth.root_service
    return Case(label, sc, root, _asked_about(sc, root), note)


def huge_logs_variant(name: str = DEFAULT_SCENARIO, *, rate: float = HUGE_LOG_RATE) -> Scenario:
    """`name` with one extra error-log template on its root service: `rate` long-ish lines/min over the last 20m."""
    data = yaml.safe_load(scenario_path(name).read_text(encoding="utf-8"))
    data = copy.deepcopy(data)
    root = data["truth"]["root_service"]
    services = data["services"]
    svc = (services[root] if isinstance(services, dict)
           else next(s for s in services if s["name"] == root))
    logs = svc.setdefault("logs", {})
    logs.setdefault("templates", []).append({**HUGE_LOG_TEMPLATE, "rate": rate})
    data["name"] = f"{name}+huge-logs"
    return parse_scenario(data, source=f"scenario {data['name']}")


def cases(huge_rate: float) -> list[Case]:
    # the scripted model needs one root service: scenarios with several incidents or no cause are not used
    shipped = [load_scenario(n) for n in list_scenarios()]
    out = [_case(sc.name, sc, "shipped") for sc in shipped if sc.truth is not None and sc.truth.root_service]
    out.append(_case(f"{DEFAULT_SCENARIO}+huge-logs", huge_logs_variant(rate=huge_rate),
                     f"+{huge_rate:g} error lines/min on the root service since {HUGE_LOG_START}"))
    return out


# --- the scripted model --------------------------------------------------------------------------------------------

class Policy:
    """The fake model's two turns, built from the request bodies it receives (same for every configuration)."""

    def __init__(self, root: str, revision: str | None) -> None:
        self.root, self.revision = root, revision
        self.picked: dict[str, str] = {}

    def step1(self, body: dict[str, Any]) -> Any:
        r = self.root
        return tool_use(call("engine_findings", {"service": r}), call("golden_signals", {"service": r}),
                        call("search_logs", {"service": r, "errors_only": True, "limit": 500}),
                        call("error_log_templates", {"service": r}), call("deploy_history", {"service": r}),
                        text=f"Checking {r} first: the engine's findings, its signals, error logs and deploys.")

    def _deploy_line(self, body: dict[str, Any]) -> str:
        """A line of a deploy item of the deploy_history result as sent (the truth's revision when it names one)."""
        messages = body["messages"]
        use_id = next(b["id"] for m in messages if m["role"] == "assistant" for b in m["content"]
                      if b.get("type") == "tool_use" and b.get("name") == "deploy_history")
        result = next(b for m in messages if m["role"] == "user" for b in m["content"]
                      if b.get("type") == "tool_result" and b.get("tool_use_id") == use_id)
        content = result.get("content")
        text = content if isinstance(content, str) else "\n".join(x.get("text", "") for x in content or [])
        blocks = [(re.search(r'kind="([^"]*)"', head), block.split("text:\n", 1)[-1])
                  for head, block in _EVIDENCE.findall(text)]
        deploys = [b for k, b in blocks if k and k.group(1) == "deploy"] or [b for _, b in blocks]
        lines = [ln.strip() for b in deploys for ln in b.splitlines() if ln.strip()]
        wanted = [ln for ln in lines if self.revision and self.revision[:7] in ln] or lines
        if not wanted:
            raise AssertionError(f"deploy_history returned no evidence text: {text[:300]!r}")
        return wanted[0]

    def step2(self, body: dict[str, Any]) -> Any:
        eid, line = find(body, self._deploy_line(body))
        self.picked = {"evidence_id": eid, "line": line}
        return answer(
            summary=f"{self.root} changed shortly before the incident; its deploy is the likely cause.",
            hypotheses=[{"service": self.root, "cause": f"a recent deploy of {self.root}", "confidence": 0.7,
                         "evidence_ids": [eid], "quotes": [{"evidence_id": eid, "text": line}]}],
            unknowns=["whether rolling back resolves it"])


# --- one answer ----------------------------------------------------------------------------------------------------

def _request_parts(body: dict[str, Any]) -> dict[str, int]:
    """Characters of the request by part: system + tools, the first user turn, and each tool result by tool name."""
    names = {b["id"]: b["name"] for m in body["messages"] if m["role"] == "assistant" for b in m["content"]
             if b.get("type") == "tool_use"}
    parts = {"system+tools": len(json.dumps({"system": body.get("system"), "tools": body.get("tools")}))}
    for i, m in enumerate(body["messages"]):
        for b in m["content"]:
            if b.get("type") == "tool_result":
                key = names.get(b.get("tool_use_id"), "?")
                parts[key] = parts.get(key, 0) + len(json.dumps(b))
            else:
                key = "question+engine" if i == 0 else f"{m['role']} other"
                parts[key] = parts.get(key, 0) + len(json.dumps(b))
    return parts


async def run_one(sb: Sandbox, case: Case, config: str) -> dict[str, Any]:
    question = f"why is {case.asked_about} slow?"
    policy = Policy(case.root, case.scenario.truth.revision if case.scenario.truth else None)
    row: dict[str, Any] = {"scenario": case.label, "config": config, "question": question, "root": case.root,
                           "overrides": CONFIGS[config]}
    with FakeAnthropic(min_cache_tokens=MIN_CACHE_TOKENS) as fake:
        fake.enqueue(policy.step1, policy.step2)
        settings = load_settings(None, **sb.urls.as_env(), ANTHROPIC_API_KEY="benchmark-fake-key",
                                 ANTHROPIC_BASE_URL=fake.url, **CONFIGS[config])
        prices = Prices(input=settings.llm_price_input, output=settings.llm_price_output,
                        cache_write=settings.llm_price_cache_write, cache_read=settings.llm_price_cache_read)
        async with open_deps(settings, config=sb.config, clock=frozen_clock(NOW)) as deps:
            assert deps.llm is not None
            limits = deps.llm.limits
            t0 = time.perf_counter()
            ex = await explain(deps, question)
            row["wall_s"] = round(time.perf_counter() - t0, 3)
        bodies = list(fake.bodies)
        try:
            fake.assert_clean()
            row["fake_clean"], row["fake_problems"] = True, None
        except AssertionError as e:
            row["fake_clean"], row["fake_problems"] = False, str(e)
    row.update(input_budget=limits.input_budget, tool_result_tokens=limits.tool_result_tokens,
               answered_by=ex.answered_by, why_engine=ex.why_engine)
    requests = []
    for i, b in enumerate(bodies, 1):
        requests.append({"request": i, "estimated_tokens": estimate_request(b), "fake_tokens": _fake_tokens(b),
                         "bytes": _wire_bytes(b), "forced": (b.get("tool_choice") or {}).get("type") == "tool",
                         "parts_chars": _request_parts(b)})
    row["requests_detail"] = requests
    over = [r["request"] for r in requests if r["estimated_tokens"] > limits.input_budget]
    row["over_budget_requests"] = over
    largest = max(requests, key=lambda r: r["estimated_tokens"], default=None)
    row["largest"] = ({k: largest[k] for k in ("request", "estimated_tokens", "fake_tokens", "bytes")}
                      if largest else None)
    if ex.llm is None:
        row.update(ok=False, error=f"no model answer: {ex.why_engine}")
        return row
    u: Usage = ex.llm.usage
    g = ex.llm.answer
    row.update(
        ok=row["fake_clean"] and not over, steps=ex.llm.steps, ended=ex.llm.ended, tools_called=ex.llm.tools_called,
        summarised_results=ex.llm.summarised_results, refused_calls=ex.llm.refused_calls,
        usage={**u.as_dict(prices), "total_input": u.total_input}, cost_usd=u.cost(prices),
        prices={"input": prices.input, "output": prices.output, "cache_write": prices.cache_write,
                "cache_read": prices.cache_read},
        answer={"hypotheses": len(g.hypotheses), "quotes_kept": sum(len(h.quotes) for h in g.hypotheses),
                "grounding": g.counts, "marks": g.marks, "quoted": policy.picked},
    )
    if sorted(ex.llm.tools_called) != sorted(STEP1_TOOLS):
        row.update(ok=False, error=f"tools called {ex.llm.tools_called}, expected {list(STEP1_TOOLS)}")
    return row


async def run_case(case: Case) -> list[dict[str, Any]]:
    t0 = time.perf_counter()
    async with Sandbox(case.scenario, clock=frozen_clock(NOW)) as sb:
        progress(f"{case.label}: sandbox up in {time.perf_counter() - t0:.1f}s; asking about {case.asked_about} "
                 f"(root {case.root})")
        rows = []
        for config in CONFIGS:
            row = await run_one(sb, case, config)
            row["note"] = case.note
            rows.append(row)
            u, largest = row.get("usage") or {}, (row["largest"] or {}).get("estimated_tokens", 0)
            why = row.get("error") or row.get("fake_problems") or row["over_budget_requests"]
            progress(f"  {config:<9} {row['wall_s']:.2f}s  {u.get('requests', 0)} requests  "
                     f"{u.get('total_input', 0):,} input tokens  largest ≈{largest:,}"
                     f"{'' if row['ok'] else f'  FAILED: {why}'}")
    base = next((r for r in rows if r["config"] == BASELINE), None)
    for r in rows:
        if base and r.get("usage") and base.get("usage"):
            r["input_vs_uncapped"] = r["usage"]["total_input"] / max(base["usage"]["total_input"], 1)
            r["cost_vs_uncapped"] = r["cost_usd"] / base["cost_usd"] if base["cost_usd"] else None
    return rows


# --- output --------------------------------------------------------------------------------------------------------

def _ratio(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}×"


def render(rows: list[dict[str, Any]]) -> str:
    headers = ["scenario", "config", "requests", "input tok", "cache read", "output", "largest req ≈tok",
               "largest req bytes", "summarised", "cost USD", "input ÷ uncapped", "cost ÷ uncapped", "≤ budget"]
    body = []
    for r in rows:
        u = r.get("usage") or {}
        lg = r.get("largest") or {}
        body.append([
            r["scenario"], r["config"], u.get("requests", "—"), num(u.get("total_input"), 0),
            num(u.get("cache_read"), 0), num(u.get("output"), 0), num(lg.get("estimated_tokens"), 0),
            num(lg.get("bytes"), 0), r.get("summarised_results", "—"),
            f"${r['cost_usd']:.4f}" if "cost_usd" in r else "—",
            _ratio(r.get("input_vs_uncapped")) if r["config"] != BASELINE else "—",
            _ratio(r.get("cost_vs_uncapped")) if r["config"] != BASELINE else "—",
            ("yes" if not r["over_budget_requests"] else f"NO: request {r['over_budget_requests']}")
            + f" ({r['input_budget']:,})",
        ])
    return format_table(headers, body, title="Tokens per LLM answer (scripted model, fake Messages API)",
                        align="llrrrrrrrrrrl")


def render_parts(rows: list[dict[str, Any]]) -> str:
    """Where the last request's tokens go: characters / 4 of each part (the fake's count)."""
    names = ["system+tools", "question+engine", *STEP1_TOOLS]
    headers = ["scenario", "config", *names, "other", "last req"]
    body = []
    for r in rows:
        reqs = r.get("requests_detail") or []
        if not reqs:
            continue
        parts = reqs[-1]["parts_chars"]
        other = sum(v for k, v in parts.items() if k not in names)
        body.append([r["scenario"], r["config"], *(num(parts.get(n, 0) / FAKE_CHARS_PER_TOKEN, 0) for n in names),
                     num(other / FAKE_CHARS_PER_TOKEN, 0), num(reqs[-1]["fake_tokens"], 0)])
    return format_table(headers, body, align="ll" + "r" * (len(headers) - 2),
                        title="Last request by part (≈ tokens = characters of the part's JSON / 4)")


TOKENS_NOTE = ("Token counts are the fake server's deterministic estimate, ceil(characters of the JSON request / 4), "
               "not a real tokenizer:\nread them for relative sizes (budgeted ÷ uncapped, which tool result "
               "dominates) and the order of magnitude.\n'largest req ≈tok' is the bot's own pre-send estimate "
               "(estimate_request: characters / 3.5, rounded up), checked against SRE_BOT_LLM_INPUT_BUDGET.\n"
               "'input tok' = input + cache_write + cache_read summed over the answer's requests; cost uses the "
               "default prices. Each answer starts with a cold prompt cache.")


# --- main ----------------------------------------------------------------------------------------------------------

def _scrub_env() -> list[str]:
    removed = sorted(k for k in os.environ if _SCRUB.match(k))
    for k in removed:
        del os.environ[k]
    return removed


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    started, started_at = time.perf_counter(), utc_now()
    rows: list[dict[str, Any]] = []
    all_cases = cases(args.huge_rate)
    for case in all_cases:
        rows.extend(await run_case(case))
    defaults = Settings.model_fields
    return {
        "benchmark": "llm_tokens", "started_at": started_at, "command": command_line(),
        "machine": machine_info(),
        "settings": {
            "now": NOW.isoformat(), "configs": CONFIGS, "baseline": BASELINE,
            "defaults": {"SRE_BOT_LLM_INPUT_BUDGET": defaults["llm_input_budget_tokens"].default,
                         "SRE_BOT_LLM_TOOL_RESULT_TOKENS": defaults["llm_tool_result_tokens"].default,
                         "SRE_BOT_LLM_MAX_STEPS": defaults["llm_max_steps"].default,
                         "SRE_BOT_LOG_LINE_LIMIT": defaults["log_line_limit"].default},
            "policy": {"step1": list(STEP1_TOOLS), "search_logs": {"errors_only": True, "limit": 500},
                       "step2": "submit_answer quoting one line of the deploy_history evidence"},
            "fake": {"tokens": "ceil(len(json.dumps(body)) / 4)", "min_cache_tokens": MIN_CACHE_TOKENS,
                     "cache": "cold per answer (a new FakeAnthropic per run)"},
            "huge_logs": {"rate_per_min": args.huge_rate, "start": HUGE_LOG_START, "template": HUGE_LOG_TEMPLATE},
            "env_removed": args.env_removed,
        },
        "scenarios": [{"label": c.label, "root": c.root, "asked_about": c.asked_about, "note": c.note}
                      for c in all_cases],
        "note": TOKENS_NOTE.replace("\n", " "),
        "runs": rows,
        "elapsed_s": round(time.perf_counter() - started, 1),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.llm_tokens", description=__doc__.split("\n\n")[0])
    p.add_argument("--huge-rate", type=float, default=HUGE_LOG_RATE,
                   help="error lines per minute of the huge-logs variant (default %(default)s, at most 6000)")
    p.add_argument("--json", type=Path, default=RESULTS_DIR / "llm_tokens.json",
                   help="result file (default %(default)s)")
    args = p.parse_args(argv)
    args.env_removed = _scrub_env()  # the settings' defaults, whatever this shell exports; never a real key
    configure_logging("warning")
    results = asyncio.run(_run(args))
    m = results["machine"]
    print(f"LLM token benchmark — question \"why is <caller of the root service> slow?\", scripted 2-step model; "
          f"machine: {m['cpu']} ×{m['cpu_count']}, Python {m['python']}")
    for s in results["scenarios"]:
        print(f"  {s['label']}: asks about {s['asked_about']}, root {s['root']} ({s['note']})")
    print()
    print(render(results["runs"]))
    print()
    print(render_parts(results["runs"]))
    print()
    print(TOKENS_NOTE)
    path = write_json(args.json, results)
    shown = path.relative_to(REPO_ROOT) if path.resolve().is_relative_to(REPO_ROOT) else path
    failed = [f"{r['scenario']}/{r['config']}: {r.get('error') or r.get('fake_problems') or 'over budget'}"
              for r in results["runs"] if not r["ok"]]
    print(f"\n{results['elapsed_s']:.0f}s; JSON: {shown}")
    if failed:
        print("FAILED:\n  " + "\n  ".join(failed))
        return 1
    print("every budgeted request was within its input budget (estimate_request ≤ SRE_BOT_LLM_INPUT_BUDGET)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
