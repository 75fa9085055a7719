"""Figures: the numbers, times of day, dates and version strings in a text, and whether a figure the model wrote is
backed by the figures of the evidence it cites. Pure: no I/O. The rules are stated in `grounding.py`'s docstring.

A number is read with what makes it a measurement: its magnitude (thousands separators, decimals, an exponent, a
`k`/`M`/`bn`/`thousand`/`million`/`billion` multiplier) and, when one follows it, its unit (time, percent, bytes,
rates, cores, `x`). Its precision is half a unit of its last significant digit: "0.25" covers 0.245..0.255;
trailing zeros of a whole number are taken as padding beyond the second significant digit ("250" covers 245..255,
"2,000" covers 1,950..2,050, "2k" covers 1.5k..2.5k).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["Quantity", "Figures", "figures_of", "unbacked"]

# unit spelling -> canonical unit
_ALIASES: dict[str, str] = {
    **dict.fromkeys(["ns", "nanosecond", "nanoseconds"], "ns"),
    **dict.fromkeys(["µs", "μs", "us", "microsecond", "microseconds"], "µs"),
    **dict.fromkeys(["ms", "msec", "msecs", "millisecond", "milliseconds"], "ms"),
    **dict.fromkeys(["s", "sec", "secs", "second", "seconds"], "s"),
    **dict.fromkeys(["m", "min", "mins", "minute", "minutes"], "min"),
    **dict.fromkeys(["h", "hr", "hrs", "hour", "hours"], "h"),
    **dict.fromkeys(["d", "day", "days"], "d"),
    **dict.fromkeys(["%", "percent", "pct"], "%"),
    **dict.fromkeys(["B", "byte", "bytes"], "B"),
    **dict.fromkeys(["KB", "kB", "KiB", "Ki"], "KB"),
    **dict.fromkeys(["MB", "MiB", "Mi"], "MB"),
    **dict.fromkeys(["GB", "GiB", "Gi"], "GB"),
    **dict.fromkeys(["TB", "TiB", "Ti"], "TB"),
    **dict.fromkeys(["req/s", "reqs/s", "requests/s", "rps", "qps", "/s"], "req/s"),
    **dict.fromkeys(["req/min", "rpm", "/min"], "req/min"),
    **dict.fromkeys(["cores", "core"], "cores"),
    **dict.fromkeys(["x", "×"], "x"),
}
# canonical unit -> (dimension, its size(s) in the dimension's base unit). A decimal and a binary byte prefix are
# both read either way ("1.5 GB" is written for 1.5e9 and for 1610612736 bytes).
_UNITS: dict[str, tuple[str, tuple[float, ...]]] = {
    "ns": ("time", (1e-9,)), "µs": ("time", (1e-6,)), "ms": ("time", (1e-3,)), "s": ("time", (1.0,)),
    "min": ("time", (60.0,)), "h": ("time", (3600.0,)), "d": ("time", (86400.0,)),
    "%": ("fraction", (0.01,)),
    "B": ("bytes", (1.0,)), "KB": ("bytes", (1e3, 2.0**10)), "MB": ("bytes", (1e6, 2.0**20)),
    "GB": ("bytes", (1e9, 2.0**30)), "TB": ("bytes", (1e12, 2.0**40)),
    "req/s": ("rate", (1.0,)), "req/min": ("rate", (1 / 60,)), "cores": ("cores", (1.0,)), "x": ("x", (1.0,)),
}
# the units a number printed with no unit is plausibly in: seconds or milliseconds, a ratio, bytes, ...
_BARE: dict[str, tuple[float, ...]] = {"time": (1.0, 1e-3), "fraction": (1.0,), "bytes": (1.0,), "rate": (1.0,),
                                       "cores": (1.0,), "x": (1.0,)}
_MULTIPLIERS = {"k": 1e3, "K": 1e3, "M": 1e6, "bn": 1e9, "thousand": 1e3, "million": 1e6, "billion": 1e9}

_LETTER = r"[^\W\d_]"
_UNIT_RE = "|".join(re.escape(a) for a in sorted(_ALIASES, key=len, reverse=True))
_QUANTITY = re.compile(
    r"(?<![\w.])(?P<int>\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?P<frac>\.\d+)?(?P<exp>[eE][-+]?\d+(?!\.\d))?"
    rf"(?:(?P<mult>[kKM]|bn)(?!{_LETTER})|\s(?P<multw>thousand|million|billion)\b)?"
    rf"(?:(?:\s|-(?={_LETTER}{{3}}))?(?P<unit>{_UNIT_RE})(?!{_LETTER}))?")  # "5 s", "5s", "5-minute"
_ISO_T = re.compile(r"(\d{4}-\d{2}-\d{2})T(?=\d)")
_DATE = re.compile(r"(?<![\w.-])\d{4}-\d{2}-\d{2}(?![\w-])")
_TIME = re.compile(r"(?<![\d:.])(\d{1,2}):(\d{2})(?::(\d{2}))?(?![\d:])")
_DOTTED = re.compile(r"(?<![\w.])\d+(?:\.\d+){2,}(?![\w.])")  # versions and addresses: 1.2.3, 10.0.0.1
_RANK = re.compile(r"\b(?:top|rank|step|hypothesis|option|item|no\.)\s*$", re.IGNORECASE)
_LIST_START = re.compile(r"(?:^|\n)[ \t]*(?:[-*•][ \t]*)?$")
_COUNTED = re.compile(r"\s+(?:[A-Za-z-]+\s+)?(?:services?|hypothes[ie]s|causes?|candidates?|steps?|options?|items?"
                      r"|findings?|reasons?|possibilit(?:y|ies))\b", re.IGNORECASE)
MAX_EXEMPT_COUNT = 10


@dataclass(frozen=True)
class Quantity:
    """A number as written: `value` is its magnitude (multiplier applied), `half` half a unit of its last
    significant digit, `unit` the canonical unit or None."""

    text: str
    value: float
    half: float
    unit: str | None

    def backed_by(self, value: float, unit: str | None) -> bool:
        """Whether an evidence number (`value`, printed with `unit` or none) rounds to this one, as written or
        converted between units of this number's dimension."""
        if self._rounds_to(value):
            return True
        if self.unit is None:
            return False
        dim, sizes = _UNITS[self.unit]
        if unit is None:
            theirs = _BARE[dim]
        elif _UNITS[unit][0] == dim:
            theirs = _UNITS[unit][1]
        else:
            return False
        return any(self._rounds_to(value * t / s) for t in theirs for s in sizes)

    def _rounds_to(self, x: float) -> bool:
        return abs(abs(x) - self.value) <= self.half * (1 + 1e-9) + 1e-9 * self.value


