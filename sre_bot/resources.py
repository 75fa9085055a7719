"""Files the bot ships besides its code: the prompt templates and the example runbooks.

In a checkout they are the top-level `prompts/` and `runbooks/` folders (edited there, reviewed like code). An
installed wheel carries the same files inside the package (see `pyproject.toml`), so `pip install sre-bot` and the
container image find them without a checkout. Callers ask here instead of computing paths.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["prompts_dir", "shipped_runbooks_dir"]

_CHECKOUT = Path(__file__).resolve().parents[1]


def _first(*candidates: Path) -> Path:
    for c in candidates:
        if c.is_dir():
            return c
    return candidates[0]


def prompts_dir() -> Path:
    """The shipped prompt templates (`*.txt`)."""
    return _first(_CHECKOUT / "prompts")


def shipped_runbooks_dir() -> Path:
    """The shipped example runbooks (`*.yaml`): the demo loads them; a team copies and edits them."""
    return _first(_CHECKOUT / "runbooks")
