"""The one registry of `/sre` verbs: the help text, the slash command's usage hint and the dispatch are all read
from it, so a verb cannot be runnable and missing from help (or listed and not runnable).

    REGISTRY = Registry([Verb("status", "<service> [window]", "golden signals …", _status, window=True), …])
    REGISTRY.usage_hint()          # manifest.yml's `usage_hint` for /sre (tests/test_manifest.py compares them)
    REGISTRY.help_lines(actions=…) # one `• /sre … — …` line per verb, in registry order

The registry itself lives with the handlers in `commands.py`; this module is the shape of an entry.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..models import TimeRange
from .caller import Caller
from .reply import Reply

if TYPE_CHECKING:
    from ..deps import Deps

__all__ = ["Invocation", "Handler", "Verb", "Registry"]


@dataclass(frozen=True)
class Invocation:
    """One parsed use of a verb: the words after it, the window (verbs that take one), and who asked."""

    args: str
    window: TimeRange | None = None
    caller: Caller | None = None  # None: no Slack identity (the console, a one-shot command)


Handler = Callable[["Deps", Invocation], Awaitable[Reply]]


@dataclass(frozen=True)
class Verb:
    """One `/sre` verb. `usage` is what follows the verb (`<service> [window]`); `summary` is its help line and may
    name `{actions}` (the catalog). `window`: a trailing `30m` / `since 14:05` is the time window. `groups`: it acts
    on the caller's authority, so their Slack user groups are resolved before it runs. `instant`: answered within
    Slack's 3 s acknowledgement (no backend, no store)."""

    name: str
    usage: str
    summary: str
    run: Handler
    window: bool = False
    groups: bool = False
    instant: bool = False

    @property
    def synopsis(self) -> str:
        return f"{self.name} {self.usage}".strip()


class Registry:
    """The verbs in the order help lists them; looked up by name (lower case)."""

    def __init__(self, verbs: Iterable[Verb]) -> None:
        self._verbs: dict[str, Verb] = {}
        for v in verbs:
            if v.name in self._verbs:
                raise ValueError(f"verb {v.name!r} is registered twice")
            if v.name != v.name.lower() or not v.name.replace("-", "_").isidentifier():  # `deploy-check`
                raise ValueError(f"verb {v.name!r} must be one lower-case word")
            self._verbs[v.name] = v

    def __iter__(self) -> Iterator[Verb]:
        return iter(self._verbs.values())

    def __contains__(self, name: object) -> bool:
        return name in self._verbs

    def __getitem__(self, name: str) -> Verb:
        return self._verbs[name]

    def get(self, name: str) -> Verb | None:
        return self._verbs.get(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._verbs)

    def usage_hint(self) -> str:
        """The slash command's usage hint: every verb's synopsis, `|`-separated (Slack allows 1,000 characters)."""
        return " | ".join(v.synopsis for v in self)

    def help_lines(self, **values: str) -> list[str]:
        """One help line per verb; `values` fill the `{…}` names in summaries."""
        return [f"• `/sre {v.synopsis}` — {v.summary.format(**values)}" for v in self]
