"""One-shot commands are quiet: the answer alone on stdout, nothing on stderr; SRE_BOT_LOG_LEVEL=debug shows all."""

from __future__ import annotations

from pathlib import Path

from sre_bot.sandbox.bot_config import config_yaml
from sre_bot.sandbox.server import Sandbox
from tests.cli._run import run_cli


def _env(sb: Sandbox, tmp_path: Path, **more: str) -> dict[str, str]:
    cfg = tmp_path / "sre-bot.yaml"
    cfg.write_text(config_yaml(sb.config))
    return {**sb.urls.as_env(), "SRE_BOT_CONFIG": str(cfg), **more}


async def test_ask_prints_the_answer_and_nothing_on_stderr(shop: Sandbox, tmp_path: Path) -> None:
    """`ask --no-llm` against the sandbox: exit 0, the answer on stdout, stderr empty (no httpx or drain3 lines)."""
    code, out, err = await run_cli("ask", "why is checkout slow?", "--no-llm", env=_env(shop, tmp_path),
                                   cwd=tmp_path)
    assert code == 0, err
    assert "checkout" in out
    assert err == ""


async def test_ask_at_debug_shows_the_library_lines(shop: Sandbox, tmp_path: Path) -> None:
    """With SRE_BOT_LOG_LEVEL=debug the libraries speak again: httpx's request lines reach stderr."""
    code, out, err = await run_cli("ask", "why is checkout slow?", "--no-llm",
                                   env=_env(shop, tmp_path, SRE_BOT_LOG_LEVEL="debug"), cwd=tmp_path)
    assert code == 0, err
    assert "HTTP Request: GET" in err
    assert "checkout" in out


async def test_doctor_migrating_a_fresh_store_is_quiet(shop: Sandbox, tmp_path: Path) -> None:
    """`doctor` on a fresh SQLite store (every migration runs): stderr empty; at debug, Alembic's lines show."""
    db = f"sqlite+aiosqlite:///{tmp_path / 'quiet.db'}"
    code, out, err = await run_cli("doctor", env=_env(shop, tmp_path, SRE_BOT_DB_URL=db), cwd=tmp_path)
    assert code == 0, out + err
    assert "[ok  ] store" in out
    assert err == ""
    db2 = f"sqlite+aiosqlite:///{tmp_path / 'loud.db'}"
    code, out, err = await run_cli("doctor", env=_env(shop, tmp_path, SRE_BOT_DB_URL=db2, SRE_BOT_LOG_LEVEL="debug"),
                                   cwd=tmp_path)
    assert code == 0, out + err
    assert "Running upgrade" in err


async def test_a_warning_still_reaches_stderr(shop: Sandbox, tmp_path: Path) -> None:
    """Quiet is not mute: the model being unreachable is still logged as a warning, the engine's answer on stdout."""
    env = _env(shop, tmp_path, ANTHROPIC_API_KEY="sk-test-not-a-key", ANTHROPIC_BASE_URL="http://127.0.0.1:9")
    code, out, err = await run_cli("ask", "why is checkout slow?", env=env, cwd=tmp_path)
    assert code == 0, err
    assert "llm unavailable" in err and '"level": "warning"' in err
    assert "HTTP Request" not in err
    assert "checkout" in out
