"""A real Alertmanager (Debian `prometheus-alertmanager`) on a free loopback port, with the config a test gives.

    with alertmanager(tmp_path, ALERTMANAGER_YML) as url: ...
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.fakes import free_port

__all__ = ["alertmanager", "NO_RECEIVERS"]

NO_RECEIVERS = "route:\n  receiver: none\nreceivers:\n  - name: none\n"


def _binary() -> str:
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if not binary:
        msg = "prometheus-alertmanager not installed (apt-get install -y prometheus-alertmanager)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(msg + "; CI is set, so the real-Alertmanager tests must run", pytrace=False)
        pytest.skip(msg)
    return binary


@contextmanager
def alertmanager(workdir: Path, config: str = NO_RECEIVERS) -> Iterator[str]:
    """Start Alertmanager with `config` (YAML text), wait until ready, yield its URL; stop it afterwards."""
    binary = _binary()
    (workdir / "am.yml").write_text(config)
    url = f"http://127.0.0.1:{free_port()}"
    with (workdir / "am.log").open("wb") as log:
        proc = subprocess.Popen([binary, f"--config.file={workdir / 'am.yml'}", f"--storage.path={workdir / 'data'}",
                                 f"--web.listen-address={url[7:]}", "--cluster.listen-address=", "--log.level=warn"],
                                stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"alertmanager did not start:\n{(workdir / 'am.log').read_text()}")
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
