"""The `sre-bot` command: serve, doctor, ask, audit export, demo, sandbox, correlate, eval, runbook check.

Every expected failure (bad settings, bad config, a person's mistake) ends with one clear line and exit code 2;
never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .. import __version__
from ..errors import ConfigError, UsageError

if TYPE_CHECKING:
    from ..settings import Settings

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sre-bot", description="A Slack SRE assistant that answers from evidence.")
    p.add_argument("--version", action="version", version=f"sre-bot {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("serve", help="run the bot (Socket Mode when SLACK_APP_TOKEN is set, else HTTP)")
    sub.add_parser("doctor", help="check every configured system and say how to fix what is wrong")
    ask = sub.add_parser("ask", help="investigate a question from the terminal, e.g. \"why is checkout slow?\"")
    ask.add_argument("question")
    ask.add_argument("--at", help="investigate around this time: ISO 8601 or Unix seconds (default: now)")
    ask.add_argument("--window", help="how much time to look at, e.g. 30m, 2h (default: SRE_BOT_DEFAULT_WINDOW)")
    ask.add_argument("--json", action="store_true", help="print the investigation as JSON")
    ask.add_argument("--no-llm", action="store_true", help="answer from the statistics engine alone")
    audit = sub.add_parser("audit", help="the audit trail of suggestions, approvals and executions")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True, metavar="SUBCOMMAND")
    export = audit_sub.add_parser("export", help="write audit records as JSON lines (or CSV) to stdout")
    export.add_argument("--since", required=True, help="a duration back from now (7d, 12h) or a time (ISO 8601)")
    export.add_argument("--until", help="stop before this time (default: now)")
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    demo = sub.add_parser("demo", help="try the bot on a simulated shop: no credentials, no servers")
    demo.add_argument("--scenario", default=None, help="scenario name or YAML file (default: checkout-bad-deploy)")
    sb = sub.add_parser("sandbox", help="run the simulated shop's Prometheus/Loki/Argo CD/Alertmanager on loopback")
    sb.add_argument("scenario", nargs="?", default=None, help="scenario name or YAML file")
    sb.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    sb.add_argument("--port", type=int, default=9990, help="first port; the four servers use port..port+3")
    sb.add_argument("--write-config", metavar="FILE", help="also write the matching sre-bot.yaml to FILE")
    sb.add_argument("--approver", action="append", default=[], metavar="USER_ID",
                    help="with --write-config: a Slack member id (U…) who may approve actions (repeatable)")
    sb.add_argument("--channel", help="with --write-config: the incident channel (id or #name; default #incidents)")
    sb.add_argument("--send-alerts", metavar="URL", help="replay the scenario's alert storm into a running bot's "
                                                          "POST /alertmanager (token: SRE_BOT_ALERTMANAGER_TOKEN)")
    corr = sub.add_parser("correlate", help="replay Alertmanager alerts from files and print the incidents they make")
    corr.add_argument("files", nargs="+", metavar="FILE",
                      help="webhook v4 body, a JSON list of them, or a list of /api/v2/alerts alerts")
    corr.add_argument("--json", action="store_true", help="print the incidents as JSON")
    corr.add_argument("--config", help="the YAML config with `correlation:` and services (default: SRE_BOT_CONFIG)")
    corr.add_argument("--discover", action="store_true",
                      help="discover the topology at the storm's time from the configured systems (PROMETHEUS_URL's "
                           "call-graph metrics, ARGOCD_URL's applications, SRE_BOT_DB_URL's past incidents)")
    corr.add_argument("--show-graph", action="store_true",
                      help="print the topology used: each edge with its source, groups, learned ties")
    rb = sub.add_parser("runbook", help="interactive runbooks: check the files the bot loads")
    rb_sub = rb.add_subparsers(dest="runbook_command", required=True, metavar="SUBCOMMAND")
    rb_check = rb_sub.add_parser("check", help="report every problem in runbook files (file, step, reason)")
    rb_check.add_argument("path", nargs="?", default=None, help="a folder or a file (default: runbooks.dir)")
    rb_check.add_argument("--config", help="the YAML config (http allow-list, webhooks; default: SRE_BOT_CONFIG)")
    rb_run = rb_sub.add_parser("run", help="run a runbook's read-only steps against your systems and print the "
                                           "findings (audited; a fix it finds is printed, not requested)")
    rb_run.add_argument("name", help="the runbook's name (`/sre runbook list` or `sre-bot runbook check`)")
    rb_run.add_argument("service", nargs="?", default=None, help="the service it checks, when it checks one")
    ev = sub.add_parser("eval", help="run scenarios with ground truth through the bot and score its answers")
    ev.add_argument("paths", nargs="*", metavar="PATH",
                    help="a folder of scenario YAML files, a file, or a shipped name (default: every shipped one)")
    ev.add_argument("--no-llm", action="store_true", help="the statistics engine alone, even with ANTHROPIC_API_KEY")
    ev.add_argument("--json", action="store_true", help="print the JSON document instead of the table")
    ev.add_argument("--out", metavar="DIR", help="where eval.json, eval.md and eval-reliability.png go "
                                                   "(default: benchmarks/results/eval/ in a checkout)")
    ev.add_argument("--only", action="append", default=[], metavar="NAME",
                    help="only scenarios whose name contains NAME or matches it as a glob (repeatable)")
    ev.add_argument("--thresholds", metavar="FILE", help="thresholds YAML (default: the shipped thresholds.yaml)")
    ev.add_argument("--no-thresholds", action="store_true", help="report only; never exit 1 on a regression")
    ev.add_argument("--now", default=None, help="the sandboxes' frozen clock: ISO 8601 or `now` "
                                                "(default: a fixed instant, the same data every run)")
    ev.add_argument("--history", action="store_true", help="instead of scenarios: accuracy and calibration on the "
                                                           "answers people rated in Slack (SRE_BOT_DB_URL)")
    ev.add_argument("--days", default=None, help="with --history: how many days back (default 30)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return asyncio.run(_run(args))
    except (ConfigError, UsageError) as e:
        print(f"sre-bot: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _quiet_logging(settings: Settings | None = None, fmt: str = "console") -> None:
    """A one-shot command's logging: warnings and errors only, unless SRE_BOT_LOG_LEVEL says otherwise (debug shows
    every library's lines too). The answer is alone on stdout, stderr empty when all goes well."""
    from ..logging import configure_logging, one_shot_level
    from ..settings import load_settings

    if settings is None:
        try:
            settings = load_settings()
        except ConfigError:  # the command reports bad settings itself when it needs them
            configure_logging("warning", fmt)
            return
    configure_logging(one_shot_level(settings.log_level, "log_level" in settings.model_fields_set), fmt)


