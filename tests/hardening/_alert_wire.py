"""`POST /alertmanager` over a raw TCP socket, written the way a slow or chunking sender writes it, and realistic
Alertmanager bodies of any size (kube-prometheus alerts: about 1.2 KB each, with fingerprints computed as
Alertmanager computes them).

    status, body = await send_raw(bot.url, payload, token=TOKEN, pieces=5, pause=0.02)
    status, body = await send_raw(bot.url, payload, token=TOKEN, chunked=True, pieces=7)
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import structlog

from sre_bot.alert_payloads import fingerprint
from tests.fakes.slack_api import FakeSlack
from tests.harness import BotUnderTest, running_bot

T = TypeVar("T")

__all__ = ["RawResponse", "send_raw", "realistic_body", "split", "LogCapture", "capture_logs", "BotThread"]

_EXPR = ('max_over_time(kube_pod_container_status_waiting_reason{reason="CrashLoopBackOff",'
         'job="kube-state-metrics"}[5m]) >= 1')


class RawResponse:
    """The status and JSON body of one HTTP/1.1 response read off the socket."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"RawResponse({self.status}, {self.body[:300]!r})"


def split(data: bytes, pieces: int) -> list[bytes]:
    """`data` in `pieces` nearly equal consecutive parts (none empty unless `data` is shorter)."""
    size = max(1, -(-len(data) // max(1, pieces)))
    return [data[i:i + size] for i in range(0, len(data), size)] or [b""]


async def _read_response(reader: asyncio.StreamReader) -> RawResponse:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            body += chunk[:-2]
    else:
        body = await reader.read()
    return RawResponse(status, headers, body)


async def send_raw(url: str, payload: bytes, *, token: str | None, pieces: int = 1, pause: float = 0.0,
                   chunked: bool = False, path: str = "/alertmanager", extra_headers: dict[str, str] | None = None,
                   authorization: str | None = None, content_type: str | None = "application/json",
                   timeout: float = 60.0) -> RawResponse:
    """POST `payload` in `pieces` separate socket writes with `pause` seconds between them (each piece one chunk
    when `chunked`), then read the whole response (also when the server answers and hangs up before the body is
    all written, as it does for a body over the limit). The connection is closed afterwards. `authorization` is
    sent as the header as it is; `token` as a bearer credential."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        head = [f"POST {path} HTTP/1.1", f"Host: {parts.hostname}:{parts.port}", "User-Agent: Alertmanager/0.28.1",
                "Connection: close"]
        if content_type is not None:
            head.append(f"Content-Type: {content_type}")
        if authorization is not None:
            head.append(f"Authorization: {authorization}")
        elif token is not None:
            head.append(f"Authorization: Bearer {token}")
        extra = extra_headers or {}
        if not any(k.lower() in ("content-length", "transfer-encoding") for k in extra):
            head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {len(payload)}")
        head += [f"{k}: {v}" for k, v in extra.items()]
        with suppress(ConnectionError):
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
            await writer.drain()
            for i, piece in enumerate(split(payload, pieces)):
                if i and pause:
                    await asyncio.sleep(pause)
                writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n" if chunked else piece)
                await writer.drain()
            if chunked:
                writer.write(b"0\r\n\r\n")
                await writer.drain()
        return await asyncio.wait_for(_read_response(reader), timeout)
    finally:
        writer.close()
        with suppress(ConnectionError, OSError):
            await writer.wait_closed()


def _alert(i: int, *, status: str) -> dict[str, Any]:
    pod = f"payment-{i // 97:06x}{i % 97:02d}-x{i:05d}"
    labels = {"alertname": "KubePodCrashLooping", "container": "payment", "endpoint": "http",
              "instance": f"10.42.{i // 250 % 256}.{i % 250}:8080", "job": "kube-state-metrics", "namespace": "shop",
              "pod": pod, "prometheus": "monitoring/k8s", "reason": "CrashLoopBackOff",
              "service": "kube-prometheus-stack-kube-state-metrics", "severity": "warning",
              "uid": f"6f0c{i:08x}-1c2e-4d5b-9e57-{i:012x}"}
    return {
        "status": status, "labels": labels,
        "annotations": {
            "description": f'Pod shop/{pod} (payment) is in waiting state (reason: "CrashLoopBackOff").',
            "runbook_url": "https://runbooks.prometheus-operator.dev/runbooks/kubernetes/kubepodcrashlooping",
            "summary": "Pod is crash looping."},
        "startsAt": f"2026-11-21T05:{i // 60 % 60:02d}:{i % 60:02d}.{i % 1000:03d}Z",
        "endsAt": "2026-11-21T07:00:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus-k8s-0:9090/graph?g0.expr=" + quote(_EXPR, safe="") + "&g0.tab=1",
        "fingerprint": fingerprint(labels)}


def realistic_body(alerts: int, *, status: str = "firing") -> dict[str, Any]:
    """One webhook v4 notification of `alerts` kube-prometheus crash-loop alerts, as Alertmanager sends it."""
    group = {"alertname": "KubePodCrashLooping", "namespace": "shop"}
    return {"receiver": "sre-bot", "status": status, "alerts": [_alert(i, status=status) for i in range(alerts)],
            "groupLabels": group, "commonLabels": {**group, "severity": "warning"}, "commonAnnotations": {},
            "externalURL": "http://alertmanager.example.local:9093", "version": "4",
            "groupKey": '{}:{alertname="KubePodCrashLooping", namespace="shop"}', "truncatedAlerts": 0}


@dataclass
class LogCapture:
    """What was logged while capturing: structlog entries (dicts) and standard-library records (aiohttp's own)."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    records: list[logging.LogRecord] = field(default_factory=list)

    def events(self, level: str | None = None) -> list[str]:
        return [e["event"] for e in self.entries if level is None or e.get("log_level") == level]

    def tracebacks(self) -> list[str]:
        """Every entry or record that carries an exception or is an error from the server itself."""
        bad = [f"{e.get('log_level')}: {e.get('event')}" for e in self.entries
               if e.get("exc_info") or e.get("exception")]
        bad += [f"{r.name} {r.levelname}: {r.getMessage()}" for r in self.records
                if r.exc_info or (r.name.startswith("aiohttp") and r.levelno >= logging.ERROR)]
        return bad


class _Records(logging.Handler):
    def __init__(self, into: list[logging.LogRecord]) -> None:
        super().__init__(logging.DEBUG)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record)


@contextmanager
def capture_logs() -> Iterator[LogCapture]:
    """Capture structlog entries and standard-library log records (tracebacks included) for the block."""
    records: list[logging.LogRecord] = []
    handler, root = _Records(records), logging.getLogger()
    root.addHandler(handler)
    try:
        with structlog.testing.capture_logs() as entries:
            yield LogCapture(entries, records)
    finally:
        root.removeHandler(handler)


class BotThread:
    """The real bot (`running_bot`) on its own event loop in a thread, for synchronous tests such as Hypothesis's:
    `with BotThread(fake, **env) as t: t.call(send_raw(t.bot.url, ...))` runs a coroutine on that loop."""

    def __init__(self, fake: FakeSlack, **env: str) -> None:
        self._fake, self._env = fake, env
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="bot-under-test", daemon=True)
        self._cm: Any = None
        self.bot: BotUnderTest

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def __enter__(self) -> BotThread:
        self._thread.start()
        self._cm = running_bot(self._fake, incidents=False, **self._env)
        self.bot = self.call(self._cm.__aenter__())
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.call(self._cm.__aexit__(None, None, None))
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()
