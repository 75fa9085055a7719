"""The TraceQL the sandbox's Tempo understands: one spanset filter `{ … }` of comparisons joined by `&&`, `||` and
parentheses, evaluated per span (a trace matches when one of its spans does), as Tempo does.

    { resource.service.name = "checkout" && (status = error || duration > 500ms) }

Fields: `resource.<attr>`, `span.<attr>`, `.<attr>` (either scope), and the intrinsics `name`, `status`
(`error`, `ok`, `unset`), `kind` (`server`, `client`, …), `duration` (Go durations: `500ms`, `1.5s`, `2m`).
Operators `=`, `!=`, `>`, `>=`, `<`, `<=`, `=~`, `!~`. Anything else is a `TraceQLError` whose message reads like
Tempo's parser ("parse error at line 1, col 12: syntax error: unexpected …")."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["TraceQLError", "SpanView", "compile_traceql", "go_duration_ns"]

_TOKEN = re.compile(r"""\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<op>&&|\|\||!=|>=|<=|=~|!~|[{}()=<>])|"""
                    r"""(?P<dur>\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))(?![\w.])|(?P<num>-?\d+(?:\.\d+)?)(?![\w.])|"""
                    r"""(?P<ident>[A-Za-z_.][\w.\-]*))""")
_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
_OPS = ("=", "!=", ">", ">=", "<", "<=", "=~", "!~")


class TraceQLError(ValueError):
    """A query Tempo would refuse with a 400."""


@dataclass(frozen=True)
class SpanView:
    """What a filter looks at in one span."""

    name: str
    status: str  # error | ok | unset
    kind: str
    duration_ns: int
    resource: Mapping[str, str]
    attributes: Mapping[str, str]


def go_duration_ns(text: str) -> int:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text)
    if not m:
        raise TraceQLError(f"invalid duration {text!r}")
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def _tokens(q: str) -> list[tuple[str, str, int]]:
    out, pos = [], 0
    while pos < len(q):
        if q[pos:].strip() == "":
            break
        m = _TOKEN.match(q, pos)
        if not m or m.end() == pos:
            col = pos + 1 + (len(q[pos:]) - len(q[pos:].lstrip()))
            raise TraceQLError(f"invalid TraceQL query: parse error at line 1, col {col}: syntax error: "
                               f"unexpected {q[col - 1:col + 5]!r}")
        kind = m.lastgroup or "?"
        out.append((kind, m.group(kind), m.start(kind) + 1))
        pos = m.end()
    return out


Pred = Callable[[SpanView], bool]


class _Parser:
    def __init__(self, q: str) -> None:
        self.toks = _tokens(q)
        self.i = 0

    def _peek(self) -> tuple[str, str, int] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def _fail(self, what: str) -> TraceQLError:
        t = self._peek()
        where = f"col {t[2]}" if t else "end of query"
        got = f"unexpected {t[1]!r}" if t else "unexpected end of query"
        return TraceQLError(f"invalid TraceQL query: parse error at line 1, {where}: syntax error: {got}, "
                            f"expecting {what}")

    def _take(self, text: str | None = None, kind: str | None = None) -> str:
        t = self._peek()
        if t is None or (text is not None and t[1] != text) or (kind is not None and t[0] != kind):
            raise self._fail(text or kind or "a token")
        self.i += 1
        return t[1]

    def query(self) -> Pred:
        self._take("{")
        if self._peek() and self._peek()[1] == "}":  # type: ignore[index]
            self.i += 1
            pred: Pred = lambda s: True  # noqa: E731
        else:
            pred = self._or()
            self._take("}")
        if self._peek() is not None:
            raise self._fail("end of query")
        return pred

    def _or(self) -> Pred:
        parts = [self._and()]
        while self._peek() and self._peek()[1] == "||":  # type: ignore[index]
            self.i += 1
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else (lambda s: any(p(s) for p in parts))

    def _and(self) -> Pred:
        parts = [self._atom()]
        while self._peek() and self._peek()[1] == "&&":  # type: ignore[index]
            self.i += 1
            parts.append(self._atom())
        return parts[0] if len(parts) == 1 else (lambda s: all(p(s) for p in parts))

    def _atom(self) -> Pred:
        t = self._peek()
        if t and t[1] == "(":
            self.i += 1
            inner = self._or()
            self._take(")")
            return inner
        field = self._take(kind="ident")
        t = self._peek()
        if t is None or t[1] not in _OPS:
            raise self._fail("a comparison operator")
        op = self._take()
        t = self._peek()
        if t is None or t[0] not in ("str", "num", "dur", "ident"):
            raise self._fail("a value")
        self.i += 1
        return _compare(field, op, t[0], t[1], t[2])


def _string(raw: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t", "r": "\r"}.get(m.group(1), m.group(1)), raw[1:-1])


def _compare(field: str, op: str, kind: str, raw: str, col: int) -> Pred:
    def bad(why: str) -> TraceQLError:
        return TraceQLError(f"invalid TraceQL query: parse error at line 1, col {col}: {why}")

    if field == "duration":
        if kind != "dur":
            raise bad(f"duration compared with {raw!r}, not a duration")
        want: object = go_duration_ns(raw)
        get: Callable[[SpanView], object] = lambda s: s.duration_ns  # noqa: E731
    elif field in ("status", "kind"):
        allowed = {"status": ("error", "ok", "unset"), "kind": ("unspecified", "internal", "server", "client",
                                                                 "producer", "consumer")}[field]
        if kind != "ident" or raw not in allowed:
            raise bad(f"{field} is one of {', '.join(allowed)}, not {raw!r}")
        want = raw
        get = (lambda s: s.status) if field == "status" else (lambda s: s.kind)
    else:
        if field == "name":
            get = lambda s: s.name  # noqa: E731
        elif field.startswith("resource."):
            key = field.removeprefix("resource.")
            get = lambda s: s.resource.get(key)  # noqa: E731
        elif field.startswith("span."):
            key = field.removeprefix("span.")
            get = lambda s: s.attributes.get(key)  # noqa: E731
        elif field.startswith("."):
            key = field[1:]
            get = lambda s: s.attributes.get(key, s.resource.get(key))  # noqa: E731
        else:
            raise bad(f"unknown identifier {field!r}")
        want = _string(raw) if kind == "str" else raw
    if op in ("=~", "!~"):
        try:
            rx = re.compile(str(want))
        except re.error as e:
            raise bad(f"invalid regex {want!r}: {e}") from None
        neg = op == "!~"
        return lambda s: (get(s) is not None and rx.fullmatch(str(get(s))) is not None) != neg
    cmp: dict[str, Callable[[object, object], bool]] = {
        "=": lambda a, b: a == b, "!=": lambda a, b: a is not None and a != b,
        ">": lambda a, b: a is not None and a > b, ">=": lambda a, b: a is not None and a >= b,  # type: ignore[operator]
        "<": lambda a, b: a is not None and a < b, "<=": lambda a, b: a is not None and a <= b,  # type: ignore[operator]
    }
    f = cmp[op]
    return lambda s: bool(f(get(s), want))


def compile_traceql(q: str) -> Pred:
    """A predicate over spans for one `{ … }` filter; TraceQLError (Tempo's 400 message) when it is not one."""
    if not q.strip():
        raise TraceQLError("invalid TraceQL query: empty query")
    return _Parser(q).query()