async def _run(args: argparse.Namespace) -> int:
    from ..logging import configure_logging
    from ..settings import load_settings

    if args.command == "demo":
        from .demo import run_demo

        _quiet_logging()
        return await run_demo(scenario=args.scenario)
    if args.command == "sandbox":
        from .demo import run_sandbox

        configure_logging("info", "auto")
        import os

        return await run_sandbox(args.scenario, host=args.host, port=args.port, write_config=args.write_config,
                                 approvers=args.approver, channel=args.channel, send_alerts=args.send_alerts,
                                 alert_token=os.environ.get("SRE_BOT_ALERTMANAGER_TOKEN"))
    if args.command == "correlate":
        from .correlate import run_correlate

        _quiet_logging()
        return await run_correlate(args.files, as_json=args.json, config_path=args.config, discover=args.discover,
                                   show_graph=args.show_graph)
    if args.command == "runbook" and args.runbook_command == "run":
        from .runbook import run_runbook

        settings = load_settings()
        _quiet_logging(settings)
        return await run_runbook(settings, args.name, args.service)
    if args.command == "runbook":
        from .runbook import run_check

        _quiet_logging()
        return run_check(args.path, config_path=args.config)
    if args.command == "eval" and args.history:
        from ..feedback.report import parse_days
        from .history import run_history

        if args.paths:
            raise UsageError("--history reads the bot's store, not scenarios: give no PATH")
        settings = load_settings()
        _quiet_logging(settings)
        return await run_history(settings, days=parse_days(args.days, usage="--days"), as_json=args.json)
    if args.command == "eval":
        from .eval import DEFAULT_NOW, run_eval

        _quiet_logging()
        return await run_eval(args.paths, use_llm=not args.no_llm, as_json=args.json, out_dir=args.out,
                              only=args.only, thresholds=args.thresholds, check=not args.no_thresholds,
                              now=args.now or DEFAULT_NOW)
    settings = load_settings()
    if args.command == "serve":  # a service: its own INFO lines are its operations record
        configure_logging(settings.log_level, settings.log_format)
    else:  # doctor, ask, audit export: the answer alone on stdout
        _quiet_logging(settings, settings.log_format)
    if args.command == "doctor":
        from .doctor import doctor

        return await doctor(settings)
    if args.command == "ask":
        from .ask import ask

        return await ask(settings, args.question, at=args.at, window=args.window, as_json=args.json,
                         use_llm=not args.no_llm)
    if args.command == "audit":
        from .audit_export import export_audit

        return await export_audit(settings, since=args.since, until=args.until, fmt=args.format)
    from .serve import serve

    await serve(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
