"""Label matchers as PromQL, LogQL and Alertmanager write them: `name="v"`, `!=`, `=~` and `!~`.

Strings are Go string literals (`"..."` with escapes, or raw `` `...` ``); regex matchers are anchored, as in
Prometheus. Alertmanager's `filter` also accepts an unquoted value (`alertname=HighErrorRate`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["Matcher", "MatcherError", "read_string", "parse_selector", "parse_filter", "matches_all"]

_NAME_RE = re.compile(r"\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*")
_SIMPLE = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", '"': '"',
           "'": "'"}


class MatcherError(ValueError):
    """A matcher or string literal that does not parse; the message says where."""


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str
    value: str
    _re: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def make(cls, name: str, op: str, value: str) -> Matcher:
        rx = None
        if op in ("=~", "!~"):
            try:
                rx = re.compile(value)
            except re.error as e:
                raise MatcherError(f"invalid regular expression {value!r}: {e}") from None
        return cls(name, op, value, rx)

    def matches(self, labels: Mapping[str, str]) -> bool:
        v = labels.get(self.name, "")
        if self.op == "=":
            return v == self.value
        if self.op == "!=":
            return v != self.value
        hit = self._re is not None and self._re.fullmatch(v) is not None
        return hit if self.op == "=~" else not hit

    def matches_empty(self) -> bool:
        return self.matches({})


def matches_all(matchers: list[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)


def read_string(text: str, pos: int) -> tuple[str, int]:
    """The Go string literal starting at `text[pos]` and the index just after it."""
    quote = text[pos] if pos < len(text) else ""
    if quote == "`":
        end = text.find("`", pos + 1)
        if end < 0:
            raise MatcherError(f"unterminated raw string at col {pos + 1}")
        return text[pos + 1:end], end + 1
    if quote != '"':
        raise MatcherError(f"expected a quoted string at col {pos + 1}")
    out: list[str] = []
    i = pos + 1
    while i < len(text):
        c = text[i]
        if c == '"':
            return "".join(out), i + 1
        if c == "\\":
            i += 1
            e = text[i] if i < len(text) else ""
            if e in _SIMPLE:
                out.append(_SIMPLE[e])
                i += 1
            elif e in "xuU":
                n = {"x": 2, "u": 4, "U": 8}[e]
                digits = text[i + 1:i + 1 + n]
                if len(digits) != n or not all(d in "0123456789abcdefABCDEF" for d in digits):
                    raise MatcherError(f"invalid escape \\{e} at col {i}")
                out.append(chr(int(digits, 16)))
                i += 1 + n
            elif e.isdigit():
                digits = text[i:i + 3]
                out.append(chr(int(digits, 8)))
                i += 3
            else:
                raise MatcherError(f"unknown escape sequence \\{e} at col {i}")
            continue
        if c == "\n":
            break
        out.append(c)
        i += 1
    raise MatcherError(f"unterminated quoted string at col {pos + 1}")


def parse_matcher_at(text: str, pos: int) -> tuple[Matcher, int]:
    m = _NAME_RE.match(text, pos)
    if not m:
        raise MatcherError(f"expected a label matcher like name=\"value\" at col {pos + 1}")
    value, end = read_string(text, m.end())
    return Matcher.make(m.group(1), m.group(2), value), end


def parse_selector(text: str, pos: int = 0) -> tuple[list[Matcher], int]:
    """`{a="x", b=~"y"}` starting at `text[pos]` (after spaces) -> matchers and the index after `}`."""
    while pos < len(text) and text[pos].isspace():
        pos += 1
    if pos >= len(text) or text[pos] != "{":
        raise MatcherError(f"expected '{{' at col {pos + 1}")
    pos += 1
    out: list[Matcher] = []
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos < len(text) and text[pos] == "}":
            return out, pos + 1
        if out:
            if pos >= len(text) or text[pos] != ",":
                raise MatcherError(f"expected ',' or '}}' at col {pos + 1}")
            pos += 1
            while pos < len(text) and text[pos].isspace():
                pos += 1
            if pos < len(text) and text[pos] == "}":
                return out, pos + 1
        matcher, pos = parse_matcher_at(text, pos)
        out.append(matcher)


def parse_filter(text: str) -> Matcher:
    """One Alertmanager `filter` value: `name="value"`, `name=~"re"`, or unquoted `name=value`."""
    m = _NAME_RE.match(text)
    if not m:
        raise MatcherError(f"bad matcher format: {text}")
    rest = text[m.end():].strip()
    if rest[:1] in ('"', "`"):
        value, end = read_string(rest, 0)
        if rest[end:].strip():
            raise MatcherError(f"bad matcher format: {text}")
    else:
        value = rest
    return Matcher.make(m.group(1), m.group(2), value)
