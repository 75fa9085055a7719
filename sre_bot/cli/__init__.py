"""The `sre-bot` command line: one module per subcommand (`ask`, `demo`, `doctor`, `serve`, `correlate`, `eval`,
`runbook`, `audit export`, `eval --history`), dispatched by `main`."""

from .main import main

__all__ = ["main"]
