"""The part of LogQL the sandbox understands, parsed into plain objects.

    log query     {namespace="shop", app="checkout"} |= "timeout" != "debug" |~ "(?i)error" !~ "health"
    metric query  count_over_time(<log query> [5m]) | rate(<log query> [1m])
                  optionally inside sum / count / min / max / avg, with `by (...)` or `without (...)`
                  before or after the parenthesis.

Anything else raises `LogQLError` with Loki's "parse error at line 1, col N: ..." wording.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .matchers import Matcher, MatcherError, parse_selector, read_string

__all__ = ["LogQuery", "RangeAggregation", "VectorAggregation", "LogQLError", "parse_logql", "SUPPORTED"]

SUPPORTED = ("stream selectors with =, !=, =~, !~; line filters |= != |~ !~; count_over_time and rate over a "
             "range, inside sum/count/min/max/avg with by/without")
_IDENT = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_DUR = re.compile(r"\s*\[\s*((?:\d+(?:ms|[smhdwy]))+)\s*\]")
_DUR_PART = re.compile(r"(\d+)(ms|[smhdwy])")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_RANGE_FUNCS = ("count_over_time", "rate")
_AGGS = ("sum", "count", "min", "max", "avg")


class LogQLError(ValueError):
    pass


@dataclass(frozen=True)
class LogQuery:
    matchers: list[Matcher]
    filters: list[tuple[str, str, re.Pattern[str] | None]] = field(default_factory=list)

    def keep(self, line: str) -> bool:
        for op, text, rx in self.filters:
            if op == "|=" and text not in line or op == "!=" and text in line:
                return False
            if op == "|~" and not rx.search(line) or op == "!~" and rx.search(line):  # type: ignore[union-attr]
                return False
        return True


@dataclass(frozen=True)
class RangeAggregation:
    func: str
    inner: LogQuery
    range_s: float


@dataclass(frozen=True)
class VectorAggregation:
    op: str
    inner: RangeAggregation | VectorAggregation
    by: tuple[str, ...] | None = None  # group by these labels
    without: tuple[str, ...] | None = None  # or by all labels except these


class _Parser:
    def __init__(self, text: str) -> None:
        self.text, self.pos = text, 0

    def fail(self, msg: str) -> LogQLError:
        return LogQLError(f"parse error at line 1, col {self.pos + 1}: {msg}")

    def ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self, s: str) -> bool:
        self.ws()
        return self.text.startswith(s, self.pos)

    def expect(self, s: str) -> None:
        if not self.peek(s):
            got = self.text[self.pos:self.pos + 12] or "end of query"
            raise self.fail(f"syntax error: unexpected {got!r}, expecting {s!r}")
        self.pos += len(s)

    def ident(self) -> str | None:
        self.ws()
        m = _IDENT.match(self.text, self.pos)
        return m.group(0) if m else None

    def query(self) -> LogQuery | RangeAggregation | VectorAggregation:
        q = self.log_query() if self.peek("{") else self.metric()
        self.ws()
        if self.pos != len(self.text):
            raise self.fail(f"syntax error: unexpected {self.text[self.pos:self.pos + 12]!r} "
                            f"(the sre-bot sandbox simulator supports {SUPPORTED})")
        return q

    def log_query(self) -> LogQuery:
        try:
            matchers, self.pos = parse_selector(self.text, self.pos)
        except MatcherError as e:
            raise self.fail(str(e)) from None
        if not matchers or all(m.matches_empty() for m in matchers):
            raise LogQLError("queries require at least one regexp or equality matcher that does not have an "
                             "empty-compatible value. For instance, app=~\".*\" does not meet this requirement, "
                             "but app=~\".+\" will")
        filters: list[tuple[str, str, re.Pattern[str] | None]] = []
        while True:
            self.ws()
            op = self.text[self.pos:self.pos + 2]
            if op not in ("|=", "!=", "|~", "!~"):
                if self.peek("|"):
                    raise self.fail(f"unsupported pipeline stage (the sre-bot sandbox simulator supports {SUPPORTED})")
                return LogQuery(matchers, filters)
            self.pos += 2
            self.ws()
            try:
                text, self.pos = read_string(self.text, self.pos)
                rx = re.compile(text) if op in ("|~", "!~") else None
            except (MatcherError, re.error) as e:
                raise self.fail(str(e)) from None
            filters.append((op, text, rx))

    def grouping(self) -> tuple[str, tuple[str, ...]] | None:
        word = self.ident()
        if word not in ("by", "without"):
            return None
        self.pos += len(word)
        self.expect("(")
        labels: list[str] = []
        while not self.peek(")"):
            if labels:
                self.expect(",")
            name = self.ident()
            if not name:
                raise self.fail("syntax error: expecting a label name")
            self.pos += len(name)
            labels.append(name)
        self.expect(")")
        return word, tuple(labels)

    def metric(self) -> RangeAggregation | VectorAggregation:
        name = self.ident()
        if name in _RANGE_FUNCS:
            self.pos += len(name)
            self.expect("(")
            inner = self.log_query()
            m = _DUR.match(self.text, self.pos)
            if not m:
                raise self.fail("syntax error: expecting a range like [5m]")
            self.pos = m.end()
            self.expect(")")
            secs = sum(int(n) * _SECONDS[u] for n, u in _DUR_PART.findall(m.group(1)))
            return RangeAggregation(name, inner, float(secs))
        if name in _AGGS:
            self.pos += len(name)
            group = self.grouping()
            self.expect("(")
            operand = self.metric()
            self.expect(")")
            group = group or self.grouping()
            by = group[1] if group and group[0] == "by" else None
            without = group[1] if group and group[0] == "without" else None
            return VectorAggregation(name, operand, by, without)
        raise self.fail(f"syntax error: unexpected {name or self.text[self.pos:self.pos + 12]!r} "
                        f"(the sre-bot sandbox simulator supports {SUPPORTED})")


def parse_logql(text: str) -> LogQuery | RangeAggregation | VectorAggregation:
    if not text.strip():
        raise LogQLError("parse error : syntax error: unexpected $end")
    return _Parser(text).query()
