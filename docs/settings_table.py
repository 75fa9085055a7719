"""Print docs/configuration.md's environment table from `sre_bot/settings.py`, field by field.

    .venv/bin/python docs/settings_table.py    # from the repository root; paste over the table

Names, order, defaults and ranges come from the code; the meanings are written here. `tests/test_docs_links.py`
checks the table in docs/configuration.md against `Settings` (names, order, defaults).
"""

# ruff: noqa: E501  (each meaning is one table cell)
from __future__ import annotations

from pydantic.fields import FieldInfo

from sre_bot.settings import Settings

MEANING = {
    "SLACK_BOT_TOKEN": "Bot User OAuth Token (`xoxb-…`) from **OAuth & Permissions** after installing the app; required by `serve`",
    "SLACK_SIGNING_SECRET": "from **Basic Information**; required in HTTP mode, where every request is verified with it",
    "SLACK_APP_TOKEN": "app-level token (`xapp-…`, scope `connections:write`); when set, `serve` uses Socket Mode (no public URL)",
    "SLACK_API_URL": "Slack Web API base; only tests and proxies change it (a trailing `/` is added)",
    "SRE_BOT_HTTP_HOST": "address of the bot's HTTP server: `POST /slack/events` (HTTP mode), `POST /alertmanager`, `GET /healthz`, `GET /readyz`, `GET /metrics`",
    "SRE_BOT_HTTP_PORT": "its port",
    "SRE_BOT_CONFIG": "the YAML file below; a missing file means the defaults",
    "SRE_BOT_LOG_LEVEL": "`debug`, `info`, `warning` or `error`",
    "SRE_BOT_LOG_FORMAT": "`auto` (console on a terminal, JSON lines otherwise), `json` or `console`",
    "PROMETHEUS_URL": "Prometheus HTTP API; empty: not checked (answers say so)",
    "PROMETHEUS_TOKEN": "bearer token for Prometheus behind auth",
    "PROMETHEUS_PUBLIC_URL": "the Prometheus URL people open, used in links (default: `PROMETHEUS_URL`)",
    "LOKI_URL": "Loki; empty: not checked",
    "LOKI_TOKEN": "bearer token for Loki",
    "LOKI_ORG_ID": "tenant of a multi-tenant Loki, sent as `X-Scope-OrgID`",
    "ARGOCD_URL": "Argo CD API; empty: not checked",
    "ARGOCD_TOKEN": "API token of an Argo CD account (`argocd account generate-token --account sre-bot`)",
    "ARGOCD_VERIFY_TLS": "`false` only for a self-signed Argo CD certificate (affects the Argo CD client alone)",
    "ALERTMANAGER_URL": "Alertmanager API v2 (firing alerts, silences); empty: not checked",
    "GRAFANA_URL": "when set, evidence also links to Grafana Explore",
    "GRAFANA_PROMETHEUS_UID": "the Prometheus datasource uid in those links",
    "GRAFANA_LOKI_UID": "the Loki datasource uid in those links",
    "GRAFANA_TEMPO_UID": "the Tempo datasource uid in those links",
    "TEMPO_URL": "Grafana Tempo HTTP API (slow and failed traces of a service); empty: not checked",
    "TEMPO_TOKEN": "bearer token for Tempo",
    "TEMPO_ORG_ID": "tenant of a multi-tenant Tempo, sent as `X-Scope-OrgID`",
    "PAGERDUTY_EVENTS_URL": "PagerDuty Events API v2 base (`POST /v2/enqueue`); only tests and proxies change it",
    "SRE_BOT_PAGERDUTY_ROUTING_KEYS": "JSON `{\"team\": \"routing key\"}`: a PagerDuty integration key per team of `escalation.teams`",
    "OPSGENIE_API_URL": "Opsgenie Alert API base (`https://api.eu.opsgenie.com` for EU accounts)",
    "SRE_BOT_OPSGENIE_API_KEYS": "JSON `{\"team\": \"api key\"}`: an Opsgenie API integration key per team",
    "SRE_BOT_EDA_URL": "an ansible-rulebook webhook event source (`eda.event`); empty: not configured",
    "SRE_BOT_EDA_TOKEN": "its bearer token (the source's `token`)",
    "SRE_BOT_EDA_HMAC_SECRET": "its HMAC-SHA256 secret (the source's `hmac_secret`); the body is signed with it",
    "SRE_BOT_BACKEND_TIMEOUT": "seconds per backend call, the whole call (a server that drips its reply is cut too)",
    "SRE_BOT_MAX_POINTS": "points per series at most in a range query (the step grows to fit)",
    "SRE_BOT_LOG_LINE_LIMIT": "log lines per query at most (\"showing N of M\" when hit)",
    "SRE_BOT_DEFAULT_WINDOW": "window when a command names none (`30m`, `2h`, `1d` …)",
    "SRE_BOT_ANSWER_DEADLINE": "seconds for a whole answer (`/sre status`, a mention, an incident's investigation): a system that has not answered by then is named in the answer, the others' evidence is shown (the model has its own `SRE_BOT_LLM_DEADLINE` on top)",
    "SRE_BOT_PROMETHEUS_THREADS": "worker threads of the Prometheus client (its own pool, not asyncio's default executor)",
    "SRE_BOT_PROMETHEUS_QUEUE_TIMEOUT": "seconds a Prometheus query may wait for one of those threads; past it the query is a named gap in the answer",
    "SRE_BOT_INVESTIGATION_QUEUE": "investigations waiting for a slot at most; beyond it a question is answered \"busy, ask again in a minute\"",
    "SRE_BOT_ANALYSIS_PROCESSES": "worker processes for log-template mining and anomaly scans; empty: one per core beyond the first, 1 to 4; `0`: one worker thread, no child processes",
    "SRE_BOT_MAX_INVESTIGATIONS": "investigations gathering and analysing at once; the others wait their turn (the wait does not count against the deadline)",
    "SRE_BOT_ABSTAIN_BELOW": "answer \"insufficient evidence\" when the top hypothesis's probability is below this; empty: the shipped calibration's threshold (0.45)",
    "SRE_BOT_CALIBRATION": "a calibration file of your own (`python -m benchmarks.calibrate --out FILE`), checked at start; empty: the shipped one",
    "ANTHROPIC_API_KEY": "the optional model; without it the statistics engine answers alone",
    "ANTHROPIC_MODEL": "the Claude model",
    "ANTHROPIC_BASE_URL": "Messages API base; only tests and proxies change it",
    "SRE_BOT_LLM_MAX_STEPS": "model round trips per answer; the last one forces the answer",
    "SRE_BOT_LLM_DEADLINE": "wall-clock seconds per model answer; past it the engine's answer is shown",
    "SRE_BOT_LLM_MAX_RETRIES": "retries on 429 / 529 / 5xx (backoff, `retry-after` honoured) before falling back to the engine",
    "SRE_BOT_LLM_REQUEST_TIMEOUT": "seconds per Messages API request",
    "SRE_BOT_LLM_MAX_OUTPUT_TOKENS": "output tokens per request",
    "SRE_BOT_LLM_INPUT_BUDGET": "estimated input tokens per request; near it the model must answer with what it has",
    "SRE_BOT_LLM_TOOL_RESULT_TOKENS": "estimated tokens per tool result; a larger one is replaced by a summary and a hint to narrow it",
    "SRE_BOT_LLM_PRICE_INPUT": "USD per million input tokens, for the cost line under each answer",
    "SRE_BOT_LLM_PRICE_OUTPUT": "USD per million output tokens",
    "SRE_BOT_LLM_PRICE_CACHE_WRITE": "USD per million cache-write tokens",
    "SRE_BOT_LLM_PRICE_CACHE_READ": "USD per million cache-read tokens",
    "SRE_BOT_REDACT_IPS": "also redact IP addresses before anything is sent to the model",
    "SRE_BOT_REDACT_EMAILS": "redact email addresses before anything is sent to the model",
    "SRE_BOT_LLM_AUDIT_PATH": "JSON-lines file keeping every model exchange (redacted request, response, model, prompt version, tokens)",
    "SRE_BOT_PROMPTS_DIR": "a folder of prompt templates of your own; empty: the prompts shipped with sre-bot",
    "SRE_BOT_DB_URL": "the store (approvals, audit trail, kill switch, incidents, feedback): a SQLite file for one replica, `postgresql+asyncpg://user:pass@host/db` for several",
    "SRE_BOT_DB_POOL_SIZE": "store connections kept open",
    "SRE_BOT_DB_POOL_OVERFLOW": "how many more may open under load (PostgreSQL: keep all replicas' size + overflow under `max_connections`)",
    "SRE_BOT_KILL_SWITCH": "`true`/`1`: nothing executes, whatever `/sre killswitch` says",
    "SRE_BOT_WEBHOOK_SECRETS": "JSON `{\"webhook-name\": \"secret\"}`; a configured webhook's headers use it as `{secret}`",
    "SRE_BOT_ALERTMANAGER_TOKEN": "bearer token Alertmanager sends to `POST /alertmanager`; with no credential set the endpoint answers 403",
    "SRE_BOT_ALERTMANAGER_USER": "basic-auth user for `POST /alertmanager` (with the password)",
    "SRE_BOT_ALERTMANAGER_PASSWORD": "basic-auth password for `POST /alertmanager`",
    "SRE_BOT_ALERTMANAGER_MAX_BYTES": "largest webhook body accepted; 413 above it (16 MiB ≈ 16,000 alerts of 1 KB)",
    "SRE_BOT_TOPOLOGY_REFRESH": "seconds between rediscoveries of the topology alerts are grouped by; `0`: only the configured `depends_on`",
}


