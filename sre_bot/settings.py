"""Secrets and URLs from the environment and `.env`: the only module that reads `os.environ`.

Every field is listed, commented and defaulted in `.env.example`; `tests/test_settings.py` keeps the two in step.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import AnyHttpUrl, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .errors import ConfigError

__all__ = ["Settings", "load_settings", "DEFAULT_MODEL", "format_validation_error"]

# A current Claude Sonnet that is not on the SDK's deprecation list; always overridable with ANTHROPIC_MODEL.
DEFAULT_MODEL = "claude-sonnet-5-5"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True,
                                      env_ignore_empty=True)

    # Slack
    slack_bot_token: SecretStr | None = Field(None, validation_alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = Field(None, validation_alias="SLACK_SIGNING_SECRET")
    slack_app_token: SecretStr | None = Field(None, validation_alias="SLACK_APP_TOKEN")
    slack_api_url: str = Field("https://slack.com/api/", validation_alias="SLACK_API_URL")

    # The bot's own HTTP server (Slack events in HTTP mode, health, metrics)
    http_host: str = Field("0.0.0.0", validation_alias="SRE_BOT_HTTP_HOST")
    http_port: int = Field(3000, ge=0, le=65535, validation_alias="SRE_BOT_HTTP_PORT")
    config_path: Path = Field(Path("sre-bot.yaml"), validation_alias="SRE_BOT_CONFIG")
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", validation_alias="SRE_BOT_LOG_LEVEL")
    log_format: Literal["auto", "json", "console"] = Field("auto", validation_alias="SRE_BOT_LOG_FORMAT")

    # Telemetry and control systems
    prometheus_url: AnyHttpUrl | None = Field(None, validation_alias="PROMETHEUS_URL")
    prometheus_token: SecretStr | None = Field(None, validation_alias="PROMETHEUS_TOKEN")
    prometheus_public_url: AnyHttpUrl | None = Field(None, validation_alias="PROMETHEUS_PUBLIC_URL")
    loki_url: AnyHttpUrl | None = Field(None, validation_alias="LOKI_URL")
    loki_token: SecretStr | None = Field(None, validation_alias="LOKI_TOKEN")
    loki_org_id: str | None = Field(None, validation_alias="LOKI_ORG_ID")
    argocd_url: AnyHttpUrl | None = Field(None, validation_alias="ARGOCD_URL")
    argocd_token: SecretStr | None = Field(None, validation_alias="ARGOCD_TOKEN")
    argocd_verify_tls: bool = Field(True, validation_alias="ARGOCD_VERIFY_TLS")
    alertmanager_url: AnyHttpUrl | None = Field(None, validation_alias="ALERTMANAGER_URL")
    grafana_url: AnyHttpUrl | None = Field(None, validation_alias="GRAFANA_URL")
    grafana_prometheus_uid: str = Field("prometheus", validation_alias="GRAFANA_PROMETHEUS_UID")
    grafana_loki_uid: str = Field("loki", validation_alias="GRAFANA_LOKI_UID")
    grafana_tempo_uid: str = Field("tempo", validation_alias="GRAFANA_TEMPO_UID")
    tempo_url: AnyHttpUrl | None = Field(None, validation_alias="TEMPO_URL")
    tempo_token: SecretStr | None = Field(None, validation_alias="TEMPO_TOKEN")
    tempo_org_id: str | None = Field(None, validation_alias="TEMPO_ORG_ID")

    # escalation and automation targets (secrets per team, keyed by the team names of the YAML `escalation:`)
    pagerduty_events_url: AnyHttpUrl = Field("https://events.pagerduty.com",  # type: ignore[assignment]
                                             validation_alias="PAGERDUTY_EVENTS_URL")
    pagerduty_routing_keys: dict[str, SecretStr] = Field(default_factory=dict,
                                                         validation_alias="SRE_BOT_PAGERDUTY_ROUTING_KEYS")
    opsgenie_api_url: AnyHttpUrl = Field("https://api.opsgenie.com",  # type: ignore[assignment]
                                         validation_alias="OPSGENIE_API_URL")
    opsgenie_api_keys: dict[str, SecretStr] = Field(default_factory=dict, validation_alias="SRE_BOT_OPSGENIE_API_KEYS")
    eda_url: AnyHttpUrl | None = Field(None, validation_alias="SRE_BOT_EDA_URL")  # ansible-rulebook webhook source
    eda_token: SecretStr | None = Field(None, validation_alias="SRE_BOT_EDA_TOKEN")
    eda_hmac_secret: SecretStr | None = Field(None, validation_alias="SRE_BOT_EDA_HMAC_SECRET")

    # Query limits
    backend_timeout_s: float = Field(10.0, gt=0, le=300, validation_alias="SRE_BOT_BACKEND_TIMEOUT")
    max_points: int = Field(240, ge=10, le=11000, validation_alias="SRE_BOT_MAX_POINTS")
    log_line_limit: int = Field(500, ge=1, le=5000, validation_alias="SRE_BOT_LOG_LINE_LIMIT")
    default_window: str = Field("1h", validation_alias="SRE_BOT_DEFAULT_WINDOW")
    # One deadline for a whole answer (every backend read of an investigation or `/sre status` ends by then)
    answer_deadline_s: float = Field(15.0, ge=2, le=600, validation_alias="SRE_BOT_ANSWER_DEADLINE")
    prometheus_threads: int = Field(16, ge=1, le=256, validation_alias="SRE_BOT_PROMETHEUS_THREADS")
    # how long a Prometheus call may wait for one of those threads before it is a gap in the answer
    prometheus_queue_timeout_s: float = Field(5.0, gt=0, le=300, validation_alias="SRE_BOT_PROMETHEUS_QUEUE_TIMEOUT")
    # investigations waiting for a slot beyond this many are refused with a "busy, try again" reply
    investigation_queue: int = Field(100, ge=1, le=10000, validation_alias="SRE_BOT_INVESTIGATION_QUEUE")

    # Load: CPU-bound analysis runs in worker processes (0: one worker thread), so the event loop stays free
    analysis_processes: int | None = Field(None, ge=0, le=64, validation_alias="SRE_BOT_ANALYSIS_PROCESSES")
    max_investigations: int = Field(2, ge=1, le=64, validation_alias="SRE_BOT_MAX_INVESTIGATIONS")

    # Confidence: the probability each hypothesis is the root cause (README: "What the confidence means")
    abstain_below: float | None = Field(None, ge=0, le=1, validation_alias="SRE_BOT_ABSTAIN_BELOW")
    calibration_file: Path | None = Field(None, validation_alias="SRE_BOT_CALIBRATION")

    # LLM (optional)
    anthropic_api_key: SecretStr | None = Field(None, validation_alias="ANTHROPIC_API_KEY")
    anthropic_model: str = Field(DEFAULT_MODEL, validation_alias="ANTHROPIC_MODEL")
    anthropic_base_url: AnyHttpUrl | None = Field(None, validation_alias="ANTHROPIC_BASE_URL")
    llm_max_steps: int = Field(8, ge=2, le=30, validation_alias="SRE_BOT_LLM_MAX_STEPS")
    llm_deadline_s: float = Field(90.0, gt=1, le=900, validation_alias="SRE_BOT_LLM_DEADLINE")
    llm_max_retries: int = Field(2, ge=0, le=8, validation_alias="SRE_BOT_LLM_MAX_RETRIES")
    llm_request_timeout_s: float = Field(60.0, gt=0, le=600, validation_alias="SRE_BOT_LLM_REQUEST_TIMEOUT")
    llm_max_output_tokens: int = Field(4096, ge=256, le=16000, validation_alias="SRE_BOT_LLM_MAX_OUTPUT_TOKENS")
    llm_input_budget_tokens: int = Field(60000, ge=4000, le=900000, validation_alias="SRE_BOT_LLM_INPUT_BUDGET")
    llm_tool_result_tokens: int = Field(2500, ge=200, le=50000, validation_alias="SRE_BOT_LLM_TOOL_RESULT_TOKENS")
    llm_price_input: float = Field(3.0, ge=0, validation_alias="SRE_BOT_LLM_PRICE_INPUT")  # USD per million tokens
    llm_price_output: float = Field(15.0, ge=0, validation_alias="SRE_BOT_LLM_PRICE_OUTPUT")
    llm_price_cache_write: float = Field(3.75, ge=0, validation_alias="SRE_BOT_LLM_PRICE_CACHE_WRITE")
    llm_price_cache_read: float = Field(0.30, ge=0, validation_alias="SRE_BOT_LLM_PRICE_CACHE_READ")
    llm_redact_ips: bool = Field(False, validation_alias="SRE_BOT_REDACT_IPS")
    llm_redact_emails: bool = Field(True, validation_alias="SRE_BOT_REDACT_EMAILS")
    llm_audit_path: Path | None = Field(None, validation_alias="SRE_BOT_LLM_AUDIT_PATH")
    prompts_dir: Path | None = Field(None, validation_alias="SRE_BOT_PROMPTS_DIR")

    # Actions, approvals and the audit trail
    db_url: str = Field("sqlite+aiosqlite:///sre-bot.db", validation_alias="SRE_BOT_DB_URL")
    db_pool_size: int = Field(10, ge=1, le=500, validation_alias="SRE_BOT_DB_POOL_SIZE")
    db_pool_overflow: int = Field(20, ge=0, le=1000, validation_alias="SRE_BOT_DB_POOL_OVERFLOW")
    kill_switch: bool = Field(False, validation_alias="SRE_BOT_KILL_SWITCH")
    webhook_secrets: dict[str, SecretStr] = Field(default_factory=dict, validation_alias="SRE_BOT_WEBHOOK_SECRETS")

    # Alertmanager → bot (POST /alertmanager): a bearer token and/or basic auth; neither set: the endpoint is off
    alert_webhook_token: SecretStr | None = Field(None, validation_alias="SRE_BOT_ALERTMANAGER_TOKEN")
    alert_webhook_user: str | None = Field(None, validation_alias="SRE_BOT_ALERTMANAGER_USER")
    alert_webhook_password: SecretStr | None = Field(None, validation_alias="SRE_BOT_ALERTMANAGER_PASSWORD")
    alert_webhook_max_bytes: int = Field(16 * 2**20, ge=2**16, le=2**30,
                                         validation_alias="SRE_BOT_ALERTMANAGER_MAX_BYTES")
    # How often the incident processor rediscovers the topology alerts are grouped by (call-graph metrics, Argo CD
    # applications, learned ties); 0: never, only the configured depends_on
    topology_refresh_s: int = Field(300, ge=0, le=86400, validation_alias="SRE_BOT_TOPOLOGY_REFRESH")

    @field_validator("slack_api_url")
    @classmethod
    def _slash(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return v if v.endswith("/") else v + "/"

    @field_validator("webhook_secrets", "pagerduty_routing_keys", "opsgenie_api_keys", mode="before")
    @classmethod
    def _json_object(cls, v: object) -> object:
        if isinstance(v, str):
            try:
                v = json.loads(v)
            except ValueError:
                raise ValueError('must be a JSON object: {"name": "secret"}') from None
        return v

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None


def format_validation_error(err: ValidationError, *, where: str) -> str:
    lines = [f"invalid {where}:"]
    for e in err.errors():
        loc = ".".join(str(p) for p in e.get("loc", ())) or "(root)"
        lines.append(f"  {loc}: {e.get('msg')}")
    return "\n".join(lines)


def load_settings(env_file: str | Path | None = ".env", **overrides: object) -> Settings:
    """Build settings from the environment (and `env_file`); raise ConfigError naming each bad field."""
    try:
        return Settings(_env_file=env_file, **overrides)  # type: ignore[arg-type]
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, where="settings (environment / .env)")) from None
