"""`sre-bot ask` starts without the heavy imports: the model client, Slack and the store come in only when used."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HEAVY = ("anthropic", "slack_bolt", "sqlalchemy", "alembic", "aiohttp")


def _modules_after(code: str, tmp_path: Path, **env: str) -> set[str]:
    """The top-level packages in sys.modules after running `code` in a fresh interpreter without backends."""
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("PROMETHEUS_", "LOKI_", "ARGOCD_", "ALERTMANAGER_", "ANTHROPIC_", "SLACK_"))}
    clean.update(SRE_BOT_CONFIG=str(tmp_path / "absent.yaml"), SRE_BOT_LLM_AUDIT_PATH=str(tmp_path / "audit"),
                 **env)
    script = code + "\nimport sys, json\nprint(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=clean, cwd=tmp_path,
                         timeout=120, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_importing_the_cli_imports_no_heavy_package(tmp_path: Path) -> None:
    """Importing `sre_bot.cli` and the `ask` command does not import anthropic, slack_bolt or SQLAlchemy."""
    loaded = _modules_after("import sre_bot.cli, sre_bot.cli.ask", tmp_path)
    assert "sre_bot" in loaded
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_ask_without_a_key_never_imports_the_model_client(tmp_path: Path) -> None:
    """A whole `ask --json` with no key (and a Prometheus that refuses connections) answers without importing
    anthropic, slack or the store."""
    code = ("import io, contextlib\nfrom sre_bot.cli.main import main\nbuf = io.StringIO()\n"
            "with contextlib.redirect_stdout(buf):\n    rc = main(['ask', '--json', 'why is x slow?'])\n"
            "assert rc == 0 and '\"answered_by\": \"engine\"' in buf.getvalue(), buf.getvalue()[:500]\n")
    loaded = _modules_after(code, tmp_path, PROMETHEUS_URL="http://127.0.0.1:9")
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_with_a_key_the_model_client_is_imported(tmp_path: Path) -> None:
    """With ANTHROPIC_API_KEY set, opening the deps builds the model client (the lazy import still happens)."""
    code = ("import asyncio\nfrom sre_bot.compose import open_deps\nfrom sre_bot.settings import load_settings\n"
            "async def go():\n    async with open_deps(load_settings()) as deps:\n        assert deps.llm is not None\n"
            "asyncio.run(go())\n")
    loaded = _modules_after(code, tmp_path, ANTHROPIC_API_KEY="sk-test-not-a-key",
                            ANTHROPIC_BASE_URL="http://127.0.0.1:9")
    assert "anthropic" in loaded


def test_store_names_still_import_from_the_package() -> None:
    """`from sre_bot.store import Store, open_store` keeps working (loaded on first use)."""
    from sre_bot.store import Store, open_store
    from sre_bot.store.store import Store as Direct

    assert Store is Direct and callable(open_store)
