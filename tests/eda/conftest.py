"""The real ansible-rulebook (pip `ansible-rulebook`, a Java 17 runtime) started on a free loopback port with a
rulebook written by the test: its `eda.builtin.webhook` source checks the bearer token and the HMAC-SHA256
signature, and its rule runs a playbook (ansible-core, on localhost) that appends each event it gets to a file."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import free_port
from tests.store.conftest import pg_url, postgres_available  # noqa: F401

TOKEN = "eda-test-token-3f9c"
SECRET = "eda-test-hmac-secret-81d2"
BIN = Path(sys.executable).parent

RECORD_PLAYBOOK = """\
- name: record the event sre-bot sent
  hosts: localhost
  gather_facts: false
  tasks:
    - name: append it to the record file
      ansible.builtin.shell: "echo {{ {'payload': ansible_eda.event.payload, 'endpoint': ansible_eda.event.meta.endpoint,
        'headers': ansible_eda.event.meta.headers} | to_json | quote }} >> {{ out | quote }}"
"""

RULEBOOK = """\
- name: sre-bot events (test)
  hosts: all
  sources:
    - eda.builtin.webhook:
        host: 127.0.0.1
        port: {port}
        token: {token}
        hmac_secret: {secret}
  rules:
    - name: record every sre-bot event
      condition: event.payload.source == "sre-bot" or event.payload.source == "test-marker"
      action:
        run_playbook:
          name: {playbook}
          extra_vars:
            out: {out}
"""


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def java_home() -> str | None:
    """JAVA_HOME, or the home of the `java` on PATH; None when there is no Java 17+ runtime."""
    home = os.environ.get("JAVA_HOME")
    if home and Path(home, "bin", "java").exists():
        return home
    java = shutil.which("java")
    if java is None:
        for cand in sorted(Path("/usr/lib/jvm").glob("java-17-openjdk*")) if Path("/usr/lib/jvm").exists() else []:
            if (cand / "bin" / "java").exists():
                return str(cand)
        return None
    return str(Path(os.path.realpath(java)).parent.parent)


def _need(what: str, how: str) -> None:
    msg = f"{what} is missing: {how}"
    if _in_ci():
        pytest.fail(f"{msg}; CI is set, so the ansible-rulebook tests must run", pytrace=False)
    pytest.skip(msg)


def require_rulebook() -> str:
    """JAVA_HOME for ansible-rulebook; skips (fails under CI) naming what to install when it cannot run."""
    home = java_home()
    if home is None:
        _need("a Java 17 runtime (ansible-rulebook's rule engine)", "apt-get install openjdk-17-jre-headless")
    if not (BIN / "ansible-rulebook").exists() or not (BIN / "ansible-playbook").exists():
        _need("ansible-rulebook / ansible-playbook", "pip install -e '.[dev]' (ansible-rulebook, ansible-core)")
    assert home is not None
    return home


class Rulebook:
    """One ansible-rulebook process; `events()` reads what its playbook recorded."""

    def __init__(self, workdir: Path, rulebook: str, *, port: int, env: dict[str, str] | None = None,
                 args: tuple[str, ...] = ()) -> None:
        self.dir, self.port = workdir, port
        self.url = f"http://127.0.0.1:{port}/sre-bot"
        self.out = workdir / "events.jsonl"
        self.log = workdir / "ansible-rulebook.log"
        # run_playbook's private copies of the project go beside the work dir (under pytest's base temp), not in
        # /tmp, and not inside the work dir it copies
        self.tmp = workdir.parent / f"{workdir.name}-tmp"
        self.tmp.mkdir(exist_ok=True)
        (workdir / "rulebook.yml").write_text(rulebook)
        (workdir / "inventory.yml").write_text(
            "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
            f"      ansible_python_interpreter: {sys.executable}\n")
        self.env = {**os.environ, "JAVA_HOME": require_rulebook(), "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
                    "ANSIBLE_LOCAL_TEMP": str(self.tmp / "ansible"), "ANSIBLE_NOCOLOR": "1",
                    "TMPDIR": str(self.tmp), **(env or {})}
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90) -> None:
        self.proc = subprocess.Popen([str(BIN / "ansible-rulebook"), "-r", "rulebook.yml", "-i", "inventory.yml",
                                      "-v", *self.args], cwd=self.dir, env=self.env,
                                     stdout=self.log.open("ab"), stderr=subprocess.STDOUT)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise AssertionError(f"ansible-rulebook exited {self.proc.returncode}:\n{self.tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"ansible-rulebook did not listen on {self.port} within {timeout}s:\n{self.tail()}")

    def tail(self, n: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def events(self) -> list[dict[str, Any]]:
        if not self.out.exists():
            return []
        return [json.loads(line) for line in self.out.read_text().splitlines() if line.strip()]

    def wait_for(self, n: int, timeout: float = 60) -> list[dict[str, Any]]:
        """The recorded events once there are at least `n` (the playbook runs after the source answered)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            got = self.events()
            if len(got) >= n:
                return got
            time.sleep(0.1)
        raise AssertionError(f"{len(self.events())} event(s) recorded, expected {n}:\n{self.tail()}")


def start_rulebook(tmp: Path) -> Rulebook:
    port = free_port()
    rb = Rulebook(tmp, "", port=port)
    (tmp / "record.yml").write_text(RECORD_PLAYBOOK)
    (tmp / "rulebook.yml").write_text(RULEBOOK.format(port=port, token=TOKEN, secret=SECRET,
                                                      playbook=tmp / "record.yml", out=rb.out))
    rb.start()
    return rb


@pytest.fixture(scope="module")
def rulebook(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rulebook]:
    """A real ansible-rulebook for the module: webhook source with token and HMAC secret, recording playbook."""
    require_rulebook()
    rb = start_rulebook(tmp_path_factory.mktemp("eda"))
    try:
        yield rb
    finally:
        rb.stop()


def eda_env(rb: Rulebook, *, secret: str = SECRET, token: str = TOKEN) -> dict[str, str]:
    return {"SRE_BOT_EDA_URL": rb.url, "SRE_BOT_EDA_TOKEN": token, "SRE_BOT_EDA_HMAC_SECRET": secret}
