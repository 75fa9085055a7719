"""One PromQL query for many services: a signal template rewritten to keep the service's labels, so one range
query answers for a whole scope and each result series maps back to its service.

    plan = plan_scope(template_rendered_with(SCOPE_VARIABLES))   # None: not safely rewritable -> per service
    plan.labels                      # ("service",): the labels a result series is mapped back by
    plan.render({"service": ["a", "b"]})
    # sum by (service) (rate(http_requests_total{service=~"a|b"}[5m]))

The template is rendered with sentinel values instead of a service's (`sentinel_variables`), parsed (a small
PromQL parser: selectors, functions, aggregations with `by`/`without` before or after their argument, binary
operators with `bool`, `on`/`ignoring`, `group_left`/`group_right`, subqueries, `offset`, `@`), and edited in place:
- a matcher `label="<sentinel>"` becomes `label=~"<the scope's values>"` (each value regex-escaped);
- every aggregation keeps those labels: `sum(x)` -> `sum by (service) (x)`, `sum by (le) (x)` ->
  `sum by (le, service) (x)`; `without (...)` is kept when it does not drop them;
- `on (...)` vector matching gains them.
It refuses (None) whatever could make one series of the scope query differ from the per-service query's: a
selector without the service's matchers (`vector(0)`, a global metric), selectors matching different label sets,
a sentinel anywhere but a whole equality-matcher value (`pod=~"$service-.*"`), a function outside the
label-preserving list (`scalar`, `absent`, `vector`...), `without`/`ignoring`/`group_left` naming a service label,
`label_replace` writing one, or anything it cannot parse. The caller then queries those services one by one.

Why per-series results are identical: with every aggregation grouped by the service labels, each group holds
exactly the series the per-service query selects, in the same order, and binary operators match within a service.
Over-selection by the regexes (service a in namespace n2) only adds groups no service maps to.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .querylang import LABEL_NAME_RE, quote_value, regex_escape

__all__ = ["ScopePlan", "plan_scope", "sentinel", "SENTINEL_RE"]

_PREFIX = "@@scope:"
SENTINEL_RE = re.compile(r"@@scope:([A-Za-z0-9_:]+)@@")
_SLOT = "@@slot:{}@@"

_AGGREGATORS = frozenset({"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
                          "bottomk", "topk", "quantile", "limitk", "limit_ratio"})
_PARAM_AGGREGATORS = frozenset({"count_values", "bottomk", "topk", "quantile", "limitk", "limit_ratio"})
# functions whose result keeps the labels of their vector arguments (or that take no vector at all)
_LABEL_PRESERVING = frozenset({
    "abs", "ceil", "floor", "round", "exp", "ln", "log2", "log10", "sqrt", "sgn", "clamp", "clamp_max",
    "clamp_min", "changes", "resets", "delta", "idelta", "deriv", "increase", "irate", "rate", "predict_linear",
    "holt_winters", "double_exponential_smoothing", "avg_over_time", "min_over_time", "max_over_time",
    "sum_over_time", "count_over_time", "quantile_over_time", "stddev_over_time", "stdvar_over_time",
    "last_over_time", "present_over_time", "mad_over_time", "histogram_quantile", "histogram_count",
    "histogram_sum", "histogram_fraction", "histogram_avg", "histogram_stddev", "histogram_stdvar", "sort",
    "sort_desc", "sort_by_label", "sort_by_label_desc", "timestamp", "label_replace", "label_join",
    "day_of_month", "day_of_week", "day_of_year", "days_in_month", "hour", "minute", "month", "year",
    "acos", "acosh", "asin", "asinh", "atan", "atanh", "cos", "cosh", "sin", "sinh", "tan", "tanh", "deg", "rad",
    "time", "pi",
})
_NO_ARG_VECTOR = frozenset({"day_of_month", "day_of_week", "day_of_year", "days_in_month", "hour", "minute",
                            "month", "year"})  # with no argument: vector(time()), no labels at all
_BINARY = {"or": 1, "and": 2, "unless": 2, "==": 3, "!=": 3, "<=": 3, "<": 3, ">=": 3, ">": 3, "+": 4, "-": 4,
           "*": 5, "/": 5, "%": 5, "atan2": 5, "^": 6}
_SET_OPS = frozenset({"and", "or", "unless"})

_TOKEN_RE = re.compile(r"""
    (?P<ws>\s+|\#[^\n]*)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<duration>(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w|y))+(?![A-Za-z0-9_]))
  | (?P<number>0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_:]*)
  | (?P<op>==|!=|>=|<=|=~|!~|[-+*/%^<>=(){}\[\],:@])
