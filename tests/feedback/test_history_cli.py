"""`sre-bot eval --history`: accuracy and calibration on the team's rated answers, read from the store, as a table
or JSON, next to each action's autonomy; bad input is one clear line and exit 2."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from sre_bot.cli.history import run_history
from sre_bot.settings import load_settings
from sre_bot.store import open_store
from tests.feedback._support import T0, MutableClock, add_answers

ROOT = Path(__file__).resolve().parents[2]


async def _seed(url: str) -> None:
    async with await open_store(url) as store:
        await add_answers(store, ["yes", "partly", "no", "no"], at=T0 - timedelta(days=3),
                          actions=["alertmanager.silence"])
        await add_answers(store, ["yes"], at=T0 - timedelta(days=40))  # outside a 30-day window
        await store.feedback.set_override("alertmanager.silence", "suggest", expected=None, by=None,
                                          reason="stepped down by feedback: accuracy 0.38", now=T0)


async def test_history_reports_the_window_as_json_and_as_a_table(tmp_path: Path) -> None:
    """JSON carries the counts, calibration with its point count and source, and the lowered autonomy; the table
    says the same in words."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    await _seed(url)
    (tmp_path / "sre-bot.yaml").write_text("actions:\n  approvers: {users: [W222]}\n"
                                           "  policies: {alertmanager.silence: {autonomy: auto}}\n")
    settings = load_settings(None, SRE_BOT_DB_URL=url, SRE_BOT_CONFIG=str(tmp_path / "sre-bot.yaml"))
    out = io.StringIO()
    assert await run_history(settings, days=30, as_json=True, out=out, clock=MutableClock(T0)) == 0
    doc = json.loads(out.getvalue())
    assert doc["overall"] == {"accuracy": 0.375, "top1_strict": 0.25, "votes": 4, "answers": 4, "yes": 1,
                              "partly": 1, "no": 2}
    assert doc["by_action"]["alertmanager.silence"]["votes"] == 4 and doc["answers_posted"] == 4
    assert doc["calibration"]["engine"]["points"] == 4 and doc["calibration"]["team"]["points"] == 5
    assert "too few points" in doc["calibration"]["in_use_described"]
    [silence] = [a for a in doc["autonomy"] if a["action"] == "alertmanager.silence"]
    assert (silence["configured"], silence["level"], silence["effective"]) == ("auto", "suggest", "suggest")
    table = io.StringIO()
    assert await run_history(settings, days=30, out=table, clock=MutableClock(T0)) == 0
    text = table.getvalue()
    assert "accuracy 0.38 (top-1 strict 0.25) from 4 vote(s) on 4 answer(s)" in text
    assert "\nCalibration:" in text and "`alertmanager.silence`: `suggest` (configured `auto`)" in text


def _cli(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SRE_BOT_", "ANTHROPIC_"))}
    return subprocess.run([sys.executable, "-m", "sre_bot", *args], capture_output=True, text=True, cwd=cwd,
                          env={**base, "PYTHONPATH": str(ROOT), **env}, stdin=subprocess.DEVNULL, timeout=120)


def test_the_command_line_reads_the_store_and_refuses_bad_input(tmp_path: Path) -> None:
    """`sre-bot eval --history --json` prints the report; bad days or a scenario path: one line, exit 2."""
    db = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    ok = _cli("eval", "--history", "--json", "--days", "7", cwd=tmp_path, SRE_BOT_DB_URL=db)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["days"] == 7
    bad = _cli("eval", "--history", "--days", "abc", cwd=tmp_path, SRE_BOT_DB_URL=db)
    assert bad.returncode == 2 and "not a number of days" in bad.stderr and "Traceback" not in bad.stderr
    path = _cli("eval", "--history", "checkout-bad-deploy", cwd=tmp_path, SRE_BOT_DB_URL=db)
    assert path.returncode == 2 and "give no PATH" in path.stderr
    down = _cli("eval", "--history", cwd=tmp_path, SRE_BOT_DB_URL="postgresql://u:pw@127.0.0.1:9/x")
    assert down.returncode == 2 and "store (postgresql)" in down.stderr and "pw" not in down.stderr
