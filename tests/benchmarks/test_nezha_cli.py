"""The Nezha benchmark's CLI path: `--at` arithmetic, the rows' config files, the environment, scoring against the
in-process answer, and one real `sre-bot ask --json --no-llm` against a real Prometheus."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from benchmarks._nezha_cli import ask_cli, cli_at, cli_env, cli_exe, cli_part, write_row_configs
from benchmarks._nezha_tables import cli_differences, render, summarize
from benchmarks.nezha_rca import CONFIG_FILES, CONFIGS, SIGNAL_SETS, SIGNALS, load_configs
from sre_bot.clock import frozen_clock
from sre_bot.compose import open_deps
from sre_bot.config import load_config
from sre_bot.models import TimeRange
from sre_bot.services.investigate import investigate, investigation_window
from sre_bot.settings import load_settings
from tests.realprom import prometheus_server

AT = datetime(2023, 11, 14, 23, 0, tzinfo=timezone.utc)


def test_cli_at_gives_exactly_the_in_process_window() -> None:
    """`--at inject + offset − W/4` makes the CLI's window [inject + offset − W, inject + offset] (its clock is now)."""
    for w in (timedelta(minutes=10), timedelta(minutes=20), timedelta(hours=1)):
        now = datetime(2026, 12, 5, tzinfo=timezone.utc)
        assert investigation_window(now, w, cli_at(AT, w)) == TimeRange(start=AT - w, end=AT)


@pytest.mark.parametrize("signals", ["golden", "extended"])
def test_row_config_files_load_as_the_in_process_configs(tmp_path: Path, signals: str) -> None:
    """Each row's file loads equal to the in-process config; the metrics-only one says `builtin: false`."""
    for app, name in CONFIG_FILES.items():
        configs = load_configs(app, {n: SIGNALS[n] for n in SIGNAL_SETS[signals]})
        files = write_row_configs(CONFIGS / name, configs, tmp_path)
        for row, cfg in configs.items():
            assert load_config(files[row], required=True) == cfg
        assert files["metrics"].parent == tmp_path and "builtin: false" in files["metrics"].read_text()
        assert (files["callgraph"] == CONFIGS / name) is (signals == "golden")


def test_cli_env_keeps_nothing_that_configures_the_bot() -> None:
    """The shell's bot settings, backends and keys are dropped; the row's URLs and config file are set."""
    base = {"PATH": "/bin", "HOME": "/root", "SRE_BOT_ANSWER_DEADLINE": "1", "ANTHROPIC_API_KEY": "k",
            "ARGOCD_URL": "http://argo", "LOKI_URL": "http://old", "SLACK_BOT_TOKEN": "x"}
    env = cli_env("http://prom", Path("/c.yml"), base=base)
    assert env == {"PATH": "/bin", "HOME": "/root", "PROMETHEUS_URL": "http://prom", "SRE_BOT_CONFIG": "/c.yml"}
    assert cli_env("http://prom", Path("/c.yml"), "http://loki", base=base)["LOKI_URL"] == "http://loki"


def _json(services: list[str], *, insufficient: bool = False, start: datetime = AT - timedelta(minutes=10)) -> dict:
    return {"insufficient_evidence": insufficient, "hypotheses": [{"service": s, "confidence": 0.5} for s in services],
            "ranking": [{"service": s} for s in services], "gaps": [],
            "window": {"start": start.isoformat(), "end": AT.isoformat()}}


def test_cli_part_scores_the_shown_answer_and_compares_it() -> None:
    """Rank among the shown hypotheses, abstention shows nothing, the window is checked, `same` compares lists."""
    expected = (AT - timedelta(minutes=10), AT)
    part = cli_part({"json": _json(["b", "a"]), "exit": 0, "wall_s": 1.5}, "a", expected,
                    {"shown": ["b", "a"], "insufficient": False})
    assert (part["shown_rank"], part["shown_hit1"], part["shown_hit3"], part["same"], part["window_ok"]) == (
        2, False, True, True, True)
    abstained = cli_part({"json": _json(["a"], insufficient=True), "exit": 0}, "a", expected,
                         {"shown": ["a"], "insufficient": False})
    assert abstained["shown"] == [] and not abstained["shown_hit3"] and not abstained["same"]
    shifted = cli_part({"json": _json(["a"], start=AT - timedelta(minutes=8)), "exit": 0}, "a", expected,
                       {"shown": ["a"]})
    assert not shifted["window_ok"]
    failed = cli_part({"json": None, "exit": 2, "error": "exit 2: boom"}, "a", expected, {"shown": []})
    assert failed["error"] and not failed["same"] and failed["insufficient"]


