"""Redaction before the model: every secret shape goes, ordinary SRE text stays, placeholders are stable."""

from __future__ import annotations

import pytest

from sre_bot.errors import ConfigError
from sre_bot.llm.redact import KINDS, PLACEHOLDER, Redactor
from tests.llm.secrets_corpus import BENIGN_LINES, INJECTION_LINES, SECRET_SHAPES

REDACTOR = Redactor()
_PEM_BODY = "MIIEpAIBAAKCAQEAfakeFAKEfakeFAKE\nbm90IGEgcmVhbCBrZXkgYXQgYWxs\nZmFrZQ=="
_PEM = "-----BEGIN RSA " + "PRIVATE KEY-----\n" + _PEM_BODY + "\n-----END RSA " + "PRIVATE KEY-----"


def test_corpora_are_large_enough():
    """The corpora hold at least 35 secret shapes, 22 injection lines and 15 benign lines, names unique."""
    assert len(SECRET_SHAPES) >= 35 and len(INJECTION_LINES) >= 22 and len(BENIGN_LINES) >= 15
    assert len({name for name, _, _ in SECRET_SHAPES}) == len(SECRET_SHAPES)
    assert all(secret in line for _, line, secret in SECRET_SHAPES)


@pytest.mark.parametrize(("name", "line", "secret"), SECRET_SHAPES, ids=[s[0] for s in SECRET_SHAPES])
def test_secret_is_gone(name: str, line: str, secret: str):
    """The secret substring is gone after redaction and the placeholder names the expected kind."""
    out = REDACTOR.redact(line)
    kind = name.split("/")[0]
    assert secret not in out
    assert f"[REDACTED:{kind}]" in out
    assert kind in KINDS


def test_key_value_keeps_the_key():
    """key=value, JSON and URL-password shapes keep the key and lose only the value, so the text still reads."""
    assert REDACTOR.redact("login failed password=hunter2 user=bob") == \
        "login failed password=[REDACTED:password] user=bob"
    assert REDACTOR.redact("postgres://user:pass@host/db") == "postgres://user:[REDACTED:password]@host/db"
    assert REDACTOR.redact('{"client_secret": "abc-123-xyz"}') == '{"client_secret": "[REDACTED:secret]"}'


def test_every_placeholder_names_a_known_kind():
    """Every placeholder produced over the whole corpus names a kind listed in KINDS."""
    out = REDACTOR.redact("\n".join(line for _, line, _ in SECRET_SHAPES))
    kinds = {m.group(0)[len("[REDACTED:"):-1] for m in PLACEHOLDER.finditer(out)}
    assert kinds and kinds <= set(KINDS)


@pytest.mark.parametrize("line", BENIGN_LINES)
def test_benign_line_unchanged(line: str):
    """Ordinary SRE text (PromQL, LogQL, pod names, SHAs, trace ids, settings) comes out unchanged."""
    assert REDACTOR.redact_counted(line) == (line, {})


def test_injection_lines_pass_through():
    """Redaction is not the injection defence: injection text carries no secret and reaches the later checks intact."""
    for line in INJECTION_LINES:
        assert REDACTOR.redact(line) == line


def test_idempotent():
    """Redacting already-redacted text changes nothing and counts nothing."""
    text = "\n".join([line for _, line, _ in SECRET_SHAPES] + BENIGN_LINES + INJECTION_LINES + [_PEM])
    for redactor in (REDACTOR, Redactor(redact_ips=True, extra_patterns=[r"ORD-\d{6}"])):
        once = redactor.redact(text + " ORD-123456 10.1.2.3 fe80::1")
        assert redactor.redact_counted(once) == (once, {})


