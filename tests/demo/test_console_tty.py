"""The console on a real terminal (a pseudo-terminal): line editing and a history kept across runs, so the up arrow
brings back the last command instead of typing `^[[A`."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_CLEARED = ("SLACK_", "SRE_BOT_", "PROMETHEUS_", "LOKI_", "ARGOCD_", "ALERTMANAGER_", "ANTHROPIC_")


class Terminal:
    def __init__(self, tmp: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(_CLEARED)}
        env.update(XDG_STATE_HOME=str(tmp / "state"), TERM="xterm", COLUMNS="100", LINES="40")
        self.fd, child = pty.openpty()
        self.proc = subprocess.Popen([sys.executable, "-m", "sre_bot", "demo"], stdin=child, stdout=child,
                                     stderr=child, cwd=tmp, env=env, close_fds=True)
        os.close(child)
        self.seen = b""

    def expect(self, text: str, timeout: float = 120, count: int = 1) -> None:
        end = time.monotonic() + timeout
        while self.seen.count(text.encode()) < count:
            left = end - time.monotonic()
            assert left > 0, f"waited for {text!r} x{count}; got: {self.seen[-3000:]!r}"
            ready, _, _ = select.select([self.fd], [], [], min(left, 1.0))
            if ready:
                try:
                    self.seen += os.read(self.fd, 65536)
                except OSError:  # the child closed the terminal
                    break

    def send(self, keys: str) -> None:
        os.write(self.fd, keys.encode())

    def close(self) -> int:
        try:
            return self.proc.wait(timeout=30)
        finally:
            os.close(self.fd)


def test_up_arrow_recalls_the_last_command_and_history_is_kept(tmp_path):
    term = Terminal(tmp_path)
    try:
        term.expect("You are an approver")
        term.expect("sre> ")
        term.send("/sre killswitch status\r")
        term.expect("Kill switch is", count=1)
        term.expect("sre> ", count=2)
        term.send("\x1b[A\r")  # up arrow, then Enter: the same command again
        term.expect("Kill switch is", count=2)
        term.expect("sre> ", count=3)
        term.send("\x04")  # Ctrl-D ends the console
        assert term.close() == 0
    finally:
        if term.proc.poll() is None:
            term.proc.kill()
    assert b"^[[A" not in term.seen
    history = (tmp_path / "state" / "sre-bot" / "console_history").read_text()
    assert "/sre killswitch status" in history
