"""The wheel carries everything: built with pip, installed into a fresh venv, `sre-bot ask` answers through the model.

The wheel is built from a copy of the source (so the build leaves nothing in the checkout) with `pip wheel
--no-deps`, the way a user or the container build makes it. The fresh venv gets no third-party packages of its own:
a `.pth` line points it at this venv's site-packages, and the wheel goes in with `--no-deps`. Everything else is
real: the console script, the sandbox shop on loopback, the fake Messages API on a real port.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from sre_bot.sandbox import load_scenario
from sre_bot.sandbox.bot_config import config_yaml
from sre_bot.sandbox.server import Sandbox

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parents[2]
MARK = "PACKAGED-PROMPT-7d1f"  # appended to the installed prompt copies: seen by the model only if they were read
_SOURCE = ("pyproject.toml", "README.md", "sre_bot", "prompts", "runbooks")


def _run(*cmd: str | Path, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> str:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment without anything that would point Python or the bot back at the checkout or real systems."""
    drop = ("PYTHON", "VIRTUAL_ENV", "SLACK_", "SRE_BOT_", "PROMETHEUS_", "LOKI_", "ARGOCD_", "ALERTMANAGER_",
            "ANTHROPIC_")
    return {**{k: v for k, v in os.environ.items() if not k.startswith(drop)}, **extra}


def _tracked(folder: str) -> list[str]:
    """The files git tracks under `folder` (the working tree's files when this is not a git checkout)."""
    if (ROOT / ".git").exists():
        out = _run("git", "ls-files", "--", folder, cwd=ROOT)
        return [line for line in out.splitlines() if line]
    return [str(p.relative_to(ROOT)) for p in sorted((ROOT / folder).rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`pip wheel --no-deps` of a copy of the source tree: the one wheel file it writes."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")
    for name in _SOURCE:
        (shutil.copytree(ROOT / name, src / name, ignore=ignore) if (ROOT / name).is_dir()
         else shutil.copy2(ROOT / name, src / name))
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", tmp / "dist", src, cwd=tmp)
    wheels = list((tmp / "dist").glob("sre_bot-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed (`--no-deps`); third-party packages resolve from this venv via `.pth`."""
    home = tmp_path_factory.mktemp("venv") / "v"
    _run(sys.executable, "-m", "venv", "--without-pip", home, cwd=home.parent)
    python = home / "bin" / "python"
    purelib = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                        cwd=home.parent, env=_clean_env()).strip())
    (purelib / "_sre_bot_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "--quiet", wheel,
         cwd=home.parent, env=_clean_env())
    return home


def _where(venv: Path, cwd: Path) -> dict[str, str]:
    code = ("import json, sre_bot\nfrom sre_bot.resources import prompts_dir, shipped_runbooks_dir\n"
            "print(json.dumps({'module': sre_bot.__file__, 'prompts': str(prompts_dir()),"
            " 'runbooks': str(shipped_runbooks_dir())}))")
    return json.loads(_run(venv / "bin" / "python", "-c", code, cwd=cwd, env=_clean_env()))


def test_the_wheel_lists_every_shipped_file(wheel: Path) -> None:
    """Every prompt, shipped runbook, migration, scenario, `calibration.json` and tracked package file is in the wheel."""
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"sre_bot/_data/prompts/{p.name}" for p in (ROOT / "prompts").glob("*.txt")}
    expected |= {f"sre_bot/_data/runbooks/{p.name}" for p in (ROOT / "runbooks").glob("*.yaml")}
    assert len(expected) >= 5, expected  # the globs found the folders
    expected |= {"sre_bot/evaluation/calibration.json", "sre_bot/store/migrations/env.py",
                 "sre_bot/store/migrations/script.py.mako"}
    expected |= {f"sre_bot/store/migrations/versions/{p.name}"
                 for p in (ROOT / "sre_bot/store/migrations/versions").glob("*.py")}
    expected |= {f"sre_bot/sandbox/scenarios/{p.name}" for p in (ROOT / "sre_bot/sandbox/scenarios").glob("*.yaml")}
    assert not expected - names, f"missing from the wheel: {sorted(expected - names)}"
    missing = sorted(set(_tracked("sre_bot")) - names)
    assert not missing, (f"tracked files missing from the wheel: {missing} (a new package goes in "
                         "[tool.setuptools] packages, a new data file in package-data, in pyproject.toml)")
    assert any(n.endswith(".dist-info/entry_points.txt") for n in names)


def test_the_installed_package_is_used_with_its_own_prompts_and_runbooks(venv: Path, tmp_path: Path) -> None:
    """Outside the checkout, `sre_bot`, its prompts and its runbooks all come from the fresh venv's site-packages."""
    where = _where(venv, tmp_path)
    for key in ("module", "prompts", "runbooks"):
        path = Path(where[key]).resolve()
        assert path.is_relative_to(venv.resolve()) and not path.is_relative_to(ROOT), (key, path)
    assert sorted(p.name for p in Path(where["prompts"]).glob("*.txt")) == sorted(
        p.name for p in (ROOT / "prompts").glob("*.txt"))
    out = _run(venv / "bin" / "sre-bot", "runbook", "check", where["runbooks"], cwd=tmp_path,
               env=_clean_env(SRE_BOT_CONFIG=str(tmp_path / "absent.yaml")))
    for p in (ROOT / "runbooks").glob("*.yaml"):
        assert p.stem in out or p.name in out, out


async def test_installed_sre_bot_ask_answers_through_the_model(venv: Path, tmp_path: Path) -> None:
    """The installed `sre-bot ask --json` reads its prompts from the package and answers through the model."""
    from tests.fakes.anthropic_api import FakeAnthropic
    from tests.llm._script import answer, find

    prompts = Path(_where(venv, tmp_path)["prompts"])
    for p in prompts.glob("*.txt"):  # mark the installed copies (only this venv's): the model must see the mark
        p.write_text(p.read_text(encoding="utf-8").rstrip("\n") + f"\n({MARK})\n", encoding="utf-8")
    async with Sandbox(load_scenario()) as sb:
        cfg = tmp_path / "sre-bot.yaml"
        cfg.write_text(config_yaml(sb.config))
        with FakeAnthropic() as model:
            model.enqueue(lambda body: answer(
                summary="checkout's deploy 4f1c2e9 started it.",
                hypotheses=[{"service": "checkout", "cause": "bad deploy of checkout", "confidence": 0.7,
                             "quotes": [{"evidence_id": find(body, "4f1c2e9")[0],
                                         "text": find(body, "4f1c2e9")[1]}]}]))
            env = _clean_env(**sb.urls.as_env(), SRE_BOT_CONFIG=str(cfg), SRE_BOT_LLM_AUDIT_PATH=str(tmp_path / "a"),
                             ANTHROPIC_API_KEY="test-key", ANTHROPIC_BASE_URL=model.url)
            proc = await asyncio.create_subprocess_exec(
                str(venv / "bin" / "sre-bot"), "ask", "--json", "why is payments-api slow?", cwd=tmp_path, env=env,
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            out, err = await asyncio.wait_for(proc.communicate(), 120)
            assert proc.returncode == 0, err.decode()
            data = json.loads(out)
            assert data["answered_by"] == "llm", data.get("llm") or err.decode()[-2000:]
            assert data["llm"]["hypotheses"][0]["service"] == "checkout"
            assert model.violations == [] and model.unscripted == 0 and len(model.bodies) == 1
            assert MARK in model.all_text_sent()
