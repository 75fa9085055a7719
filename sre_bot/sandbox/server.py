"""Start the simulated servers (Prometheus, Loki, Argo CD, Alertmanager, Tempo) on loopback.

    async with Sandbox(load_scenario(), clock=frozen_clock(t)) as sb:
        sb.urls.prometheus   # http://127.0.0.1:<free port>

`Sandbox` binds loopback only (each port 0 = a free one unless `ports` says otherwise), anchors the scenario at
`now` (default: the clock's now) and keeps answering as the clock advances. A scenario's `backends:` can make a
system fail: `down` serves a 503 to every request (a proxy in front of a dead backend), `absent` serves nothing
and leaves its URL out (`urls.<name>` is None, `as_env()` omits it). `run_forever` is what
`sre-bot sandbox` runs: start, report the URLs, serve until cancelled or `stop` is set.

Beside them, always up, a PagerDuty Events v2 and an Opsgenie Alert API receiver (`pagerduty_api`, `opsgenie_api`)
take the bot's pages with the keys `as_env()` hands out, keep them in memory (`Sandbox.pagerduty.pages`,
`Sandbox.opsgenie.alerts`) and show them at `GET /sandbox/pagerduty/incidents` and `GET /sandbox/opsgenie/alerts`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from aiohttp import web

from ..clock import Clock, system_clock
from ..config import Config
from . import alertmanager_api, argocd_api, loki_api, opsgenie_api, pagerduty_api, prometheus_api, tempo_api
from .bot_config import sandbox_config, sandbox_paging_keys
from .generate import World
from .opsgenie_api import OpsgenieReceiver
from .pagerduty_api import PagerDutyReceiver
from .scenario import BackendName, Scenario

__all__ = ["Sandbox", "SandboxURLs", "SandboxPorts", "start_sandbox", "run_forever"]


@dataclass(frozen=True)
class SandboxPorts:
    prometheus: int = 0
    loki: int = 0
    argocd: int = 0
    alertmanager: int = 0
    pagerduty: int = 0  # the paging receivers (not part of a scenario: always up)
    opsgenie: int = 0
    tempo: int = 0


@dataclass(frozen=True)
class SandboxURLs:
    prometheus: str | None
    loki: str | None
    argocd: str | None
    alertmanager: str | None
    pagerduty: str | None = None  # the paging receivers' base URLs
    opsgenie: str | None = None
    tempo: str | None = None

    def as_env(self) -> dict[str, str]:
        """The settings that point sre-bot's backends at this sandbox (an `absent` backend is left out)."""
        env = {"PROMETHEUS_URL": self.prometheus, "LOKI_URL": self.loki, "ARGOCD_URL": self.argocd,
               "ALERTMANAGER_URL": self.alertmanager, "TEMPO_URL": self.tempo}
        paging = sandbox_paging_keys()
        if self.pagerduty:  # the receivers' own keys, for the team of `with_every_section`'s escalation section
            env.update(PAGERDUTY_EVENTS_URL=self.pagerduty,
                       SRE_BOT_PAGERDUTY_ROUTING_KEYS=json.dumps(paging["pagerduty"]))
        if self.opsgenie:
            env.update(OPSGENIE_API_URL=self.opsgenie, SRE_BOT_OPSGENIE_API_KEYS=json.dumps(paging["opsgenie"]))
        return {k: v for k, v in env.items() if v is not None}


def _down_app(title: str) -> web.Application:
    """Every request answers 503, as an ingress does when the backend behind it is gone."""
    async def unavailable(request: web.Request) -> web.Response:
        return web.Response(status=503, text=f"upstream connect error or disconnect/reset before headers "
                                             f"({title} is down in this scenario)\n")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", unavailable)
    return app


def _loopback(host: str) -> str:
    if host == "localhost":
        return "127.0.0.1"
    try:
        if ipaddress.ip_address(host).is_loopback:
            return host
    except ValueError:
        pass
    raise ValueError(f"the sandbox listens on loopback only (127.0.0.1 or ::1), not {host!r}")


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


