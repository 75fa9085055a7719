"""Secrets and personal data out of everything sent to the model, each replaced by `[REDACTED:<kind>]`.

For key=value, header and URL-password shapes only the value goes (`password=[REDACTED:password]`,
`postgres://app:[REDACTED:password]@db/orders`), so the evidence still reads. A placeholder is never matched
again, so redacting twice is redacting once. Rules run most specific first: vendor token shapes, then the
generic key=value rules, then emails, IPs (only when asked) and the configured extra patterns.

Judgement calls, because a false positive costs the model evidence:
- a value that is a plain number, duration or boolean is a setting, not a secret: `token_bucket_size=5`,
  `max_tokens=1024`, `auth_status=401` stay; so does a value that is already masked (`password=****`);
- a key that names something *about* a secret stays: `secretName`, `token_ttl`, `password_file`, `token_url`;
- `auth` counts only as the last word of a key (`auth`, `basic_auth`, `Authorization`), so a service
  `auth-api: ...` or `auth_method=oidc` stays; `PWD=/srv/app` is a directory; `git@github.com:` is a git remote;
- `key: value` without quotes counts at the start of a line or right after `{ ( , ; |` or a quote, so prose
  such as "failed to fetch token: timeout" stays; mid-line it counts only for unambiguous keys (password,
  secret, api key, access/private key) with a credential-looking value (a digit, or 16+ token characters);
  `key=value` counts anywhere;
- a lone `Bearer x` needs 16+ characters with a digit; after `Authorization:` any value goes;
- IPs stay unless `redact_ips=True`: they are usually the evidence;
- command lines and DSNs count only in the shapes that carry a password: `mysql -pPW` (not `-p` alone, which
  prompts, nor `-P 3306`), `redis-cli -a PW`, `user:pw@tcp(host)/db`, `scott/pw@//db`, `scott/pw` after `sqlplus`,
  `connect scott/pw@tns` (not `acme/checkout@sha256:…`, `connect by prior`, "cannot connect host/port");
- a `Cookie:` header loses every value (its names stay), a `Set-Cookie:` header its cookie's value, never the
  attributes (`Path=/`, `Expires=…`); a Go `http.Header` dump (`map[X-Auth-Token:[…]]`) counts like `key: value`;
- a base64 blob counts as a private key when it decodes to a PEM private key header (`LS0tLS1CRUdJTi…`), so a
  base64 certificate (`TLS_CRT=LS0t…`) stays.
"""

from __future__ import annotations

import base64
import binascii
import re
from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError

__all__ = ["Redactor", "KINDS", "PLACEHOLDER"]

PLACEHOLDER = re.compile(r"\[REDACTED:[a-z0-9_]+\]")

_KEY = (r"(?P<key>[\w.-]*?(?:passw(?:or)?d|passphrase|pwd|secret|token|api[_-]?key|apikey|access[_-]?key"
        r"|private[_-]?key|auth(?:orization)?(?![\w.-]))[\w.-]*)")
_STRONG_KEY = (r"(?P<key>[\w.-]*?(?:passw(?:or)?d|passphrase|secret|api[_-]?key|apikey|access[_-]?key"
               r"|private[_-]?key)(?![\w.-]))")
_VAL = (r"""(?:\\"(?P<eq>[^"\\\n]*)\\"|"(?P<dq>(?:[^"\\\n]|\\.)*)"|'(?P<sq>[^'\n]*)'"""
        r"|(?P<bare>(?!(?:bearer|basic|token|digest|negotiate)\s)[^\s\"'`,;&<>{}\[\]]+))")
_VALUE_GROUPS = ("eq", "dq", "sq", "bare")
_KEY_ONLY = re.compile(_KEY, re.I)
_SETTING = re.compile(r"[-+]?\d+(?:\.\d+)?(?:ms|s|m|h|d|%)?|true|false|yes|no|on|off|null|none|nil|\*+", re.I)
_ABOUT_A_SECRET = re.compile(r"(?:name|names|ref|path|file|type|len|length|count|size|ttl|expiry|expires"
                             r"|version|status|method|mode|enabled|url|uri|endpoint|rotation|policy)$")


