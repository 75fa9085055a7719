"""The composition root: settings and config in, every client built once, frozen `Deps` out.

`open_deps` owns one long-lived HTTP client per external system (an `httpx.AsyncClient` each for Loki, Argo CD,
Alertmanager and Tempo, one for webhooks and paging; the Prometheus client's session and worker threads; one
`aiohttp` session for Slack, `slack/session.py`), the analysis workers (`services/offload.py`), and closes them on
exit. Nothing else in the package constructs a client.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import replace
from typing import TYPE_CHECKING

import httpx

from .backends._http import MAX_IN_FLIGHT
from .backends.alertmanager import AlertmanagerBackend
from .backends.argocd import ArgoCDBackend
from .backends.eda import EDABackend
from .backends.loki import LokiBackend
from .backends.opsgenie import OpsgenieBackend
from .backends.pagerduty import PagerDutyBackend
from .backends.prometheus import PrometheusBackend
from .backends.tempo import TempoBackend
from .backends.webhook import WebhookBackend
from .clock import Clock, system_clock
from .config import Config, load_config
from .deps import Deps
from .errors import ConfigError, UsageError
from .links import Links
from .metrics import Metrics
from .runbooks.loader import build_library
from .services.confidence import calibration_for
from .services.offload import Offload, default_processes
from .settings import Settings
from .windows import parse_duration

if TYPE_CHECKING:
    from .llm.client import LLM

__all__ = ["open_deps"]


def _secret(v: object) -> str | None:
    return v.get_secret_value() if v is not None else None  # type: ignore[attr-defined]


def _url(v: object) -> str | None:
    return str(v).rstrip("/") if v is not None else None


def _set_url(v: object) -> str:
    """A URL setting already known to be set."""
    return str(v).rstrip("/")


def _eda(s: Settings, client: httpx.AsyncClient, m: Metrics) -> EDABackend | None:
    """The ansible-rulebook webhook source; an event without its token and HMAC secret would run for anyone."""
    if s.eda_url is None:
        return None
    if s.eda_token is None or s.eda_hmac_secret is None:
        raise ConfigError("invalid settings: SRE_BOT_EDA_URL is set, so SRE_BOT_EDA_TOKEN and "
                          "SRE_BOT_EDA_HMAC_SECRET must be too (the webhook source's `token` and `hmac_secret`)")
    return EDABackend(client, str(s.eda_url), token=s.eda_token.get_secret_value(),
                      hmac_secret=s.eda_hmac_secret.get_secret_value(), metrics=m)


@asynccontextmanager
async def open_deps(
    settings: Settings,
    *,
    config: Config | None = None,
    clock: Clock = system_clock,
    metrics: Metrics | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    use_llm: bool = True,
    use_store: bool = False,
) -> AsyncIterator[Deps]:
    """Build every client from `settings`; `config` defaults to the YAML file named by SRE_BOT_CONFIG.

    `use_store` opens the store (SRE_BOT_DB_URL, migrated to the newest schema): the long-running bot needs it
    for approvals, the audit trail and the kill switch; one-shot commands do not.
    """
    cfg = config if config is not None else load_config(settings.config_path)
    try:
        default_window = parse_duration(settings.default_window)
    except UsageError as e:
        raise ConfigError(f"invalid settings: SRE_BOT_DEFAULT_WINDOW: {e}") from None
    calibration_for(settings)  # a team's calibration file that cannot be read stops the start, not an answer
    m = metrics or Metrics()
    s = settings
    async with AsyncExitStack() as stack:
        def new_client(verify: bool = True) -> httpx.AsyncClient:
            return httpx.AsyncClient(timeout=httpx.Timeout(s.backend_timeout_s), transport=transport, verify=verify,
                                     follow_redirects=False,  # as many kept-alive connections as requests at once
                                     limits=httpx.Limits(max_connections=MAX_IN_FLIGHT,
                                                         max_keepalive_connections=MAX_IN_FLIGHT))

        client = await stack.enter_async_context(new_client())  # webhooks, runbook checks, paging, EDA
        # One client (one connection pool) per monitored system: a slow Loki cannot use up Argo CD's connections,
        # and each pool stays small. Argo CD often sits behind a self-signed certificate: only its client may skip
        # verification.
        loki_client = await stack.enter_async_context(new_client()) if s.loki_url else client
        argo_client = await stack.enter_async_context(new_client(s.argocd_verify_tls)) if s.argocd_url else client
        am_client = await stack.enter_async_context(new_client()) if s.alertmanager_url else client
        tempo_client = await stack.enter_async_context(new_client()) if s.tempo_url else client
        slack = None
        if s.slack_bot_token is not None:  # one aiohttp session for every Slack call, built on first use
            from .slack.session import SlackSession

            slack = SlackSession()
            stack.push_async_callback(slack.close)
        prometheus = None
        if s.prometheus_url:
            prometheus = PrometheusBackend(
                _set_url(s.prometheus_url), timeout=s.backend_timeout_s, max_points=s.max_points,
                token=_secret(s.prometheus_token), public_url=_url(s.prometheus_public_url), metrics=m,
                threads=s.prometheus_threads, queue_timeout=s.prometheus_queue_timeout_s,
            )
            stack.callback(prometheus.close)  # its requests session is the one client not owned by httpx
        # CPU-bound analysis off the event loop (worker processes start on first use)
        offload = Offload(s.analysis_processes if s.analysis_processes is not None else default_processes(),
                          investigations=s.max_investigations)
        stack.callback(offload.close)
        admission = offload.admission  # read when /metrics is scraped
        m.investigations.labels("running").set_function(lambda: admission.in_progress)
        m.investigations.labels("waiting").set_function(lambda: admission.in_line)
        # The model client (anthropic, a second of imports) and the store (SQLAlchemy, alembic) are imported only
        # when they are used, so one-shot commands without a key start fast.
        llm: LLM | None = None
        if use_llm and s.anthropic_api_key is not None:
            from .llm.client import open_llm

            llm = await stack.enter_async_context(open_llm(s, cfg, m))
        store = None
        if use_store:
            from .llm.conversation import Conversations
            from .store.store import open_store

            store = await open_store(s.db_url, pool_size=s.db_pool_size, max_overflow=s.db_pool_overflow)
            stack.push_async_callback(store.close)
            if llm is not None:  # threads' conversations in the store: replicas and restarts continue them
                llm = replace(llm, conversations=Conversations(store.conversations,
                                                               max_tokens=llm.limits.input_budget))
        off = ("--no-llm was given" if not use_llm else "ANTHROPIC_API_KEY is not set")
        yield Deps(
            settings=s, config=cfg, metrics=m, clock=clock, default_window=default_window,
            llm=llm, llm_off_reason=off,
            links=Links(grafana_url=_url(s.grafana_url), prometheus_uid=s.grafana_prometheus_uid,
                        loki_uid=s.grafana_loki_uid, tempo_uid=s.grafana_tempo_uid, tempo_url=_url(s.tempo_url)),
            prometheus=prometheus,
            loki=LokiBackend(loki_client, _set_url(s.loki_url), org_id=s.loki_org_id,
                             token=_secret(s.loki_token), metrics=m) if s.loki_url else None,
            argocd=ArgoCDBackend(argo_client, _set_url(s.argocd_url), token=_secret(s.argocd_token), metrics=m)
            if s.argocd_url else None,
            tempo=TempoBackend(tempo_client, _set_url(s.tempo_url), org_id=s.tempo_org_id,
                               token=_secret(s.tempo_token), metrics=m) if s.tempo_url else None,
            alertmanager=AlertmanagerBackend(am_client, _set_url(s.alertmanager_url), metrics=m)
            if s.alertmanager_url else None,
            store=store,
            webhook=WebhookBackend(client, metrics=m) if cfg.actions.webhooks else None,
            # paging: built when any team has a key (the key is passed per call, looked up by team)
            pagerduty=PagerDutyBackend(client, _set_url(s.pagerduty_events_url), metrics=m)
            if s.pagerduty_routing_keys else None,
            opsgenie=OpsgenieBackend(client, _set_url(s.opsgenie_api_url), metrics=m) if s.opsgenie_api_keys else None,
            eda=_eda(s, client, m),
            runbooks=build_library(cfg, client, m),  # ConfigError when a runbook is invalid
            offload=offload,
            slack=slack,
        )
