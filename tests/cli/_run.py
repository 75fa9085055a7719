"""Run the real `sre-bot` CLI in a subprocess, with a clean environment (no settings leak in from the shell)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

__all__ = ["run_cli"]

_CLEARED = ("SLACK_", "SRE_BOT_", "PROMETHEUS_", "LOKI_", "ARGOCD_", "ALERTMANAGER_", "ANTHROPIC_")


async def run_cli(*args: str, env: dict[str, str], cwd: Path, timeout: float = 90) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `python -m sre_bot ARGS` with only `env` on top of a cleaned environment."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(_CLEARED)}
    base.setdefault("SRE_BOT_CONFIG", str(cwd / "absent.yaml"))
    base["SRE_BOT_LLM_AUDIT_PATH"] = str(cwd / "llm-audit")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sre_bot", *args, cwd=cwd, env={**base, **env},
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()