def _number(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def _default(v: object) -> str:
    if v is None or v == {}:
        return "—"
    if isinstance(v, bool):
        return "`true`" if v else "`false`"
    if isinstance(v, float):
        return f"`{_number(v)}`"
    return f"`{v}`"


def _allowed(f: FieldInfo) -> str:
    lo: tuple[str, float] | None = None
    hi: tuple[str, float] | None = None
    for m in f.metadata:
        for k in ("ge", "gt"):
            if hasattr(m, k):
                lo = (k, getattr(m, k))
        for k in ("le", "lt"):
            if hasattr(m, k):
                hi = (k, getattr(m, k))
    if lo and hi:
        return f"{_number(lo[1])}–{_number(hi[1])}" if lo[0] == "ge" else f"> {_number(lo[1])}, ≤ {_number(hi[1])}"
    if lo:
        return f"≥ {_number(lo[1])}"
    ann = str(f.annotation)
    if "Literal[" in ann:
        return " \\| ".join(ann.split("[", 1)[1].rstrip("]").replace("'", "").split(", "))
    return ""


def table() -> str:
    rows = ["| variable | default | allowed | meaning |", "|---|---|---|---|"]
    for f in Settings.model_fields.values():
        name = str(f.validation_alias)
        rows.append(f"| `{name}` | {_default(f.get_default(call_default_factory=True))} | {_allowed(f)} "
                    f"| {MEANING[name]} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(table())