def _row(truth: str, inproc: list[str], cli: list[str]) -> dict:
    def part(shown: list[str]) -> dict:
        return {"shown": shown, "insufficient": not shown, "shown_rank": shown.index(truth) + 1 if truth in shown
                else None, "shown_hit1": shown[:1] == [truth], "shown_hit3": truth in shown[:3], "wall_s": 2.0,
                "window_ok": True}

    row = {"app": "OnlineBoutique", "day": "d", "index": 1, "inject_time": "2022-08-22 03:53:54",
           "fault": "cpu_contention", "truth": truth, "variants": {"metrics": part(inproc)},
           "cli": {"metrics": {**part(cli), "same": cli == inproc}}, "random_top1": 0.1, "random_top3": 0.3}
    for k in ("maxz", "maxz_floor", "baro"):
        row.update({f"{k}_rank": 2, f"{k}_hit1": False, f"{k}_hit3": True})
    return row


def test_the_headline_is_the_cli_and_differences_are_listed() -> None:
    """With CLI answers the bot row's top-1 is the CLI's, the in-process one is kept, and each difference listed."""
    rows = [_row("a", ["a"], ["a"]), _row("a", ["a", "b"], ["b", "a"]), _row("a", [], ["c"])]
    s = summarize(rows)["variants"]["metrics"]
    assert (s["source"], s["top1"], s["inprocess_top1"], s["cli"]["same_as_inprocess"]) == ("cli", 1 / 3, 2 / 3, 1)
    results = {"faults": rows, "by_day": {"d": summarize(rows)}, "overall": summarize(rows),
               "by_fault_type": {"cpu_contention": summarize(rows)}, "days": {"d": {"app": "OnlineBoutique"}},
               "settings": {"cli": {"concurrent": 2}}}
    assert [(d["cli"], d["inprocess"]) for d in cli_differences(results)] == [("b a", "a b"), ("c", "abstain")]
    text = render(results, "test")
    assert "Where they differ" in text and "OB #1 metrics a: b a [2] | a b [1]" in text


def _openmetrics() -> str:
    """Two services over two hours a minute apart: `b`'s latency (and so its caller `a`'s) jumps 12 min before AT."""
    lines = ["# TYPE nezha_server_latency_p95_seconds gauge"]
    start = AT - timedelta(hours=2)
    for svc, base, bad in (("a", 0.10, 2.1), ("b", 0.05, 2.0)):
        for i in range(121):
            t = start + timedelta(minutes=i)
            wiggle = 0.002 * ((i * 7) % 5)
            v = bad + wiggle if t >= AT - timedelta(minutes=6) else base + wiggle
            lines.append(f'nezha_server_latency_p95_seconds{{service="{svc}"}} {v} {t.timestamp():.0f}')
    return "\n".join(lines) + "\n# EOF\n"


CONFIG = """\
defaults: {service_label: service}
builtin_signals: false
signals:
  latency_p95: {title: latency p95, unit: seconds, min_abs: 0.01, query: 'avg(nezha_server_latency_p95_seconds{$selector})'}
services:
  a: {depends_on: [b]}
  b: {}
call_graph: {builtin: false}
"""


def test_the_real_cli_answers_as_the_in_process_engine(tmp_path: Path) -> None:
    """`sre-bot ask --json --no-llm` as a subprocess against a real Prometheus: exit 0, the in-process window,
    and the same shown hypotheses as investigate() with a frozen clock."""
    exe = cli_exe()
    if exe is None:
        pytest.skip("no sre-bot entry point")
    cfg_file = tmp_path / "sre-bot.yaml"
    cfg_file.write_text(CONFIG, encoding="utf-8")
    window = timedelta(minutes=10)
    with prometheus_server(_openmetrics()) as url:
        res = asyncio.run(ask_cli(exe, "why is a slow?", cli_at(AT, window), "10m", cli_env(url, cfg_file),
                                  tmp_path, asyncio.Semaphore(1)))

        async def in_process() -> list[str]:
            settings = load_settings(None, PROMETHEUS_URL=url)
            async with open_deps(settings, config=load_config(cfg_file), clock=frozen_clock(AT)) as deps:
                inv = await investigate(deps, "why is a slow?", at=AT, window=window)
            return [] if inv.insufficient else [h.service for h in inv.hypotheses]

        shown = asyncio.run(in_process())
    assert res["exit"] == 0, res.get("error")
    part = cli_part(res, "b", (AT - window, AT), {"shown": shown, "insufficient": not shown})
    assert part["window_ok"], part.get("window")
    assert part["shown"] == shown and part["same"]
    assert "b" in part["shown"], part
