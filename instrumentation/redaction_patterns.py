"""The credential shapes redaction looks for, compiled with RE2 (linear time).

One definition for both ends: the instrumentation redacts with them before a
span is spooled (or exported, :mod:`instrumentation.span_redaction`), the
collector again before it stores (:mod:`collector.redact`).

RE2 (``google-re2``) runs every pattern in time linear in the input, whatever
the pattern or the text: no input can make a pattern backtrack, which is what
once stalled ingest for 45 s on one crafted ``key=value`` attribute. RE2 has no
look-around or back-references; the patterns below need none, and the few
decisions a pattern cannot express (a 40-character run being an AWS secret
key rather than a git hash, a value already redacted) are made in Python on
the match, in constant time per match.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import re2

__all__ = ["REDACTED", "DEFAULT_PATTERNS", "compile_pattern", "Rule", "default_rules"]

REDACTED = "[REDACTED]"

_KEY_WORDS = (
    r"pass(?:word|wd|phrase)?|pwd|secret|client[_-]?secret|(?:access|refresh|id|auth|api|bearer"
    r"|session|csrf)?[_-]?token|api[_-]?key|apikey|access[_-]?key(?:[_-]?id)?"
    r"|secret[_-]?access[_-]?key|private[_-]?key|authorization|credentials?|dsn"
)

# (pattern, replacement); "" as replacement means: keep group "keep", redact group "secret".
DEFAULT_PATTERNS: tuple[tuple[str, str], ...] = (
    # PEM private keys, the whole block (to the end of the text when END is missing).
    (
        r"(?s)-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\z)",
        REDACTED,
    ),
    # Authorization headers, whatever the scheme (Basic, Bearer, Digest, AWS4-HMAC-SHA256...).
    (
        r"(?i)(?P<keep>\b(?:proxy-)?authorization\s*[:=]\s*)"
        r"""(?P<secret>(?:[^\r\n"'}]|"[^"\r\n]*")+)""",
        "",
    ),
    # Provider keys and tokens by shape.
    (r"\bsk-(?:ant-|proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{16,}", REDACTED),
    (r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,}", REDACTED),  # Stripe secret/restricted
    (r"\bwhsec_[A-Za-z0-9]{16,}", REDACTED),  # Stripe webhook secret
    (r"\bgh[pousr]_[A-Za-z0-9]{20,}", REDACTED),
    (r"\bgithub_pat_[A-Za-z0-9_]{20,}", REDACTED),
    (r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b", REDACTED),
    (r"\bxox[abposre]-[A-Za-z0-9\-]{10,}", REDACTED),
    (r"\bxapp-[0-9]-[A-Za-z0-9\-]{10,}", REDACTED),
    (r"https://hooks\.slack\.com/services/[A-Za-z0-9/_\-]+", REDACTED),
    (r"\bAIza[0-9A-Za-z_\-]{30,}", REDACTED),
    (r"\bhf_[A-Za-z0-9]{20,}", REDACTED),
    (r"\bglpat-[A-Za-z0-9_\-]{20,}", REDACTED),
    (r"\bnpm_[A-Za-z0-9]{30,}", REDACTED),
    (r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*", REDACTED),  # JWT
    # Bearer/Basic/Token credentials outside a header line.
    (r"(?i)(?P<keep>\b(?:bearer|basic|token)\s+)(?P<secret>[A-Za-z0-9._~+/=\-]{8,})", ""),
    # user:password@ in connection strings and URLs (also :password@ with no user).
    (r"(?P<keep>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^/\s:@]*:)(?P<secret>[^@\s/]+)(?P<at>@)", ""),
    # key = value, key: value, "key": "value" (PGPASSWORD=, Password=...; in ADO strings too)
    (
        rf'(?i)(?P<keep>["\']?\b(?:[\w.\-]*?[_\-.]|pg|mysql|redis)?(?:{_KEY_WORDS})["\']?\s*[:=]\s*)'
        r"(?P<secret>\"(?:[^\"\\]|\\.)*\"|'[^']*'|[^\s,;&}\]\"']+)",
        "",
    ),
    (rf"(?i)(?P<keep>--(?:{_KEY_WORDS})[= ])(?P<secret>\S+)", ""),
    # Bare 40-character runs: AWS secret access keys (checked by _looks_like_aws_secret).
    (r"[A-Za-z0-9/+=]{40,}", "aws-secret"),
)


class Rule:
    """One compiled pattern and how a match is replaced."""

    def __init__(self, pattern: str, replacement: str) -> None:
        self.pattern = pattern
        self.regex: Any = compile_pattern(pattern)
        self.replace: Callable[[Any], str]
        if replacement == "aws-secret":
            self.replace = _aws_secret
        elif replacement == "":
            self.replace = _keep_secret
        else:
            self.replace = _constant(replacement)

    def sub(self, text: str) -> str:
        return str(self.regex.sub(self.replace, text))


def compile_pattern(pattern: str) -> Any:
    """An RE2 pattern; a pattern RE2 cannot run in linear time is refused (ValueError)."""
    try:
        return re2.compile(pattern)
    except re2.error as exc:
        raise ValueError(
            f"redaction pattern {pattern!r} is not valid RE2 (no look-around or "
            f"back-references): {exc}"
        ) from None


def default_rules() -> list[Rule]:
    return [Rule(pattern, replacement) for pattern, replacement in DEFAULT_PATTERNS]


def _constant(text: str) -> Callable[[Any], str]:
    def replace(_match: Any) -> str:
        return text

    return replace


# Values in JSON (or a Python literal) that hold no secret: kept, so the text stays valid.
_LITERALS = frozenset({"null", "true", "false", "None", "True", "False"})


def _keep_secret(match: Any) -> str:
    keep = match.group("keep")
    secret = match.group("secret")
    groups = match.groupdict()
    tail = groups.get("at") or ""
    if secret.startswith(REDACTED[:-1]) or secret.strip("\"'").startswith(REDACTED[:-1]):
        return str(match.group(0))
    if secret[:1] in {'"', "'"} and len(secret) >= 2:
        return f"{keep}{secret[0]}{REDACTED}{secret[0]}{tail}"
    if keep[:1] in {'"', "'"} and keep.rstrip().endswith(":"):
        # "key": 1234 in JSON: a quoted marker keeps the document parseable.
        if secret in _LITERALS:
            return str(match.group(0))
        return f"{keep}{keep[0]}{REDACTED}{keep[0]}{tail}"
    return f"{keep}{REDACTED}{tail}"


def _aws_secret(match: Any) -> str:
    run = str(match.group(0))
    core = run.rstrip("=")
    # An AWS secret access key: exactly 40 base64 characters with upper, lower and
    # digits. Git and sha1 hashes are lower-case hex; longer runs are other base64.
    if (
        len(core) == 40
        and any(c.isupper() for c in core)
        and any(c.islower() for c in core)
        and any(c.isdigit() for c in core)
    ):
        return REDACTED
    return run
