"""A real Prometheus for tests: OpenMetrics history in, the URL of a running `prometheus` out.

    url = real_prometheus(openmetrics_text)          # the session fixture (tests/conftest.py), cached per text
    with prometheus_server(openmetrics_text) as url:  # or standalone, e.g. from a benchmark or a tool
        ...

The text (OpenMetrics, ending with `# EOF`, samples with explicit timestamps) is turned into TSDB blocks with
`promtool tsdb create-blocks-from openmetrics`, then `prometheus` serves that directory on a free loopback port
with a config that scrapes nothing and a 100-year retention (so old history is never deleted). When the binaries
are missing, `require_binaries()` skips the test, or fails it when `CI` is set (CI installs them:
`apt-get install -y prometheus`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["require_binaries", "RealPrometheus", "PrometheusFactory", "prometheus_server"]

_CONFIG = "global:\n  scrape_interval: 15s\n  evaluation_interval: 15s\nscrape_configs: []\n"
_READY_TIMEOUT_S = 30.0


def require_binaries() -> tuple[str, str]:
    """Paths of `prometheus` and `promtool`; skips the test when absent (fails it when CI is set)."""
    prometheus, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if prometheus and promtool:
        return prometheus, promtool
    missing = " and ".join(n for n, p in (("prometheus", prometheus), ("promtool", promtool)) if not p)
    msg = f"{missing} not on PATH (install the Debian package: apt-get install -y prometheus)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{msg}; CI is set, so the real-Prometheus tests must run", pytrace=False)
    pytest.skip(msg)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RealPrometheus:
    """One `prometheus` process serving the blocks built from `openmetrics`, under `workdir`."""

    def __init__(self, openmetrics: str, workdir: Path) -> None:
        if not openmetrics.rstrip().endswith("# EOF"):
            raise ValueError("OpenMetrics text must end with '# EOF'")
        self.openmetrics = openmetrics
        self.workdir = workdir
        self.url = ""
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        prometheus, promtool = require_binaries()
        self.workdir.mkdir(parents=True, exist_ok=True)
        source, data, config = self.workdir / "history.om", self.workdir / "data", self.workdir / "prometheus.yml"
        source.write_text(self.openmetrics, encoding="utf-8")
        config.write_text(_CONFIG, encoding="utf-8")
        built = subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", str(source), str(data)],
                               capture_output=True, text=True, timeout=120)
        if built.returncode != 0:
            raise RuntimeError(f"promtool could not build blocks from {source}:\n{built.stdout}{built.stderr}")
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        log = (self.workdir / "prometheus.log").open("wb")
        self._proc = subprocess.Popen(
            [prometheus, f"--config.file={config}", f"--storage.tsdb.path={data}",
             "--storage.tsdb.retention.time=100y", f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)
        log.close()
        self._wait_ready()
        return self.url

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self._proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"prometheus not ready after {_READY_TIMEOUT_S:g}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        path = self.workdir / "prometheus.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def stop(self) -> None:
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(5)
        self._proc = None


class PrometheusFactory:
    """`factory(openmetrics) -> url`: one server per distinct text, all stopped by `close()`."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._servers: dict[str, RealPrometheus] = {}

    def __call__(self, openmetrics: str) -> str:
        server = self._servers.get(openmetrics)
        if server is None:
            server = RealPrometheus(openmetrics, self._root / f"prom{len(self._servers)}")
            server.start()
            self._servers[openmetrics] = server
        return server.url

    def close(self) -> None:
        for server in self._servers.values():
            server.stop()
        self._servers.clear()


@contextlib.contextmanager
def prometheus_server(openmetrics: str) -> Iterator[str]:
    """Run one real Prometheus on `openmetrics` in a temporary directory for the `with` block."""
    with tempfile.TemporaryDirectory(prefix="realprom-") as tmp:
        server = RealPrometheus(openmetrics, Path(tmp))
        try:
            yield server.start()
        finally:
            server.stop()