@dataclass
class Figures:
    """What a text says in figures: numbers (with units), times of day, dates and dotted strings."""

    quantities: list[tuple[float, str | None]] = field(default_factory=list)
    times: set[str] = field(default_factory=set)  # "04:02" and "04:02:13" for 04:02:13
    dates: set[str] = field(default_factory=set)
    dotted: set[str] = field(default_factory=set)

    def update(self, other: Figures) -> Figures:
        self.quantities.extend(other.quantities)
        self.times |= other.times
        self.dates |= other.dates
        self.dotted |= other.dotted
        return self

    @classmethod
    def union(cls, many: Iterable[Figures]) -> Figures:
        out = cls()
        for f in many:
            out.update(f)
        return out


def _quantity(m: re.Match[str]) -> Quantity:
    whole, frac, exp = m["int"].replace(",", ""), m["frac"] or "", m["exp"] or ""
    if frac:
        half = 0.5 * 10.0 ** -(len(frac) - 1)
    else:
        digits = whole.lstrip("0") or "0"
        padding = len(digits) - len(digits.rstrip("0")) if digits != "0" else 0
        significant = len(digits) - padding
        if padding:
            significant = min(max(significant, 2), len(digits))
        half = 0.5 * 10.0 ** (len(digits) - significant)
    scale = 10.0 ** int(exp[1:]) if exp else 1.0
    mult = _MULTIPLIERS[m["mult"] or m["multw"]] if (m["mult"] or m["multw"]) else 1.0
    unit = _ALIASES[m["unit"]] if m["unit"] else None
    return Quantity(text=m.group(0), value=float(whole + frac) * scale * mult, half=half * scale * mult, unit=unit)