def test_redact_obj_nested_json():
    """redact_obj returns a redacted copy of nested dicts, lists and tuples, keys included; the input is unchanged."""
    email = "jane" + "@example.com"
    obj = {
        "alerts": [{"labels": {"service": "checkout"},
                    "annotations": {"description": "DSN postgres://app:s3cr3t@db/orders", "runbook": "see wiki"}}],
        "auth": {"password": "hunter2", "token_ttl": "15m", "retries": 3},
        email: ("contact", email, None, 4.5),
    }
    out = REDACTOR.redact_obj(obj)
    assert out["alerts"][0]["annotations"]["description"] == "DSN postgres://app:[REDACTED:password]@db/orders"
    assert out["alerts"][0]["labels"] == {"service": "checkout"}
    assert out["auth"] == {"password": "[REDACTED:password]", "token_ttl": "15m", "retries": 3}
    assert out["[REDACTED:email]"] == ("contact", "[REDACTED:email]", None, 4.5)
    assert obj["auth"]["password"] == "hunter2" and email in obj


def test_ips_only_when_enabled():
    """IPv4 and IPv6 addresses stay by default and become [REDACTED:ip] only with redact_ips=True."""
    line = "upstream 10.0.3.17:8080 and 2001:db8::8a2e:370:7334 unreachable at 09:21:33, build v1.2.3.4"
    assert REDACTOR.redact(line) == line
    out = Redactor(redact_ips=True).redact(line)
    assert out == "upstream [REDACTED:ip]:8080 and [REDACTED:ip] unreachable at 09:21:33, build v1.2.3.4"


def test_emails_can_be_kept():
    """redact_emails=False leaves email addresses alone."""
    line = "page oncall-" + "lead@example.com"
    assert Redactor(redact_emails=False).redact(line) == line
    assert REDACTOR.redact(line) == "page [REDACTED:email]"


def test_custom_pattern():
    """An extra pattern redacts its whole match, or only its `secret` group when it has one."""
    redactor = Redactor(extra_patterns=[r"CUST-\d{6}", r"tenant=(?P<secret>[a-z]+)"])
    assert redactor.redact_counted("order for CUST-004211 tenant=acme ok") == (
        "order for [REDACTED:custom] tenant=[REDACTED:custom] ok", {"custom": 2})


def test_bad_custom_pattern_raises_config_error():
    """An invalid extra pattern raises ConfigError naming the pattern."""
    with pytest.raises(ConfigError, match=r"\(unclosed"):
        Redactor(extra_patterns=["ok-\\d+", "(unclosed"])


def test_counts():
    """redact_counted tallies hits per kind, and redact returns the same text."""
    line = ("password=a1b2c3 retry password=d4e5f6 token " + "ghp_" + "0" * 36
            + " from ops" + "@example.com and " + "dev" + "@example.com")
    text, counts = REDACTOR.redact_counted(line)
    assert counts == {"password": 2, "github_token": 1, "email": 2}
    assert REDACTOR.redact(line) == text


def test_pem_block_in_the_middle_of_a_log():
    """A multi-line PEM private key inside a log is replaced whole; the lines around it stay."""
    log = f"09:21:33 loading tls config\n{_PEM}\n09:21:34 listening on :8443"
    out, counts = REDACTOR.redact_counted(log)
    assert out == "09:21:33 loading tls config\n[REDACTED:private_key]\n09:21:34 listening on :8443"
    assert counts == {"private_key": 1}
    assert not any(part in out for part in _PEM_BODY.splitlines())


def test_truncated_pem_body_is_redacted():
    """A PEM block cut off before its END line (a truncated log line) still loses its key material."""
    truncated = _PEM.split("-----END")[0]
    out = REDACTOR.redact("key: " + truncated + "…(truncated)")
    assert "fakeFAKE" not in out and "[REDACTED:private_key]" in out


def test_config_rejects_a_bad_redact_pattern():
    """`llm.redact` in the YAML config is checked when the config loads, naming the pattern."""
    from sre_bot.config import parse_config

    with pytest.raises(ConfigError, match=r"llm.redact.*\(unclosed"):
        parse_config({"llm": {"redact": ["(unclosed"]}})


