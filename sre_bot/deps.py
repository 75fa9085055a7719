"""The frozen dependencies every service and tool receives (built once by `compose.py`).

A backend that is not configured is `None`: tools turn that into a plain "not configured" gap in the answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from .clock import Clock, system_clock
from .config import Config
from .links import Links
from .metrics import Metrics
from .runbooks.library import RunbookLibrary
from .settings import Settings

if TYPE_CHECKING:
    from .backends.alertmanager import AlertmanagerBackend
    from .backends.argocd import ArgoCDBackend
    from .backends.eda import EDABackend
    from .backends.loki import LokiBackend
    from .backends.opsgenie import OpsgenieBackend
    from .backends.pagerduty import PagerDutyBackend
    from .backends.prometheus import PrometheusBackend
    from .backends.tempo import TempoBackend
    from .backends.webhook import WebhookBackend
    from .llm.client import LLM
    from .services.offload import Offload
    from .slack.session import SlackSession
    from .store.store import Store

__all__ = ["Deps"]


@dataclass(frozen=True)
class Deps:
    settings: Settings
    config: Config
    metrics: Metrics = field(default_factory=Metrics)
    clock: Clock = system_clock
    links: Links = field(default_factory=Links)
    prometheus: PrometheusBackend | None = None
    loki: LokiBackend | None = None
    argocd: ArgoCDBackend | None = None
    alertmanager: AlertmanagerBackend | None = None
    default_window: timedelta = timedelta(hours=1)
    llm: LLM | None = None  # None: no ANTHROPIC_API_KEY (or --no-llm); the engine answers alone
    llm_off_reason: str = "ANTHROPIC_API_KEY is not set"
    store: Store | None = None  # approvals, audit, kill switch; None in one-shot commands (`ask`)
    webhook: WebhookBackend | None = None
    runbooks: RunbookLibrary = field(default_factory=RunbookLibrary)  # loaded at start; empty: none configured
    offload: Offload | None = None  # where CPU-bound analysis runs (off the event loop); None: in place
    tempo: TempoBackend | None = None
    pagerduty: PagerDutyBackend | None = None  # None: no team has a routing key
    opsgenie: OpsgenieBackend | None = None  # None: no team has an API key
    eda: EDABackend | None = None  # None: SRE_BOT_EDA_URL is not set
    slack: SlackSession | None = None  # the one HTTP session to Slack (Web API, response_url); None: no bot token
