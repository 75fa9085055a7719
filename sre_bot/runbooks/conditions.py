"""A step's condition (`value > 0.05`, `count > 0`, `sync_status != "Synced"`), parsed and evaluated safely.

The text is parsed with Python's `ast` and only these nodes are accepted: comparisons (`== != < <= > >= in
not in`), `and` / `or` / `not`, names (the step's values), constants (numbers, strings, true/false), lists of
constants (for `in`), `+ - * /` and unary minus. Anything else (calls, attributes, subscripts, lambdas,
comprehensions) is refused when the runbook loads. Nothing is ever passed to `eval`: `evaluate` walks the tree.

A value with no data (None, e.g. PromQL returned nothing) makes the comparisons it is in unknown; unknown is
carried through `and` / `or` / `not` as in SQL (false and unknown is false, true or unknown is true), and an
unknown result does not match: "no data" is never a finding by accident. Comparing a string with a number, or
dividing by zero, is a `ConditionError` (the step is marked failed, saying why). Pure.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Condition", "ConditionError", "Verdict", "parse_condition", "MAX_LENGTH"]

MAX_LENGTH = 300
_MAX_NODES = 60
_COMPARE = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
            ast.Gt: operator.gt, ast.GtE: operator.ge,
            ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b}
_ARITH = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
_ALIASES = {"true": True, "false": False}


class ConditionError(ValueError):
    """A condition that cannot be parsed (at load) or evaluated (at run time); the message says why."""


@dataclass(frozen=True)
class Verdict:
    matched: bool
    unknown: tuple[str, ...] = ()  # values that had no data, when the result was unknown


def _check(node: ast.AST, text: str) -> None:
    """Refuse every node outside the small allowed grammar."""
    if isinstance(node, ast.Expression):
        return _check(node.body, text)
    if isinstance(node, ast.BoolOp):
        for v in node.values:
            _check(v, text)
        return None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub)):
        return _check(node.operand, text)
    if isinstance(node, ast.Compare):
        if not all(type(op) in _COMPARE for op in node.ops):
            raise ConditionError(f"`{text}`: only == != < <= > >= in, not in compare")
        for v in (node.left, *node.comparators):
            _check(v, text)
        return None
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITH:
        _check(node.left, text)
        return _check(node.right, text)
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
        return None
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str, bool)):
        return None
    if isinstance(node, (ast.List, ast.Tuple)):
        if not all(isinstance(e, ast.Constant) and isinstance(e.value, (int, float, str)) for e in node.elts):
            raise ConditionError(f"`{text}`: a list holds only numbers and strings")
        return None
    what = type(node).__name__.lower()
    raise ConditionError(f"`{text}`: {what} is not allowed in a condition (only comparisons, and/or/not, "
                         "names, numbers, strings, lists and + - * /)")


@dataclass(frozen=True)
class Condition:
    text: str
    _tree: ast.Expression

    @property
    def names(self) -> set[str]:
        """The value names the condition reads (`true` / `false` are constants, not names)."""
        return {n.id for n in ast.walk(self._tree) if isinstance(n, ast.Name) and n.id not in _ALIASES}

    def evaluate(self, values: Mapping[str, Any]) -> Verdict:
        """Whether the condition holds for `values`; ConditionError when it cannot be computed."""
        missing: list[str] = []
        result = _eval(self._tree.body, values, missing, self.text)
        if result is None:
            return Verdict(False, tuple(dict.fromkeys(missing)))
        if not isinstance(result, bool):
            raise ConditionError(f"`{self.text}` gives {result!r}, not true or false")
        return Verdict(result)


def parse_condition(text: str) -> Condition:
    text = " ".join(str(text).split())
    if not text:
        raise ConditionError("the condition is empty")
    if len(text) > MAX_LENGTH:
        raise ConditionError(f"the condition is longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as e:
        raise ConditionError(f"`{text}` is not a valid condition ({e.msg})") from None
    if sum(1 for _ in ast.walk(tree)) > _MAX_NODES:
        raise ConditionError(f"`{text}` is too complex (at most {_MAX_NODES} parts)")
    _check(tree, text)
    return Condition(text, tree)


def _eval(node: ast.AST, values: Mapping[str, Any], missing: list[str], text: str) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple)):
        return [e.value for e in node.elts]  # type: ignore[attr-defined]
    if isinstance(node, ast.Name):
        if node.id in _ALIASES:
            return _ALIASES[node.id]
        if node.id not in values:
            raise ConditionError(f"`{text}`: no value named {node.id!r}")
        v = values[node.id]
        if v is None:
            missing.append(node.id)
        return v
    if isinstance(node, ast.BoolOp):
        results = [_truth(_eval(v, values, missing, text), text) for v in node.values]
        decisive = isinstance(node.op, ast.Or)  # `or` is decided by a True, `and` by a False
        if decisive in results:
            return decisive
        return None if None in results else not decisive
    if isinstance(node, ast.UnaryOp):
        v = _eval(node.operand, values, missing, text)
        if v is None:
            return None
        if isinstance(node.op, ast.Not):
            return not _truth(v, text)
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            raise ConditionError(f"`{text}`: cannot negate {v!r}")
        return -v
    if isinstance(node, ast.BinOp):
        a, b = _eval(node.left, values, missing, text), _eval(node.right, values, missing, text)
        if a is None or b is None:
            return None
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (a, b)):
            raise ConditionError(f"`{text}`: arithmetic needs numbers, got {a!r} and {b!r}")
        try:
            return _ARITH[type(node.op)](a, b)
        except ZeroDivisionError:
            raise ConditionError(f"`{text}`: division by zero") from None
    if isinstance(node, ast.Compare):
        left = _eval(node.left, values, missing, text)
        unknown = False
        for op, right_node in zip(node.ops, node.comparators, strict=False):
            right = _eval(right_node, values, missing, text)
            if left is None or right is None:
                unknown, left = True, right
                continue
            try:
                ok = _COMPARE[type(op)](left, right)
            except TypeError:
                raise ConditionError(f"`{text}`: cannot compare {left!r} with {right!r}") from None
            if not ok:
                return False
            left = right
        return None if unknown else True
    raise ConditionError(f"`{text}`: cannot evaluate {type(node).__name__}")  # refused at parse time already


def _truth(v: Any, text: str) -> bool | None:
    if v is None or isinstance(v, bool):
        return v
    raise ConditionError(f"`{text}`: {v!r} is not true or false (compare it: `count > 0`)")