""", re.VERBOSE)
_STRING_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "'": "'", "a": "\a", "b": "\b",
                   "f": "\f", "v": "\v"}


def sentinel(variable: str) -> str:
    """The placeholder a template variable is rendered with before planning (`service`, `sel:service`...)."""
    return f"{_PREFIX}{variable}@@"


class _Unsafe(Exception):
    """The template cannot be rewritten with the guarantee; the caller queries per service."""


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    start: int
    end: int


def _tokens(text: str) -> list[_Tok]:
    out, pos = [], 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if not m or m.end() == pos:
            raise _Unsafe(f"cannot read {text[pos:pos + 10]!r}")
        kind = m.lastgroup or ""
        if kind != "ws":
            out.append(_Tok(kind, m.group(), m.start(), m.end()))
        pos = m.end()
    out.append(_Tok("eof", "", len(text), len(text)))
    return out


def _unquote(token: str) -> str:
    if token[0] == "`":
        return token[1:-1]
    body, out, i = token[1:-1], [], 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt not in _STRING_ESCAPES:
                raise _Unsafe(f"string escape \\{nxt} not handled")
            out.append(_STRING_ESCAPES[nxt])
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


@dataclass(frozen=True)
class ScopePlan:
    """A rewritten template: `labels` are what a result series is mapped back to its service by; `variables`
    say which template variable gives each label's value for a service."""

    text: str  # the rewritten query with one slot per service label's regex
    labels: tuple[str, ...]
    variables: tuple[tuple[str, frozenset[str]], ...]  # (label, the variables whose value it must equal)

    def key_of(self, values: Mapping[str, str]) -> tuple[str, ...] | None:
        """A service's label values (from its variables' values), or None when two variables feeding one label
        disagree for it (then it is queried alone)."""
        key = []
        for _, names in self.variables:
            seen = {values[n] for n in names if n in values}
            if len(seen) != 1 or any(n not in values for n in names):
                return None
            key.append(seen.pop())
        return tuple(key)

    def render(self, values: Mapping[str, Sequence[str]]) -> str:
        """The scope query selecting, for each label, exactly `values[label]`."""
        out = self.text
        for label in self.labels:
            vals = sorted(set(values[label]))
            if not vals:
                raise ValueError(f"no values for {label!r}")
            out = out.replace(_SLOT.format(label), quote_value("|".join(regex_escape(v) for v in vals)))
        return out

    def values_in(self, query: str) -> dict[str, list[str]] | None:
        """The inverse of `render`: the values each label's regex selects in `query`, or None when `query` is not
        this plan rendered (for a simulator that answers scope queries)."""
        parts = re.split(r"(@@slot:[A-Za-z_][A-Za-z0-9_]*@@)", self.text)
        pattern, order = "", []
        for part in parts:
            m = re.fullmatch(r"@@slot:(.+)@@", part)
            if m:
                pattern += r'"((?:[^"\\]|\\.)*)"'
                order.append(m.group(1))
            else:
                pattern += re.escape(part)
        found = re.fullmatch(pattern, query, re.DOTALL)
        if not found:
            return None
        out: dict[str, list[str]] = {}
        for label, literal in zip(order, found.groups(), strict=True):
            try:
                values = _split_regex(_unquote(f'"{literal}"'))
            except _Unsafe:
                return None
            if label in out and out[label] != values:
                return None
            out[label] = values
        return out

    def regex_chars(self, values: Mapping[str, Sequence[str]]) -> int:
        """How long the longest label regex would be (the caller splits a scope whose regex gets too long)."""
        return max((sum(len(regex_escape(v)) + 1 for v in set(values[label])) for label in self.labels), default=0)


def _split_regex(regex: str) -> list[str]:
    """`a\\.b|c` -> ["a.b", "c"]: the alternatives of a regex made by `regex_escape` + `|`."""
    values, current, i = [], [], 0
    while i < len(regex):
        c = regex[i]
        if c == "\\" and i + 1 < len(regex):
            current.append(regex[i + 1])
            i += 2
            continue
        if c == "|":
            values.append("".join(current))
            current = []
        else:
            current.append(c)
        i += 1
    values.append("".join(current))
    return values


def plan_scope(text: str) -> ScopePlan | None:
    """The scope plan for a template rendered with `sentinel(...)` values, or None when it is not safe."""
    try:
        return _Parser(text).plan()
    except (_Unsafe, IndexError):
        return None


