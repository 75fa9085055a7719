"""`sre-bot serve`: the HTTP server (health, metrics, and Slack events in HTTP mode) plus Socket Mode when
SLACK_APP_TOKEN is set. Runs until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import signal

from aiohttp import web

from ..alert_webhook import alertmanager_handler
from ..compose import open_deps
from ..deps import Deps
from ..logging import get_logger
from ..settings import Settings
from ..slack.app import build_app
from ..slack.deploys import run_deploys
from ..slack.http import slack_events_handler
from ..slack.incidents import run_incidents
from ..slack.socket import start_socket_mode
from ..slack.sweeper import run_sweeper
from ..web import build_web_app

__all__ = ["serve"]

log = get_logger(__name__)


# Collect the young generation every 10,000 net allocations rather than CPython's 700: an answer allocates many
# short-lived objects (log lines, points, evidence), and fewer, larger young collections cost less in total.
GC_YOUNG_THRESHOLD = 10_000


def _settle_garbage_collector() -> None:
    """Keep the cyclic garbage collector from stopping the event loop for long.

    A full collection stops everything, the loop included, and scans every tracked object; after start-up most of
    them (~300k: modules, config, the Slack app) live as long as the process. They are collected once now and
    then frozen out of later collections (`gc.freeze`), so a full collection scans only what answers create
    (measured under ten concurrent mentions: the longest loop stall fell from ~220 ms to ~60 ms)."""
    gc.collect()
    gc.freeze()
    _, mid, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, mid, old)


# Imported on demand (start-up stays short) but loaded in a thread once serving, so the first deploy verdict does not
# stop the event loop for the ~0.6 s scipy.stats takes to import.
_HEAVY = ("numpy", "scipy.stats")


def _import_heavy() -> None:
    for name in _HEAVY:
        try:
            importlib.import_module(name)
        except ImportError as e:  # pragma: no cover - a broken install shows up where the module is used
            log.warning("could not preload a module", module=name, error=str(e))


async def _warm_up(deps: Deps) -> None:
    if deps.offload is not None:
        try:
            await deps.offload.warm_up()
        except Exception as e:  # the first investigation tries again (and says so if it cannot)
            log.error("the analysis workers did not start", error=str(e) or type(e).__name__)
    await asyncio.to_thread(_import_heavy)


async def serve(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with open_deps(settings, use_store=True) as deps:
        bolt = build_app(deps)
        sweeper = asyncio.create_task(run_sweeper(bolt.client, deps, stop))
        wake = asyncio.Event()
        incidents = asyncio.create_task(run_incidents(bolt.client, deps, stop, wake))
        watch = deps.config.deploys.enabled and deps.argocd is not None and deps.prometheus is not None
        deploys = asyncio.create_task(run_deploys(bolt.client, deps, stop)) if watch else None
        events = None if settings.socket_mode else slack_events_handler(bolt, deps)
        runner = web.AppRunner(build_web_app(deps, events, alertmanager_handler(deps, notify=wake.set)),
                               access_log=None)
        await runner.setup()
        _settle_garbage_collector()
        site = web.TCPSite(runner, settings.http_host, settings.http_port)
        await site.start()
        # once serving (healthy in well under a second): the analysis workers start now, not inside the first
        # investigation (~1 s, off the loop), and the modules loaded on demand are loaded in a thread
        warm = asyncio.create_task(_warm_up(deps), name="sre-bot warm-up")
        socket = None
        try:
            if settings.socket_mode:
                socket = await start_socket_mode(bolt, settings)
            log.info("serving", mode="socket" if settings.socket_mode else "http", host=settings.http_host,
                     store=deps.store.where if deps.store else None,
                     port=settings.http_port, services=len(deps.config.services),
                     backends=[n for n in ("prometheus", "loki", "argocd", "alertmanager") if getattr(deps, n)])
            await stop.wait()
        finally:
            stop.set()
            await sweeper
            await incidents
            if deploys is not None:
                await deploys
            if socket is not None:
                await socket.close_async()
            await runner.cleanup()
            await warm
            log.info("stopped")