def test_issue_14_shapes_are_in_the_corpus():
    """Every shape issue 14 found reaching the model is in the corpus, in several variants each."""
    from tests.llm.secrets_corpus import ISSUE_14_SHAPES

    kinds = [name.split("/")[0] + "/" + name.split("/")[1].split("_")[0] for name, _, _ in ISSUE_14_SHAPES]
    assert len(ISSUE_14_SHAPES) >= 30 and all(shape in SECRET_SHAPES for shape in ISSUE_14_SHAPES)
    assert sum(k.startswith("cookie/") for k in kinds) >= 4 and sum("_header_map" in n or "go_x_" in n
                                                                    for n, _, _ in ISSUE_14_SHAPES) >= 5


def test_cookie_headers_keep_names_and_attributes():
    """A Cookie header loses every value and keeps the names; Set-Cookie keeps its attributes (Path, Expires…)."""
    out = REDACTOR.redact("Cookie: sid=abc123; theme=dark\nSet-Cookie: sid=xyz789; Path=/; Expires=Tue, 14 May "
                          "2024 10:00:00 GMT; Max-Age=60; HttpOnly; Secure; SameSite=Lax")
    assert out == ("Cookie: sid=[REDACTED:cookie]; theme=[REDACTED:cookie]\nSet-Cookie: sid=[REDACTED:cookie]; "
                   "Path=/; Expires=Tue, 14 May 2024 10:00:00 GMT; Max-Age=60; HttpOnly; Secure; SameSite=Lax")


def test_go_header_dump_keeps_the_header_names():
    """In a Go http.Header dump only the secret values go; header names and harmless values stay."""
    line = ("map[Accept:[*/*] Authorization:[Bearer abcdefghijklmnop0123] X-Auth-Token:[t0k3n-fake] "
            "X-Token-Ttl:[300]]")
    assert REDACTOR.redact(line) == ("map[Accept:[*/*] Authorization:[Bearer [REDACTED:bearer_token]] "
                                     "X-Auth-Token:[[REDACTED:token]] X-Token-Ttl:[300]]")


def test_putty_private_lines_all_go():
    """Every base64 line after `Private-Lines:` goes, on separate lines or flattened with spaces, nothing else."""
    lines = ["AAAAgQDfakeFIRSTline0123456789abcdefABCDEF", "AAAAgQCfakeSECONDline0123456789", "AAAAthird=="]
    for sep in ("\n", " ", "\\n"):
        text = f"dump: Private-Lines: 3{sep}{sep.join(lines)}{sep}Private-MAC: 0a1b"
        out = REDACTOR.redact(text)
        assert not any(x in out for x in lines[:2]) and out.startswith("dump: Private-Lines: 3")
        assert out.endswith("Private-MAC: 0a1b")


def test_base64_certificate_stays_and_base64_key_goes():
    """A base64 PEM is a private key only when its header says so: a base64 certificate is public and stays."""
    import base64

    def b64(label: str) -> str:
        return base64.b64encode(f"-----BEGIN {label}-----\nMIIBfakeTEST0123456789\n-----END {label}-----".encode()
                                ).decode()

    cert, key = b64("CERTIFICATE"), b64("ENCRYPTED " + "PRIVATE KEY")
    assert REDACTOR.redact(f"tls.crt: {cert}") == f"tls.crt: {cert}"
    assert REDACTOR.redact(f"tls.key: {key}") == "tls.key: [REDACTED:private_key]"


@pytest.mark.parametrize(("line", "expected"), [
    ("mysql -uroot -pS3cret | grep -pfoo", "mysql -uroot -p[REDACTED:password] | grep -pfoo"),
    ("redis-cli -a pw1; echo -a b", "redis-cli -a [REDACTED:password]; echo -a b"),
    ("mysqld_exporter --collect -pprof", "mysqld_exporter --collect -pprof"),
    ("failed to connect timeout/retry exceeded", "failed to connect timeout/retry exceeded"),
    ("CONNECT app/Pw1@prodtns", "CONNECT app/[REDACTED:password]@prodtns"),
    ("at 10:15:03 app@tcp(db:3306)/x", "at 10:15:03 app@tcp(db:3306)/x"),
])
def test_command_line_shapes_stop_at_the_command(line: str, expected: str):
    """Password flags count only for the client that takes them, and end at a shell separator."""
    assert REDACTOR.redact(line) == expected