class Sandbox:
    """The running simulated shop: `world` (the data), `config` (what the bot should load), `urls`."""

    def __init__(self, scenario: Scenario, *, config: Config | None = None, now: datetime | None = None,
                 clock: Clock = system_clock, host: str = "127.0.0.1", ports: SandboxPorts | None = None) -> None:
        self.scenario = scenario
        self.config = config or sandbox_config(scenario)
        self.world = World(scenario, now or clock(), clock)
        keys = sandbox_paging_keys()
        self.pagerduty = PagerDutyReceiver(keys["pagerduty"], clock=clock)  # pages kept in memory, shown at
        self.opsgenie = OpsgenieReceiver(keys["opsgenie"], clock=clock)     # /sandbox/{pagerduty,opsgenie}/…
        self.host = _loopback(host)
        self.ports = ports or SandboxPorts()
        self._runners: list[web.AppRunner] = []
        self._urls: SandboxURLs | None = None

    @property
    def urls(self) -> SandboxURLs:
        if self._urls is None:
            raise RuntimeError("the sandbox is not started")
        return self._urls

    async def start(self) -> SandboxURLs:
        if self._urls is not None:
            return self._urls
        states = self.scenario.backends
        every: tuple[BackendName, ...] = ("prometheus", "loki", "argocd", "alertmanager", "tempo")
        names = tuple(n for n in every if states.get(n) != "absent")
        socks = {}
        try:
            for n in names:
                socks[n] = _bind(self.host, getattr(self.ports, n))
        except OSError:
            for s in socks.values():
                s.close()
            raise
        hostpart = f"[{self.host}]" if ":" in self.host else self.host
        urls = {n: f"http://{hostpart}:{socks[n].getsockname()[1]}" for n in names}
        prom_url = urls.get("prometheus", "http://prometheus.sandbox:9090")
        makers = {
            "prometheus": lambda: prometheus_api.create_app(self.world, self.config),
            "loki": lambda: loki_api.create_app(self.world),
            "argocd": lambda: argocd_api.create_app(self.world),
            "alertmanager": lambda: alertmanager_api.create_app(self.world, prometheus_url=prom_url),
            "tempo": lambda: tempo_api.create_app(self.world),
        }
        apps = {n: _down_app(n) if states.get(n) == "down" else makers[n]() for n in names}
        try:
            for n in names:
                runner = web.AppRunner(apps[n], access_log=None)
                await runner.setup()
                self._runners.append(runner)
                await web.SockSite(runner, socks[n]).start()
        except BaseException:
            await self.stop()
            for s in socks.values():
                s.close()
            raise
        try:
            receivers = await self._start_receivers(hostpart)
        except BaseException:
            await self.stop()
            raise
        self._urls = SandboxURLs(**{n: urls.get(n) for n in ("prometheus", "loki", "argocd", "alertmanager",
                                                              "tempo")})
        self._urls = replace(self._urls, **receivers)
        return self._urls

    async def _start_receivers(self, hostpart: str) -> dict[str, str]:
        """The PagerDuty and Opsgenie receivers, each on its own port."""
        urls = {}
        for name, app in (("pagerduty", pagerduty_api.create_app(self.pagerduty)),
                          ("opsgenie", opsgenie_api.create_app(self.opsgenie))):
            sock = _bind(self.host, getattr(self.ports, name))
            runner = web.AppRunner(app, access_log=None)
            try:
                await runner.setup()
            except BaseException:
                sock.close()
                raise
            self._runners.append(runner)
            await web.SockSite(runner, sock).start()
            urls[name] = f"http://{hostpart}:{sock.getsockname()[1]}"
        return urls

    async def stop(self) -> None:
        runners, self._runners = self._runners, []
        for r in reversed(runners):
            await r.cleanup()
        self._urls = None

    async def __aenter__(self) -> Sandbox:
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()


async def start_sandbox(scenario: Scenario, **kwargs: Any) -> Sandbox:
    """A started `Sandbox` (same keyword arguments); the caller awaits `.stop()`."""
    sb = Sandbox(scenario, **kwargs)
    await sb.start()
    return sb


async def run_forever(scenario: Scenario, *, on_ready: Callable[[Sandbox], Awaitable[None] | None] | None = None,
                      stop: asyncio.Event | None = None, **kwargs: Any) -> None:
    """Serve until cancelled (Ctrl-C) or `stop` is set; `on_ready(sandbox)` runs once the URLs are known."""
    async with Sandbox(scenario, **kwargs) as sb:
        if on_ready is not None:
            res = on_ready(sb)
            if asyncio.iscoroutine(res):
                await res
        await (stop or asyncio.Event()).wait()