def _key_kind(key: str, value: str) -> str | None:
    """The kind for a value stored under a secret-sounding key, or None when the pair is not a secret."""
    key = key.strip("\"'\\ -").lower()
    if not value or _SETTING.fullmatch(value) or _ABOUT_A_SECRET.search(key) or PLACEHOLDER.fullmatch(value):
        return None
    if key in ("pwd", "oldpwd") and value.startswith(("/", "~")):
        return None
    if re.search(r"passw|passphrase|pwd", key):
        return "password"
    if re.search(r"api[_-]?key|apikey", key):
        return "api_key"
    return "token" if "token" in key else "secret"


def _kv_kind(m: re.Match[str]) -> str | None:
    groups = m.groupdict()
    value = next((groups[g] for g in _VALUE_GROUPS if groups.get(g) is not None), "")
    return _key_kind(m.group("key"), value)


@dataclass(frozen=True)
class _Rule:
    kind: str | Callable[[re.Match[str]], str | None]  # a callable decides per match (None: leave it)
    regex: re.Pattern[str]
    groups: tuple[int | str, ...] = (0,)  # the first group that took part is replaced; the rest is kept
    each: re.Pattern[str] | None = None  # instead: inside that group, replace the group `v` of each of these matches


def _r(kind: Any, pattern: str, groups: tuple[int | str, ...] = (0,), flags: int = 0,
       each: re.Pattern[str] | None = None) -> _Rule:
    return _Rule(kind, re.compile(pattern, flags), groups, each)


def _map_kind(m: re.Match[str]) -> str | None:
    """A Go `http.Header` entry (`X-Auth-Token:[…]`): a secret when its key names one, as for `key: value`."""
    return _key_kind(m.group("key"), m.group("v"))


_PEM_PRIVATE_HEADER = re.compile(rb"-----BEGIN[A-Z0-9 ]*PRIVATE KEY")


