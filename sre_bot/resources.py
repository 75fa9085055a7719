"""Files the bot ships besides its code: the prompt templates and the example runbooks.

In a checkout they are the top-level `prompts/` and `runbooks/` folders (edited there, reviewed like code). An
installed wheel carries the same files inside the package as `sre_bot/_data/prompts/` and `sre_bot/_data/runbooks/`
(mapped in `pyproject.toml`), so `pip install sre-bot` and the container image find them without a checkout.
The checkout wins when there is one (an editable install edits the real files); callers ask here instead of
computing paths.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["prompts_dir", "shipped_runbooks_dir"]


def _checkout() -> Path | None:
    """The source checkout this package was imported from, if any (a folder with `pyproject.toml` above it)."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").is_file() else None


def _installed(name: str) -> Path:
    """The copy of a top-level folder that the wheel put inside the package."""
    return Path(str(resources.files("sre_bot").joinpath("_data", name)))


def _shipped(name: str) -> Path:
    candidates = [root / name for root in (_checkout(),) if root is not None] + [_installed(name)]
    for c in candidates:
        if c.is_dir():
            return c
    return candidates[0]


def prompts_dir() -> Path:
    """The shipped prompt templates (`*.txt`)."""
    return _shipped("prompts")


def shipped_runbooks_dir() -> Path:
    """The shipped example runbooks (`*.yaml`): the demo loads them; a team copies and edits them."""
    return _shipped("runbooks")
