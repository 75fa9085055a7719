"""`sre-bot demo` shows the whole product with no credentials: the scripted tour as CI plays it (a subprocess, no
terminal), and the interactive console (a person typing, asked before anything is approved or rejected)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from sre_bot.cli.demo import run_demo

ROOT = Path(__file__).resolve().parents[2]


def _demo(cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SRE_BOT_", "PROMETHEUS_", "LOKI_",
                                                                    "ARGOCD_", "ALERTMANAGER_", "ANTHROPIC_"))}
    return subprocess.run([sys.executable, "-m", "sre_bot", "demo"], capture_output=True, text=True, cwd=cwd,
                          stdin=subprocess.DEVNULL, env=env, timeout=240)


def _after(out: str, line: str) -> str:
    """What the console printed for `line` (up to the next prompt)."""
    start = out.index(f"sre> {line}\n")
    end = out.find("\nsre> ", start + 1)
    return out[start: end if end != -1 else len(out)]


def test_the_scripted_tour_walks_through_every_part_and_exits_0(tmp_path):
    r = _demo(tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    out = r.stdout
    assert "Traceback" not in r.stderr
    # the storm went through the bot's real webhook and became incidents, announced and investigated
    assert "webhook notifications" in out and "/alertmanager" in out
    assert "📣 incident #" in out and "DBConnectionPoolExhausted on payments-db" in out
    assert "investigation: " in out and "bad deploy of checkout" in out
    listed = _after(out, "/sre incidents")
    assert "DBConnectionPoolExhausted on payments-db" in listed and "root `payments-db`" in listed
    detail = next(part for part in out.split("\nsre> ") if part.startswith("/sre incident ") and
                  not part.startswith("/sre incidents"))
    assert "DBConnectionPoolExhausted" in detail and "joined" in detail.lower()
    # the shipped runbooks are loaded and one runs, its fix offered for approval
    assert "Runbooks (4)" in _after(out, "/sre runbook list")
    run = _after(out, "/sre runbook db-connection-pool payments-db")
    assert "Root cause found" in run and "too many clients" in run and "🔐 Approval request `argocd.rollback`" in run
    # a person's request, with its preview, approved in the console: Argo CD shows the rollback by sre-bot
    asked = out.index("sre> /sre run argocd.rollback checkout")
    first = out[asked: out.index("\nsre> ", asked + 1)]
    assert "Roll back Argo CD app `checkout`" in first and "✅ `argocd.rollback` approved by you; ran once" in first
    assert "deployed" in _after(out, "/sre deploys checkout") and "by sre-bot" in _after(out, "/sre deploys checkout")
    # kill switch on: the same request, approved, is refused and nothing more runs
    second_at = out.index("sre> /sre run argocd.rollback checkout", asked + 1)
    second = out[second_at: out.index("\nsre> ", second_at + 1)]
    assert "✋ Refused (kill_switch)" in second and "✅" not in second
    # bad-change detection without anyone asking, and on demand
    assert "The deploy watcher judged" in out and "bad: checkout 4f1c2e9" in out
    assert "bad: checkout 4f1c2e9" in _after(out, "/sre deploy-check checkout")
    # incident memory: the confirmed cause becomes a case; the next answer says "Seen before"
    assert "recorded" in _after(out, "/sre history confirm")
    assert "✅ `argocd.sync` approved by you" in _after(out, "/sre run argocd.sync checkout revision=4f1c2e9a7b3d")
    again_at = out.index("sre> @sre-bot why is payments-api slow?", out.index("sre> /sre history confirm"))
    again = out[again_at: out.index("\nsre> ", again_at + 1)]  # the second occurrence: seen before, fix offered
    assert "Seen before" in again and "fixed by `argocd.rollback checkout`" in again
    assert "🔐 Approval request `argocd.rollback`" in again and "from `4f1c2e9a7b`" in again
    assert "Past cases" in _after(out, "/sre history")
    # the audit shows the chain
    audit = _after(out, "/sre audit 25")
    for kind in ("`suggested`", "`approved`", "`started`", "`succeeded`", "`kill_switch`", "`refused`",
                 "`runbook_started`"):
        assert kind in audit, kind
    # exactly the two approved executions (the rollback, the sync), each once; nothing after the kill switch
    assert audit.count("`succeeded`") == 2 and audit.count("`started`") == 2
    assert "Next steps" in out


async def test_the_interactive_console_asks_and_a_rejection_runs_nothing():
    """A person typing: the request is shown with its preview and the console asks; `r` rejects it, so Argo CD
    never sees a rollback, and the audit says who rejected it."""
    typed = io.StringIO("/sre run argocd.rollback checkout\nr\n/sre deploys checkout\n/sre audit 5\n")
    out = io.StringIO()
    assert await run_demo(interactive=True, inp=typed, out=out) == 0
    text = out.getvalue()
    assert "Approve `argocd.rollback`" in text and "[a]pprove / [r]eject" in text
    assert "Roll back Argo CD app `checkout`" in text
    assert "🚫 `argocd.rollback` rejected: nothing runs." in text
    assert "by sre-bot" not in text  # no rollback in Argo CD's history
    assert "`rejected`" in text and "`approved`" not in text


async def test_enter_leaves_a_request_pending():
    typed = io.StringIO("/sre run argocd.rollback checkout\n\n/sre actions\n")
    out = io.StringIO()
    assert await run_demo(interactive=True, inp=typed, out=out) == 0
    text = out.getvalue()
    assert "is left pending" in text and "Pending approvals (" in text and "by sre-bot" not in text