def _base64_pem_kind(m: re.Match[str]) -> str | None:
    """A base64 blob that starts like a PEM file (`LS0tLS1CRUdJTi`): a private key when its header decodes to one."""
    head = re.sub(r"\\n|\s", "", m.group(0))[:96]
    try:
        decoded = base64.b64decode(head[: len(head) // 4 * 4])
    except (binascii.Error, ValueError):
        return None
    return "private_key" if _PEM_PRIVATE_HEADER.match(decoded) else None


_I, _M, _S = re.IGNORECASE, re.MULTILINE, re.DOTALL
_V = ("v",)
_AUTHZ = r"\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"'\[]?"  # the header, up to its scheme (Go: `:[`)
_PEM = r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
_PEM_END = r"-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
_NL = r"(?:\r?\n|(?:\\r)?\\n)"  # a line break, real or escaped inside a JSON string
_AWS_ID = r"(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA)[A-Z0-9]{16}(?![A-Z0-9])"
_QUOTED_OR_BARE = r"(?:'(?P<sq>[^'\n]+)'|\"(?P<dq>[^\"\n]+)\"|(?P<v>[^\s'\"`;|&]+))"  # a shell word
# a cookie's `name=value` (`v`), unless the name is a Set-Cookie attribute
_COOKIE_PAIR = re.compile(r"(?:^|(?<=[;\s]))(?!(?:path|domain|expires|max-age|samesite|secure|httponly|priority"
                          r"|partitioned)\s*=)[^=;\s]+=(?P<v>[^;\s\"'\]]+)", re.I)
_RULES: tuple[_Rule, ...] = (
    _r("private_key", _PEM + r"(?:(?:(?!-----BEGIN).){0,16000}?" + _PEM_END + r"|(?:\\n|[A-Za-z0-9+/=\s])*)",
       flags=_S),  # no END (a truncated log line): the base64 body that follows
    # a PuTTY key file whole; cut off before its MAC, the base64 lines after `Private-Lines: N`
    _r("private_key", r"PuTTY-User-Key-File-\d+:(?:(?!PuTTY-User-Key-File).){0,16000}?Private-MAC:[ \t]*[0-9a-fA-F]+",
       flags=_S),
    _r("private_key", r"Private-Lines:[ \t]*\d+(?:" + _NL + r"|[ \t]+)(?P<v>[A-Za-z0-9+/]{8,}={0,2}(?:(?:" + _NL
       + r"|[ \t]+)[A-Za-z0-9+/]{8,}={0,2})*)", _V),
    _r(_base64_pem_kind, r"(?<![A-Za-z0-9+/])LS0tLS1CRUdJTi[A-Za-z0-9+/]{16,}={0,2}(?:" + _NL
       + r"[A-Za-z0-9+/]{16,}={0,2})*"),  # a PEM file in base64 (Kubernetes secrets, TLS_KEY=…)
    _r("password", r"\b[a-z][a-z0-9+.-]*://[^\s:/@?#]*:(?P<v>[^\s@/?#]+)@", _V, _I),
    # Go's MySQL driver: user:pw@tcp(host:3306)/db, user:pw@unix(/sock)/db (a password may hold `@` and `:`)
    _r("password", r"(?<![\w.:/-])[\w.-]+:(?P<v>[^\s\"'`]+?)@(?:tcp6?|udp|unix)\(", _V),
    # Oracle: scott/pw@//host:1521/svc (EZConnect) anywhere; after sqlplus, connect, userid= … also @TNS or alone
    _r("password", r"(?<![\w./@-])[A-Za-z][\w$#]*/(?P<v>[^\s/@\"']+)@//[\w.-]", _V),
    _r("password", r"\b(?:sqlplus|rman|expdp|impdp|sqlldr|dgmgrl)\b(?:[ \t]+-\w+)*[ \t]+(?:userid=)?"
       r"[A-Za-z][\w$#]*/(?P<v>[^\s/@\"']+)(?=@|\s|$)", _V, _I),
    _r("password", r"\b(?:connect|conn)[ \t]+[A-Za-z][\w$#]*/(?P<v>[^\s/@\"']+)@", _V, _I),
    _r("password", r"\buserid=[A-Za-z][\w$#]*/(?P<v>[^\s/@\"']+)", _V, _I),
    # mysql -pPW (attached: `-p` alone prompts), redis-cli -a PW, redis.conf and MONITOR's "AUTH" [user] "pw"
    _r("password", r"\b(?:mysql(?:dump|admin|import|check|show|pump|slap)?|mariadb(?:-dump|-admin)?)(?![\w-])"
       r"[^\n|;&]*?[ \t]-p(?!-)" + _QUOTED_OR_BARE, ("sq", "dq", "v")),
    _r("password", r"\bredis-cli(?![\w-])[^\n|;&]*?[ \t](?:-a|--pass)[ \t]+" + _QUOTED_OR_BARE, ("sq", "dq", "v")),
    _r("password", r"(?:^|[:;][ \t]*|\bconfig[ \t]+set[ \t]+)(?:requirepass|masterauth)[ \t]+" + _QUOTED_OR_BARE,
       ("sq", "dq", "v"), _I | _M),
    _r("password", r"\"auth\"(?:[ \t]+\"[^\"\n]*\")?[ \t]+\"(?P<v>[^\"\n]+)\"", _V, _I),
    # an AWS secret key written right after its key id: AKIA…:secret, s3://AKIA…:secret@bucket
    _r("aws_secret_key", _AWS_ID + r"[:,;|][ \t]*(?P<v>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])", _V),
    _r("jwt", r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),
    _r("aws_access_key", _AWS_ID),
    _r("github_token", r"(?<!\w)(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})(?!\w)"),
    _r("gitlab_token", r"(?<![\w-])glpat-[A-Za-z0-9_-]{20,}"),
    _r("slack_token", r"(?<![\w-])(?:(?:xoxe\.)?xox[abposre]-[A-Za-z0-9-]{10,}|xapp-\d-[A-Za-z0-9-]{10,})"),
    _r("slack_webhook", r"https://hooks\.slack\.com/(?:services|workflows|triggers)/(?P<v>[A-Za-z0-9/_-]+)", _V),
    _r("stripe_key", r"(?<!\w)(?:(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}|whsec_[A-Za-z0-9]{24,})"),
    _r("google_api_key", r"(?<![\w-])AIza[0-9A-Za-z_-]{35}(?![\w-])"),
    _r("anthropic_key", r"(?<![\w-])sk-ant-[A-Za-z0-9_-]{20,}"),
    _r("openai_key", r"(?<![\w-])sk-(?:proj-|svcacct-|admin-)?(?=[A-Za-z0-9_-]*\d)[A-Za-z0-9_-]{20,}"),
    _r("npm_token", r"(?<!\w)npm_[A-Za-z0-9]{36}(?!\w)"),
    _r("pypi_token", r"(?<![\w-])pypi-[A-Za-z0-9_-]{40,}"),
    _r("sendgrid_key", r"(?<![\w.])SG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}"),
    _r("twilio_key", r"(?<!\w)(?:SK|AC)[0-9a-f]{32}(?!\w)"),
    _r("mailgun_key", r"(?<![\w-])key-[0-9a-f]{32}(?!\w)"),
    _r("vault_token", r"(?<![\w.])hv[sbr]\.[A-Za-z0-9_-]{24,}"),
    _r("docker_token", r"(?<!\w)dckr_pat_[A-Za-z0-9_-]{20,}"),
    _r("shopify_token", r"(?<!\w)shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}(?!\w)"),
    _r("digitalocean_token", r"(?<!\w)do[por]_v1_[a-f0-9]{64}(?!\w)"),
    _r("azure_storage_key", r"AccountKey=(?P<v>[A-Za-z0-9+/]{20,}={0,2})", _V, _I),
    _r("azure_sas", r"[?&]sig=(?P<v>[A-Za-z0-9%+/=]{16,})", _V),
    _r("aws_secret_key",
       r"aws_?secret_?(?:access_?)?key[\"']?\s*[:=]\s*[\"']?(?P<v>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])", _V, _I),
    _r("datadog_key",
       r"(?<![\w.-])(?:dd|datadog)[\w.-]{0,40}?(?:api|app(?:lication)?)[_-]?key[\"']?\s*[:=]\s*[\"']?"
       r"(?P<v>[a-f0-9]{32,40})\b",
       _V, _I),
    _r("api_key", r"api[_-]?key[\"']?\s*[:=]\s*[\"']?(?P<v>[a-f0-9]{32,40})\b", _V, _I),  # hex after any api_key
    _r("heroku_api_key",
       r"heroku[\w.-]{0,40}[\"']?\s*[:=]\s*[\"']?(?P<v>[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12})\b", _V, _I),
    _r("bearer_token", _AUTHZ + r"(?:bearer|token)\s+(?P<v>[^\s\"',;\]]+)", _V, _I),
    _r("bearer_token", r"\bbearer\s+(?P<v>(?=[\w.~+/-]*\d)[\w.~+/-]{16,}=*)", _V, _I),
    _r("basic_auth", _AUTHZ + r"basic\s+(?P<v>[A-Za-z0-9+/]+=*)", _V, _I),
    # Cookie: a=1; b=2 (every value) and Set-Cookie: a=1; Path=/ (not the attributes), as headers, JSON or Go maps
    _r("cookie", r"\b(?:set-)?cookie[\"']?[ \t]*[:=][ \t]*\[?[\"']?(?P<v>[^\r\n\"'\]]+)", _V, _I, each=_COOKIE_PAIR),
    # a Go http.Header dump: map[Accept:[*/*] X-Auth-Token:[…]]
    _r(_map_kind, r"(?<=[\[ ])" + _KEY + r":\[(?P<v>[^\[\]\n]+)\]", _V, _I),
    # key=value anywhere; "key": value; key: value at a line start or after { ( , ; | or a quote; --key value
    _r(_kv_kind, r"(?<![\w.-])(?:\\?[\"'])?" + _KEY + r"(?:\\?[\"'])?[ \t]*=(?![=~])[ \t]*" + _VAL, _VALUE_GROUPS, _I),
    _r(_kv_kind, r"\\?[\"']" + _KEY + r"\\?[\"'][ \t]*:[ \t]*" + _VAL, _VALUE_GROUPS, _I),
    _r(_kv_kind, r"(?:^|(?<=[{(,;|\"']))[ \t]*(?:-[ \t]+)?" + _KEY + r"[ \t]*:[ \t]*" + _VAL, _VALUE_GROUPS, _I | _M),
    _r(_kv_kind, r"(?<![\w-])--?" + _KEY + r"[ \t]+(?P<bare>(?!-)[^\s\"'`]+)", ("bare",), _I),
    # mid-line `key: value` for the unambiguous keys, when the value looks like a credential (a digit in it, or
    # 16+ token characters): "... client_secret: s3cr3t" goes, "invalid password: user not found" stays
    _r(_kv_kind, r"(?<![\w.-])" + _STRONG_KEY + r"[ \t]*:[ \t]*(?P<bare>(?=[^\s\"'`,;]*\d)[^\s\"'`,;]{4,}"
       r"|[A-Za-z0-9+/_=.-]{16,})", ("bare",), _I),
)
_EMAIL = _r("email", r"(?<![\w.%+-])(?!git@)[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])")
_H = r"[0-9a-f]{1,4}"
_IPS = (
    _r("ip", rf"(?<![\w:.])(?:(?:{_H}:){{7}}{_H}|(?:{_H}:){{1,7}}:(?:{_H}(?::{_H}){{0,5}})?|::{_H}(?::{_H}){{0,6}})"
             r"(?:%\w+)?(?![\w:.])", flags=_I),
    _r("ip", r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?!\.?\d)"),
)
KINDS: tuple[str, ...] = tuple(dict.fromkeys(  # every kind a placeholder can name
    [r.kind for r in _RULES if isinstance(r.kind, str)]
    + ["private_key", "api_key", "token", "secret", "email", "ip", "custom"]))


def _custom(pattern: str) -> _Rule:
    """A configured pattern; a named group `secret` limits the replacement to that part of the match."""
    try:
        regex = re.compile(pattern)
    except (re.error, TypeError) as e:
        raise ConfigError(f"llm.redact: pattern {pattern!r} is not a valid regular expression: {e}") from None
    return _Rule("custom", regex, ("secret",) if "secret" in regex.groupindex else (0,))


def _each(regex: re.Pattern[str], kind: str, text: str, counts: dict[str, int]) -> str:
    """`text` with the group `v` of every match of `regex` replaced (a placeholder already there is left)."""
    def replace(m: re.Match[str]) -> str:
        if PLACEHOLDER.search(m.group("v")):
            return m.group(0)
        counts[kind] = counts.get(kind, 0) + 1
        return m.group(0)[: m.start("v") - m.start()] + f"[REDACTED:{kind}]"

    return regex.sub(replace, text)


def _apply(rule: _Rule, text: str, counts: dict[str, int]) -> str:
    spans = [m.span() for m in PLACEHOLDER.finditer(text)]  # sorted, disjoint: never matched again
    ends = [e for _, e in spans]

    def replace(m: re.Match[str]) -> str:
        group = next((g for g in rule.groups if m.start(g) != -1), 0)
        start, end = m.span(group)
        i = bisect_right(ends, start)  # the first placeholder ending after `start`
        if start == end or (i < len(spans) and spans[i][0] < end):
            return m.group(0)
        kind = rule.kind if isinstance(rule.kind, str) else rule.kind(m)
        if kind is None:
            return m.group(0)
        whole, base = m.group(0), m.start()
        inner = f"[REDACTED:{kind}]" if rule.each is None else _each(rule.each, kind, m.group(group), counts)
        if rule.each is None:
            counts[kind] = counts.get(kind, 0) + 1
        return f"{whole[: start - base]}{inner}{whole[end - base :]}"

    return rule.regex.sub(replace, text)


@dataclass(frozen=True)
class Redactor:
    """Built-in secret rules, optionally emails and IPs, plus extra patterns from `llm.redact` in the config."""

    extra_patterns: Sequence[str] = ()
    redact_emails: bool = True
    redact_ips: bool = False
    _rules: tuple[_Rule, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "extra_patterns", tuple(self.extra_patterns))
        rules = _RULES + ((_EMAIL,) if self.redact_emails else ()) + (_IPS if self.redact_ips else ())
        object.__setattr__(self, "_rules", rules + tuple(_custom(p) for p in self.extra_patterns))

    def redact_counted(self, text: str) -> tuple[str, dict[str, int]]:
        """`text` with every secret replaced by its placeholder, and how many of each kind were replaced."""
        counts: dict[str, int] = {}
        for rule in self._rules:
            text = _apply(rule, text, counts)
        return text, counts

    def redact(self, text: str) -> str:
        """`text` with every secret replaced by `[REDACTED:<kind>]`."""
        return self.redact_counted(text)[0]

    def redact_obj(self, obj: Any) -> Any:
        """A copy of `obj` with every string in it (dict keys too) redacted; a str value under a key that names
        a secret (`{"password": "..."}`) is replaced whole, since no key=value shape is left to find in it."""
        if isinstance(obj, str):
            return self.redact(obj)
        if isinstance(obj, Mapping):
            out = {}
            for k, v in obj.items():
                named = isinstance(k, str) and isinstance(v, str) and _KEY_ONLY.fullmatch(k)
                kind = _key_kind(k, v) if named else None
                out[self.redact_obj(k)] = f"[REDACTED:{kind}]" if kind else self.redact_obj(v)
            return out
        if isinstance(obj, list):
            return [self.redact_obj(v) for v in obj]
        if isinstance(obj, tuple):
            return tuple(self.redact_obj(v) for v in obj)
        return obj

