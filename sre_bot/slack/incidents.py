"""The incident loop: process the alert inbox, then keep one Slack message per incident current.

    wake = asyncio.Event()                       # the Alertmanager webhook sets it after storing a notification
    await run_incidents(client, deps, stop, wake)

Each cycle: `IncidentProcessor.step()` until the inbox is empty (only the replica holding the lease does work),
then every incident whose message is missing or behind is posted (`chat.postMessage`, once: its ts is stored) or
redrawn (`chat.update`); alerts that joined, resolved or fired again since the last note are summarised in the
thread, at most once per `incidents.every` per incident. A new incident's root service is investigated in the
background and the answer posted in its thread. Slack failures are logged and retried with a backoff; the store
keeps what is still to publish, so a restart carries on with the same messages.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from ..deps import Deps
from ..errors import UsageError
from ..incidents.briefs import brief
from ..incidents.investigate import investigate_incident, investigation_target
from ..incidents.processor import IncidentProcessor
from ..llm.incident_advice import incident_advice
from ..llm.oneshot import OneShotUnavailable
from ..logging import get_logger
from ..runbooks.match import match_runbooks
from ..store.errors import StoreError
from ..store.incidents import StoredIncident
from .approvals import post_request
from .feedback import post_answer
from .incident_blocks import METADATA_EVENT, batch_blocks, incident_blocks
from .render import escape
from .runbooks import post_runbook_suggestions

__all__ = ["IncidentPublisher", "run_incidents", "cycle"]

log = get_logger(__name__)

DEBOUNCE_S = 0.5  # after a wake-up, process once no notification arrived for this long …
SETTLE_MAX_S = 3.0  # … or this long after the first, whichever comes first
MAX_BACKOFF_S = 600.0


@dataclass
class _Retry:
    failures: int = 0
    not_before: float = 0.0


@dataclass
class IncidentPublisher:
    client: AsyncWebClient
    deps: Deps
    _last_note: dict[str, float] = field(default_factory=dict)
    _drawn: dict[str, int] = field(default_factory=dict)  # the version each message was last redrawn at
    _retry: dict[str, _Retry] = field(default_factory=dict)
    _investigating: dict[str, asyncio.Task[None]] = field(default_factory=dict)  # background work by kind:key

    async def publish(self) -> int:
        """Post or redraw every incident that is behind; returns how many were brought up to date."""
        store = self.deps.store
        assert store is not None
        done = 0
        for s in await store.incidents.to_publish():
            retry = self._retry.get(s.key)
            if retry is not None and time.monotonic() < retry.not_before:
                continue
            try:
                await self._one(s)
                self._retry.pop(s.key, None)
                done += 1
            except SlackApiError as e:
                r = self._retry.setdefault(s.key, _Retry())
                r.failures += 1
                delay = min(MAX_BACKOFF_S, 2.0 ** r.failures)
                r.not_before = time.monotonic() + delay
                log.error("incident message not published; retrying", incident=s.number, channel=s.channel,
                          error=e.response.get("error"), retry_in_s=delay)
        return done

    async def _numbers(self, s: StoredIncident) -> dict[str, int]:
        store = self.deps.store
        assert store is not None
        keys = ({s.incident.follows} if s.incident.follows else set()) | {r.incident for r in s.incident.related}
        out = {}
        for k in keys:
            other = await store.incidents.get(k)
            if other is not None:
                out[k] = other.number
        return out

    async def _one(self, s: StoredIncident) -> None:
        store, now = self.deps.store, self.deps.clock()
        assert store is not None and s.channel is not None
        channel = s.channel
        target = investigation_target(s, self.deps.config.dependencies())
        investigating = self.deps.config.incidents.investigate and target is not None and s.investigated_root is None
        text, blocks = incident_blocks(s, numbers=await self._numbers(s), investigating=investigating)
        if s.message_ts is None:
            await store.incidents.start_post(s.key, now=now)
            resp = await self.client.chat_postMessage(
                channel=s.channel, text=text, blocks=blocks, unfurl_links=False,
                metadata={"event_type": METADATA_EVENT, "event_payload": {"key": s.key, "number": s.number}})
            await store.incidents.set_message(s.key, ts=resp["ts"])
            await store.incidents.add_event(s.key, "posted", f"message posted in {s.channel}", now=now)
            alerts = await store.incidents.alerts(s.key)
            await store.incidents.mark_announced(s.key, [(a.event.fingerprint, a.event.status) for a in alerts])
            self._last_note[s.key] = time.monotonic()
            await store.incidents.mark_posted(s.key, s.version)
            self._drawn[s.key] = s.version
            s = s.model_copy(update={"message_ts": resp["ts"]})
            if not self._start_investigation(s):  # else the runbooks are matched with its hypotheses too
                await self._suggest_runbooks(s, [])
            self._start_task(s, "advice", self._advise(s))
            return
        if self._drawn.get(s.key) != s.version:
            await self.client.chat_update(channel=channel, ts=s.message_ts, text=text, blocks=blocks)
            self._drawn[s.key] = s.version
        caught_up = await self._note(s)
        if caught_up:
            await store.incidents.mark_posted(s.key, s.version)
        if s.investigated_root != target and not s.incident.resolved:
            self._start_investigation(s)

    async def _note(self, s: StoredIncident) -> bool:
        """Post the thread note of what changed, unless one went out less than `every` ago (then: not caught up)."""
        store = self.deps.store
        assert store is not None and s.channel and s.message_ts
        changed = [a for a in await store.incidents.alerts(s.key) if a.announced != a.event.status]
        if not changed:
            return True
        every = self.deps.config.incidents.every_delta.total_seconds()
        if time.monotonic() - self._last_note.get(s.key, 0.0) < every and not s.incident.resolved:
            return False
        joined = [a for a in changed if a.announced is None]
        resolved = [a for a in changed if a.announced is not None and a.event.status == "resolved"]
        refired = [a for a in changed if a.announced is not None and a.event.status == "firing"]
        joined_resolved = [a for a in joined if a.event.status == "resolved"]
        text, blocks = batch_blocks(s, [a for a in joined if a not in joined_resolved], resolved + joined_resolved,
                                    refired)
        await self.client.chat_postMessage(channel=s.channel, thread_ts=s.message_ts, text=text, blocks=blocks)
        await store.incidents.mark_announced(s.key, [(a.event.fingerprint, a.event.status) for a in changed])
        self._last_note[s.key] = time.monotonic()
        return True

    # -- the root-service investigation ------------------------------------------------------------------------

    def _start_investigation(self, s: StoredIncident) -> bool:
        if not self.deps.config.incidents.investigate or s.incident.resolved:
            return False  # an incident that is already over when it is first seen is kept, not investigated
        if investigation_target(s, self.deps.config.dependencies()) is None:
            return False
        self._start_task(s, "investigation", self._investigate(s))
        return True

    async def _suggest_runbooks(self, s: StoredIncident, hypotheses: list[Any]) -> None:
        """"runbook X matches: run it?" in the thread, from the firing alerts' names and the hypotheses' kinds."""
        store, runbooks = self.deps.store, self.deps.runbooks.all()
        if store is None or not runbooks or s.incident.resolved or not s.channel or not s.message_ts:
            return
        alerts = [(a.event.name, a.service) for a in await store.incidents.alerts(s.key) if a.event.status == "firing"]
        services = list(dict.fromkeys([*(h.service for h in hypotheses), *s.incident.services]))
        matches = match_runbooks(runbooks, alert_names=alerts, services=services,
                                 hypothesis_kinds=[(h.cause_kind, h.service) for h in hypotheses])[:3]
        await post_runbook_suggestions(self.client, self.deps, channel=s.channel, thread_ts=s.message_ts,
                                       matches=matches)

    def _start_task(self, s: StoredIncident, what: str, work: Any) -> None:
        key = f"{what}:{s.key}"
        if key in self._investigating:
            work.close()
            return
        task = asyncio.create_task(work)
        self._investigating[key] = task
        task.add_done_callback(lambda _: self._investigating.pop(key, None))

    async def _advise(self, s: StoredIncident) -> None:
        """With a model: ask once whether this new incident and the open ones near it should be merged or split;
        post what survives grounding in the thread as a suggestion. Nothing is applied."""
        store, llm = self.deps.store, self.deps.llm
        if llm is None or store is None or not s.channel or not s.message_ts:
            return
        near = self.deps.config.correlation.window_delta * 3
        related = {r.incident for r in s.incident.related}
        others = [o for o in await store.incidents.listing(open_only=True, limit=10) if o.key != s.key and (
            o.key in related or abs(o.incident.started_at - s.incident.started_at) <= near)][:4]
        if not others:
            return
        try:
            alerts = {x.number: (x, await store.incidents.alerts(x.key)) for x in [s, *others]}
            result = await incident_advice(llm, {n: brief(x, a) for n, (x, a) in alerts.items()},
                                           {n: {e.event.fingerprint for e in a} for n, (_, a) in alerts.items()})
        except OneShotUnavailable as e:
            log.info("no merge/split advice", incident=s.number, reason=str(e))
            return
        except Exception:
            log.exception("merge/split advice failed", incident=s.number)
            return
        for a in result.advice:
            nums = " and ".join(f"#{n}" for n in a.incidents)
            what = f"merge {nums}" if a.kind == "merge" else f"split {len(a.alerts)} alert(s) out of {nums}"
            text = (f"💡 *Suggestion from {escape(result.model)}, not applied:* {what} — {escape(a.reason)}\n"
                    f"> {escape(a.quote)}\nThe rules keep the grouping as it is; a person decides "
                    f"(`/sre incident {s.number}` shows why alerts were grouped).")
            await self.client.chat_postMessage(channel=s.channel, thread_ts=s.message_ts, text=text[:3000])
            await store.incidents.add_event(s.key, "llm_suggestion", f"model suggested: {what} ({a.reason})",
                                            now=self.deps.clock())
        if result.dropped:
            log.info("merge/split advice dropped by grounding", incident=s.number, dropped=result.dropped)

    async def _investigate(self, s: StoredIncident) -> None:
        store = self.deps.store
        assert store is not None and s.channel and s.message_ts
        try:
            done = await investigate_incident(self.deps, s)
            if done is None:
                return
            requests = [p.request for p in done.proposed if p.kind in ("approve", "auto") and p.request]
            await post_answer(self.client, self.deps, done.reply, channel=s.channel, thread_ts=s.message_ts,
                              requests=requests)  # with "Right cause?" buttons
            for req in requests:
                try:
                    await post_request(self.client, self.deps, req)
                except UsageError as e:
                    log.warning("approval request not posted", request_id=req.id, error=str(e))
            await self._suggest_runbooks(s, done.explained.engine.hypotheses)
            now = self.deps.clock()
            await store.incidents.set_investigation(s.key, root=done.target, doc=done.summary, now=now)
            top = done.summary
            what = ("insufficient evidence" if top["insufficient"]
                    else f"top hypothesis {top['service']}: {top['cause']} ({top['confidence']:.0%})")
            await store.incidents.add_event(s.key, "investigated", f"investigated {done.target}: {what}", now=now)
        except (SlackApiError, StoreError) as e:
            log.error("incident investigation not posted", incident=s.number, error=str(e))
        except Exception:
            log.exception("incident investigation failed", incident=s.number)

    async def drain(self) -> None:
        """Wait for running investigations and advice (on shutdown)."""
        if self._investigating:
            await asyncio.gather(*self._investigating.values(), return_exceptions=True)


async def _settle(wake: asyncio.Event) -> None:
    """Let a burst of notifications land before processing: wait until none arrived for DEBOUNCE_S (at most
    SETTLE_MAX_S). Alertmanager flushes every group of a storm within moments of each other, in no set order; a
    batch that holds them all is correlated in event order, so a chain's middle is never seen after its ends."""
    deadline = asyncio.get_running_loop().time() + SETTLE_MAX_S
    while wake.is_set() and asyncio.get_running_loop().time() < deadline:
        wake.clear()
        try:
            await asyncio.wait_for(wake.wait(), DEBOUNCE_S)
        except TimeoutError:
            return


