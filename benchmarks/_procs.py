"""Child processes for the benchmarks that run the real thing (`sre-bot sandbox`, `sre-bot serve`, fakes): a clean
environment, a free port, a child stopped on exit, and reading its first lines."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shlex
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp

__all__ = ["REPO_ROOT", "env", "free_port", "child", "read_until", "wait_healthy", "unquoted",
           "sandbox_exports"]

REPO_ROOT = Path(__file__).resolve().parent.parent
# the calling shell's sre-bot, Slack, model and backend settings never leak into a measured process
_ENV_DROP = re.compile(r"^(SRE_BOT_|ANTHROPIC_|SLACK_|PROMETHEUS_|LOKI_|ARGOCD_|ALERTMANAGER_|GRAFANA_|TEMPO_|"
                       r"PAGERDUTY_|OPSGENIE_)")


def env(**extra: str) -> dict[str, str]:
    """This environment without any sre-bot, Slack, model or backend setting of the calling shell, plus `extra`."""
    out = {k: v for k, v in os.environ.items() if not _ENV_DROP.match(k)}
    out["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), out.get("PYTHONPATH")]))
    return out | extra


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def child(args: list[str], *, cwd: Path, env: dict[str, str], log: Path,
          reads_stdout: bool = True) -> Iterator[subprocess.Popen[bytes]]:
    """Start a child process, stderr to `log` (stdout too unless this process reads it: the few lines that say it is
    ready, after which it prints nothing more); on exit SIGTERM it (SIGKILL after 15 s)."""
    out = open(log, "wb")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE if reads_stdout else out, stderr=out,
                            stdin=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout:
            proc.stdout.close()
        out.close()


def read_until(proc: subprocess.Popen[bytes], done: str, timeout: float = 60) -> list[str]:
    """stdout lines of `proc` up to the one containing `done`."""
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        raw = proc.stdout.readline()
        if not raw:
            raise RuntimeError(f"{proc.args!r} exited (code {proc.poll()}) before saying {done!r}: {lines}")
        line = raw.decode().rstrip()
        lines.append(line)
        if done in line:
            return lines
    raise RuntimeError(f"{proc.args!r} did not say {done!r} within {timeout:.0f} s: {lines}")


async def wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> None:
    """Poll `url`/healthz until it answers 200; RuntimeError with the end of `log` when `proc` exits or time is up."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as s:
        while True:
            with contextlib.suppress(aiohttp.ClientError):
                async with s.get(f"{url}/healthz") as resp:
                    if resp.status == 200:
                        return
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"sre-bot serve did not come up (see {log}):\n"
                                   + log.read_text(errors="replace")[-2000:])
            await asyncio.sleep(0.2)


def unquoted(value: str) -> str:
    """A value of the sandbox's `export NAME=value` lines: shell-unquoted when it is one quoted word, else as is
    (a JSON object printed bare)."""
    try:
        words = shlex.split(value)
    except ValueError:
        return value
    return words[0] if len(words) == 1 else value


def sandbox_exports(lines: list[str]) -> dict[str, str]:
    """The `export NAME=value` lines `sre-bot sandbox` prints, as the environment they set."""
    return {m[1]: unquoted(m[2]) for line in lines if (m := re.match(r"export (\w+)=(.+)$", line))}