def _is_identifier(t: str, m: re.Match[str]) -> bool:
    """Digits glued to a word ("5xx", "2nd", "3f2a9c", "payments-2", "HTTP/2"): part of a name, not a figure."""
    start, end = m.span()
    if end < len(t) and (t[end].isalnum() or t[end] == "_"):
        return True
    if start >= 2 and t[start - 1] in "-/":
        run = re.search(r"\w+$", t[:start - 1])
        return run is not None and any(c.isalpha() for c in run.group(0))
    return False


def _is_exempt(t: str, m: re.Match[str]) -> bool:
    """A rank or a count that is obviously not a measurement (see grounding's docstring)."""
    start, end = m.span()
    if start and t[start - 1] == "#":
        return True
    if m["frac"] or m["exp"] or m["mult"] or m["multw"] or m["unit"] or len(m["int"]) > 2:
        return False
    n = int(m["int"])
    if _RANK.search(t[max(0, start - 12):start]):
        return True
    after = t[end:end + 2]
    if after[:1] in (".", ")") and after[1:2] in (" ", "\t", "\n", "") and _LIST_START.search(t[:start]):
        return True
    if after[:1] == ")" and (start == 0 or t[start - 1] in " \t\n(:;,") and re.match(r"\)\s+" + _LETTER, t[end:]):
        return True
    return n <= MAX_EXEMPT_COUNT and _COUNTED.match(t, end) is not None


def _scan(text: str) -> tuple[str, list[tuple[int, str, str]]]:
    """The text with dates, times and dotted strings blanked out (positions kept), and those as (position, kind,
    normalised string)."""
    found: list[tuple[int, str, str]] = []

    def blank(kind: str, norm: str, m: re.Match[str]) -> str:
        found.append((m.start(), kind, norm))
        return " " * len(m.group(0))

    t = _ISO_T.sub(r"\1 ", text)
    t = _DATE.sub(lambda m: blank("date", m.group(0), m), t)
    t = _TIME.sub(lambda m: blank("time", f"{int(m[1]):02d}:{m[2]}" + (f":{m[3]}" if m[3] else ""), m), t)
    t = _DOTTED.sub(lambda m: blank("dotted", m.group(0), m), t)
    return t, found


def figures_of(text: str) -> Figures:
    """The figures an evidence text offers (digits inside names and identifiers are not figures)."""
    t, found = _scan(text)
    out = Figures()
    for _, kind, norm in found:
        if kind == "time":
            out.times.update({norm, norm[:5]})
        else:
            (out.dates if kind == "date" else out.dotted).add(norm)
    for m in _QUANTITY.finditer(t):
        if not _is_identifier(t, m):
            q = _quantity(m)
            out.quantities.append((q.value, q.unit))
    return out


def unbacked(text: str, evidence: Figures) -> list[str]:
    """The figures in `text` (model prose) that `evidence` does not back, as written, in the order they appear."""
    t, found = _scan(text)
    bad: list[tuple[int, str]] = []
    for at, kind, norm in found:
        ok = (norm in evidence.times if kind == "time" else
              norm in evidence.dates if kind == "date" else norm in evidence.dotted)
        if not ok:
            bad.append((at, norm))
    for m in _QUANTITY.finditer(t):
        if _is_identifier(t, m) or _is_exempt(t, m):
            continue
        q = _quantity(m)
        if not any(q.backed_by(v, u) for v, u in evidence.quantities):
            bad.append((m.start(), q.text.strip()))
    return [s for _, s in sorted(bad, key=lambda p: p[0])]