class _Parser:
    """A recursive-descent PromQL reader that records the edits the scope rewrite needs."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokens(text)
        self.i = 0
        self.edits: list[tuple[int, int, str]] = []
        self.selector_labels: list[frozenset[str]] = []
        self.variables: dict[str, set[str]] = {}
        self.used_strings: set[int] = set()  # token indexes of sentinel strings consumed as matcher values
        # where service labels go once they are known: (position, inside an existing list?, its names, ends with ,)
        self.inserts: list[tuple[int, bool, list[str], bool]] = []
        self.label_lists: list[list[str]] = []  # without/ignoring/group_x lists: must not name a service label
        self.label_writes: list[str] = []  # label_replace/label_join/count_values targets

    # --- token helpers ---
    def peek(self, k: int = 0) -> _Tok:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def take(self, text: str | None = None, kind: str | None = None) -> _Tok:
        t = self.peek()
        if (text is not None and t.text != text) or (kind is not None and t.kind != kind):
            raise _Unsafe(f"expected {text or kind} at {t.start}, found {t.text!r}")
        self.i += 1
        return t

    def at(self, text: str) -> bool:
        return self.peek().text == text and self.peek().kind in ("op", "ident")

    # --- the plan ---
    def plan(self) -> ScopePlan:
        self.expr(0)
        self.take(kind="eof")
        for idx, t in enumerate(self.toks):
            if t.kind == "string" and _PREFIX in t.text and idx not in self.used_strings:
                raise _Unsafe("a template variable is used outside a whole equality-matcher value")
        sets = set(self.selector_labels)
        if len(sets) != 1:
            raise _Unsafe("selectors match on different label sets (or none does)")
        labels = tuple(sorted(next(iter(sets))))
        if not labels or "__name__" in labels:
            raise _Unsafe("no service label to group by")
        for names in self.label_lists:
            if set(names) & set(labels):
                raise _Unsafe("without/ignoring/group_left names a service label")
        if set(self.label_writes) & set(labels):
            raise _Unsafe("a function writes a service label")
        for pos, has_list, existing, trailing in self.inserts:
            self.edits.append((pos, pos, self._by_text(has_list, existing, trailing, labels)))
        out = self.text
        for start, end, new in sorted(self.edits, key=lambda e: (e[0], e[1]), reverse=True):
            out = out[:start] + new + out[end:]
        variables = tuple((label, frozenset(self.variables[label])) for label in labels)
        return ScopePlan(text=out, labels=labels, variables=variables)

    @staticmethod
    def _by_text(has_list: bool, existing: list[str], trailing: bool, labels: tuple[str, ...]) -> str:
        missing = [lb for lb in labels if lb not in existing]
        if not has_list:
            return f" by ({', '.join(labels)}) "
        if not missing:
            return ""
        sep = "" if not existing else (" " if trailing else ", ")
        return sep + ", ".join(missing)

    # --- grammar ---
    def expr(self, min_prec: int) -> None:
        self.unary()
        while True:
            t = self.peek()
            op = t.text if t.kind in ("op", "ident") else ""
            prec = _BINARY.get(op)
            if prec is None or prec < min_prec:
                return
            self.i += 1
            if self.at("bool"):
                self.i += 1
            self.matching()
            # `^` is right-associative, the rest left-associative
            self.expr(prec if op == "^" else prec + 1)

    def matching(self) -> None:
        if self.at("on") or self.at("ignoring"):
            kind = self.take().text
            names, close, trailing = self.label_list()
            if kind == "on":
                self.inserts.append((close, True, names, trailing))
            else:
                self.label_lists.append(names)
        if self.at("group_left") or self.at("group_right"):
            self.i += 1
            if self.at("("):
                names, _, _ = self.label_list()
                self.label_lists.append(names)

    def label_list(self) -> tuple[list[str], int, bool]:
        """`( a, b, )`: the names, the position of `)`, and whether a comma ends the list."""
        self.take("(")
        names, trailing = [], False
        while not self.at(")"):
            t = self.take()
            if t.kind == "ident":
                names.append(t.text)
            elif t.kind == "string":
                names.append(_unquote(t.text))
            else:
                raise _Unsafe(f"unexpected {t.text!r} in a label list")
            trailing = False
            if self.at(","):
                self.i += 1
                trailing = True
        close = self.take(")")
        return names, close.start, trailing

    def unary(self) -> None:
        if self.peek().kind == "op" and self.peek().text in ("+", "-"):
            self.i += 1
            self.expr(_BINARY["^"])  # unary binds tighter than * but looser than ^
            return
        self.primary()
        self.postfix()

    def postfix(self) -> None:
        while True:
            if self.at("["):  # range or subquery
                self.i += 1
                while not self.at("]"):
                    t = self.take()
                    if t.kind not in ("duration", "number") and t.text != ":":
                        raise _Unsafe(f"unexpected {t.text!r} in a range")
                self.take("]")
            elif self.at("offset"):
                self.i += 1
                if self.peek().text in ("-", "+"):
                    self.i += 1
                self.take()
            elif self.at("@"):
                self.i += 1
                if self.at("start") or self.at("end"):
                    self.i += 1
                    self.take("(")
                    self.take(")")
                else:
                    self.take()
            else:
                return

    def primary(self) -> None:
        t = self.peek()
        if t.kind in ("number", "duration", "string"):
            self.i += 1
        elif t.kind == "op" and t.text == "(":
            self.i += 1
            self.expr(0)
            self.take(")")
        elif t.kind == "op" and t.text == "{":
            self.selector(None)
        elif t.kind == "ident":
            nxt = self.peek(1)
            if t.text in _AGGREGATORS and (nxt.text in ("(", "by", "without")):
                self.aggregation()
            elif nxt.text == "(" and nxt.kind == "op":
                self.function()
            elif t.text.lower() in ("inf", "nan"):
                self.i += 1
            else:
                self.i += 1
                if self.at("{"):
                    self.selector(t)
                else:
                    self.selector_labels.append(frozenset())  # a bare metric: no service matchers
        else:
            raise _Unsafe(f"unexpected {t.text!r}")

    def selector(self, name: _Tok | None) -> None:
        self.take("{")
        varying: set[str] = set()
        while not self.at("}"):
            label_tok = self.take()
            if label_tok.kind == "string" and (self.at(",") or self.at("}")):  # {"metric.name"}
                if _PREFIX in label_tok.text:
                    raise _Unsafe("a template variable as a metric name")
            else:
                if label_tok.kind not in ("ident", "string"):
                    raise _Unsafe(f"unexpected {label_tok.text!r} in a selector")
                label = label_tok.text if label_tok.kind == "ident" else _unquote(label_tok.text)
                op = self.take(kind="op")
                if op.text not in ("=", "!=", "=~", "!~"):
                    raise _Unsafe(f"unexpected matcher operator {op.text!r}")
                value_idx = self.i
                value = self.take(kind="string")
                m = SENTINEL_RE.fullmatch(_unquote(value.text))
                if m and op.text == "=":
                    if not LABEL_NAME_RE.match(label) or label in varying:
                        raise _Unsafe(f"label {label!r} cannot be grouped by")
                    varying.add(label)
                    self.variables.setdefault(label, set()).add(m.group(1))
                    self.used_strings.add(value_idx)
                    self.edits.append((label_tok.start, value.end, f"{label}=~{_SLOT.format(label)}"))
            if self.at(","):
                self.i += 1
        self.take("}")
        self.selector_labels.append(frozenset(varying))

    def aggregation(self) -> None:
        name = self.take(kind="ident")
        clause: tuple[str, list[str], int, bool] | None = None
        if self.at("by") or self.at("without"):
            kind = self.take().text
            names, close, trailing = self.label_list()
            clause = (kind, names, close, trailing)
        self.take("(")
        if name.text in _PARAM_AGGREGATORS:
            param = self.peek()
            self.expr(0)
            if name.text == "count_values" and param.kind == "string":
                self.label_writes.append(_unquote(param.text))
            elif name.text == "count_values":
                raise _Unsafe("count_values with a computed label name")
            self.take(",")
        self.expr(0)
        if self.at(","):
            self.i += 1
        self.take(")")
        if clause is None and (self.at("by") or self.at("without")):
            kind = self.take().text
            names, close, trailing = self.label_list()
            clause = (kind, names, close, trailing)
        if clause is None:
            self.inserts.append((name.end, False, [], False))
        elif clause[0] == "by":
            self.inserts.append((clause[2], True, clause[1], clause[3]))
        else:
            self.label_lists.append(clause[1])

    def function(self) -> None:
        name = self.take(kind="ident")
        if name.text not in _LABEL_PRESERVING:
            raise _Unsafe(f"{name.text}() does not keep its argument's labels")
        self.take("(")
        args: list[_Tok] = []
        while not self.at(")"):
            args.append(self.peek())
            self.expr(0)
            if self.at(","):
                self.i += 1
            else:
                break
        self.take(")")
        if name.text in _NO_ARG_VECTOR and not args:
            raise _Unsafe(f"{name.text}() without an argument makes a vector with no labels")
        if name.text in ("label_replace", "label_join"):
            if len(args) < 2 or args[1].kind != "string":
                raise _Unsafe(f"{name.text}() with a computed target label")
            self.label_writes.append(_unquote(args[1].text))