async def cycle(processor: IncidentProcessor, publisher: IncidentPublisher) -> int:
    """Process the whole inbox, then publish; returns the number of alerts correlated."""
    alerts = 0
    while True:
        step = await processor.step()
        alerts += step.alerts
        if not step.held or step.bodies == 0:
            break
    if processor.lease is not None:
        await publisher.publish()
    return alerts


async def run_incidents(client: AsyncWebClient, deps: Deps, stop: asyncio.Event, wake: asyncio.Event, *,
                        processor: IncidentProcessor | None = None) -> None:
    """Until `stop`; a failed cycle is logged and the next one tries again (nothing is lost: the inbox keeps it)."""
    processor = processor or IncidentProcessor(deps)
    publisher = IncidentPublisher(client, deps)
    every = deps.config.incidents.every_delta.total_seconds()
    try:
        while not stop.is_set():
            try:
                await cycle(processor, publisher)
            except Exception:
                log.exception("incident cycle failed; retrying")
            waiter = asyncio.ensure_future(wake.wait())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({waiter, stopper}, timeout=every, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            stopper.cancel()
            if wake.is_set() and not stop.is_set():
                await _settle(wake)
    finally:
        await publisher.drain()
        try:
            await processor.release()
        except StoreError as e:
            log.warning("incident lease not released; another replica takes over when it expires", error=str(e))
