"""A webhook body's bytes → a JSON value that both stores keep as it is, or a `UsageError` that says why not.

Python's `json` accepts text that PostgreSQL's jsonb refuses (and that Alertmanager, written in Go, never sends),
so a body it decodes can still fail to store — and Alertmanager retries a 5xx forever. `decode_body` settles every
such case before the webhook answers, keeping an alert rather than dropping it wherever its meaning survives:

- the body must be UTF-8 (RFC 8259 §8.1; a UTF-8 byte order mark is skipped), else 400 naming the byte offset;
- nesting deeper than `MAX_DEPTH` levels (an Alertmanager body has four) is a 400;
- `\\u0000` in a string or a key (jsonb cannot hold it) becomes U+FFFD, the replacement character;
- a lone UTF-16 surrogate escape (`\\ud800` without its pair) becomes U+FFFD, as Go's decoder makes it;
- `NaN`, `Infinity`, `-Infinity` and numbers beyond a double (`1e400`), which are not JSON numbers, are kept as
  strings of their literal text.

Each change is listed in `Decoded.changes` ("alerts[0].labels.pod: …") for one warning line in the log.
"""

from __future__ import annotations

import json
import math
import re
import sys
from dataclasses import dataclass
from typing import Any

from .errors import UsageError

__all__ = ["MAX_DEPTH", "Decoded", "decode_body"]

MAX_DEPTH = 64
_LISTED = 10  # changes described one by one; the rest are counted
_SUSPECT = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")  # a NUL or surrogate escape may be in the text
_BAD_CHARS = re.compile("[\x00\ud800-\udfff]")
_SURROGATES = re.compile("[\ud800-\udfff]")
_REPLACEMENT = "\ufffd"
_TOO_DEEP = f"nested deeper than {MAX_DEPTH} levels (an Alertmanager body has 4)"

_Path = tuple[Any, ...]  # (parent path, key or index), () at the top


class _Literal(float):
    """A number Python reads as NaN or ±inf, with the text it was written as."""

    literal: str

    def __new__(cls, text: str) -> _Literal:
        number = super().__new__(cls, text)
        number.literal = text
        return number


def _where(path: _Path) -> str:
    parts: list[str] = []
    while path:
        path, key = path
        parts.append(f"[{key}]" if isinstance(key, int) else f".{key[:40]}…" if len(key) > 40 else f".{key}")
    text = "".join(reversed(parts))
    return text[1:] if text.startswith(".") else text or "the body"


@dataclass(frozen=True)
class Decoded:
    """The value to validate and store, and what was changed to make it storable."""

    value: Any
    changes: tuple[str, ...] = ()


class _Repair:
    def __init__(self, strings: bool, numbers: bool) -> None:
        self.strings, self.numbers = strings, numbers
        self.changes: list[str] = []
        self.count = 0

    def note(self, path: _Path, what: str) -> None:
        self.count += 1
        if len(self.changes) < _LISTED:
            self.changes.append(f"{_where(path)}: {what}")

    def text(self, s: str, path: _Path, *, key: bool = False) -> str:
        if not _BAD_CHARS.search(s):
            return s
        what = []
        if nul := s.count("\x00"):
            what.append(f"{nul} NUL character{'s' if nul > 1 else ''}")
        if lone := len(_SURROGATES.findall(s)):
            what.append(f"{lone} lone UTF-16 surrogate{'s' if lone > 1 else ''}")
        fixed = _BAD_CHARS.sub(_REPLACEMENT, s)
        self.note((path, fixed) if key else path,
                  f"{' and '.join(what)} in the {'key' if key else 'value'} replaced by U+FFFD")
        return fixed

    def value(self, v: Any, path: _Path) -> Any:
        if isinstance(v, str):
            return self.text(v, path) if self.strings else v
        if isinstance(v, _Literal):
            self.note(path, f"{v.literal} is not a JSON number; kept as the string {v.literal!r}")
            return v.literal
        if isinstance(v, dict):
            out = {}
            for k, x in v.items():
                k = self.text(k, path, key=True) if self.strings else k
                out[k] = self.value(x, (path, k))
            return out
        if isinstance(v, list):
            return [self.value(x, (path, i)) for i, x in enumerate(v)]
        return v


def _check_depth(value: Any) -> None:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for _, child in items:
            if isinstance(child, (dict, list)):
                if depth >= MAX_DEPTH:
                    raise UsageError(_TOO_DEEP)
                stack.append((child, depth + 1))


def decode_body(raw: bytes) -> Decoded:
    """Decode and check `raw` (see the module docstring); raises `UsageError` with the reason for a 400."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UsageError(f"not UTF-8 (byte {e.start} is {raw[e.start:e.start + 1]!r}); send JSON encoded as "
                         "UTF-8") from None
    text = text.removeprefix("\ufeff")
    if not text or text.isspace():
        raise UsageError("the body is empty; expected an Alertmanager webhook notification (JSON)")
    numbers: list[bool] = []

    def constant(name: str) -> float:
        numbers.append(True)
        return _Literal(name)

    def number(s: str) -> float:
        f = float(s)
        if math.isfinite(f):
            return f
        numbers.append(True)
        return _Literal(s)

    try:
        value = json.loads(text, parse_float=number, parse_constant=constant)
    except json.JSONDecodeError as e:
        raise UsageError(f"not valid JSON at line {e.lineno} column {e.colno}: {e.msg}") from None
    except RecursionError:
        raise UsageError(_TOO_DEEP) from None
    except ValueError as e:  # an integer of more digits than Python converts (sys.get_int_max_str_digits)
        raise UsageError(f"not valid JSON: a number has more than {sys.get_int_max_str_digits()} digits"
                         if "digits" in str(e) else f"not valid JSON: {e}") from None
    # nesting cannot be deeper than the number of opening brackets in the text (counted at C speed): a body with
    # fewer (a typical notification of a few alerts) needs no walk
    if isinstance(value, (dict, list)) and text.count("{") + text.count("[") > MAX_DEPTH:
        _check_depth(value)
    repair = _Repair(strings=bool(_SUSPECT.search(text)), numbers=bool(numbers))
    if not (repair.strings or repair.numbers):
        return Decoded(value)
    value = repair.value(value, ())
    changes = repair.changes
    if repair.count > len(changes):
        changes.append(f"… and {repair.count - len(changes)} more")
    return Decoded(value, tuple(changes))
