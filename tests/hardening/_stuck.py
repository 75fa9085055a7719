"""Real TCP servers that stand in for a backend that is stuck: one that accepts and never answers, one that answers
very slowly (headers at once, then the body a byte at a time), and one that answers its health check but never a
query (an overloaded Prometheus). Each runs on its own thread, so a test's event loop never serves them.

    with StuckServer("silent") as prom:
        env = {"PROMETHEUS_URL": prom.url}
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from types import TracebackType
from typing import Literal, Self

__all__ = ["StuckServer", "BUILDINFO"]

Mode = Literal["silent", "slow", "queries_hang"]

BUILDINFO = json.dumps({"status": "success", "data": {"version": "2.53.0", "revision": "stuck", "branch": "HEAD",
                                                      "buildUser": "test", "buildDate": "", "goVersion": "go"}})


class StuckServer:
    """`mode`: "silent" reads requests and never answers; "slow" sends a 200 with a JSON body one byte every
    `drip` seconds; "queries_hang" answers `/api/v1/status/buildinfo` at once and nothing else.
    `.connections` counts accepted connections."""

    def __init__(self, mode: Mode, *, drip: float = 1.0) -> None:
        self.mode = mode
        self.drip = drip
        self.connections = 0
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(512)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._stop = threading.Event()
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, name=f"stuck-{mode}", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        self._sock.close()
        with self._lock:
            for c in self._open:
                with contextlib.suppress(OSError):
                    c.close()

    def _accept(self) -> None:
        self._sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            with self._lock:
                self.connections += 1
                self._open.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(0.5)
        buf = b""
        try:
            while not self._stop.is_set():
                try:
                    data = conn.recv(65536)
                except TimeoutError:
                    continue
                if not data:
                    return
                buf += data
                while b"\r\n\r\n" in buf:
                    head, buf = buf.split(b"\r\n\r\n", 1)
                    path = head.split(b" ", 2)[1].decode() if head.count(b" ") >= 2 else ""
                    self._answer(conn, path)
        except OSError:
            return

    def _answer(self, conn: socket.socket, path: str) -> None:
        if self.mode == "queries_hang" and path.startswith("/api/v1/status/buildinfo"):
            body = BUILDINFO.encode()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                         + str(len(body)).encode() + b"\r\n\r\n" + body)
            return
        if self.mode != "slow":
            while not self._stop.wait(0.5):  # hold the connection, say nothing
                pass
            return
        body = json.dumps({"status": "success", "data": {"resultType": "matrix", "result": []}}).encode()
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                     + str(len(body)).encode() + b"\r\n\r\n")
        for i in range(len(body)):
            if self._stop.wait(self.drip):
                return
            conn.sendall(body[i:i + 1])
