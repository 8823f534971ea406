"""Secrets out, huge values cut: applied to every span before it is stored.

Redaction runs over every string a span carries (name, attributes, events,
links, status message, resource), recursively through lists and maps, and over
values whose *key* names a secret. Truncation then keeps a preview of any
string over the limit, its original length in bytes and the sha256 of the
whole (after redaction), and lists the cut keys in ``agent_audit.truncated``.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from collector.decode import SpanRecord

__all__ = ["RedactionPolicy", "Sanitizer", "REDACTED", "TRUNCATED_KEY"]

REDACTED = "[REDACTED]"
TRUNCATED_KEY = "agent_audit.truncated"

# Key names whose values are secrets whatever they look like.
DEFAULT_SECRET_KEYS = (
    "password",
    "passwd",
    "pwd",
    "secret",
    "client_secret",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "api_key",
    "apikey",
    "api-key",
    "x-api-key",
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "private_key",
    "aws_secret_access_key",
    "aws_session_token",
)

_KEY_WORDS = (
    r"pass(?:word|wd)?|pwd|secret|client[_-]?secret|(?:access|refresh|id|auth|api|bearer)?[_-]?token"
    r"|api[_-]?key|apikey|access[_-]?key(?:[_-]?id)?|secret[_-]?access[_-]?key|private[_-]?key"
    r"|authorization|credentials?"
)

# (pattern, replacement) in order; replacements keep what identifies the field.
DEFAULT_PATTERNS: tuple[tuple[str, str], ...] = (
    # PEM private keys, whole block.
    (
        r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)",
        REDACTED,
    ),
    # Provider keys and tokens by shape.
    (r"\bsk-(?:ant-|proj-|svcacct-)?[A-Za-z0-9_\-]{16,}", REDACTED),
    (r"\bgh[pousr]_[A-Za-z0-9]{20,}", REDACTED),
    (r"\bgithub_pat_[A-Za-z0-9_]{20,}", REDACTED),
    (r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", REDACTED),
    (r"\bxox[abposr]-[A-Za-z0-9\-]{10,}", REDACTED),
    (r"\bAIza[0-9A-Za-z_\-]{30,}", REDACTED),
    (r"\bhf_[A-Za-z0-9]{20,}", REDACTED),
    (r"\bglpat-[A-Za-z0-9_\-]{20,}", REDACTED),
    (r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}", REDACTED),
    # Authorization headers.
    (r"(?i)(?P<keep>\b(?:bearer|basic|token)\s+)(?P<secret>[A-Za-z0-9._~+/=\-]{8,})", ""),
    # user:password@ in URLs.
    (r"(?P<keep>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^/\s:@]+:)(?P<secret>[^@\s/]+)(?=@)", ""),
    # key = value, key: value, "key": "value", --key value
    (
        rf'(?i)(?P<keep>(?:"|\')?\b(?:[\w.\-]*?[_\-.])?(?:{_KEY_WORDS})(?:"|\')?\s*[:=]\s*)'
        r"(?!\"?\[REDACTED\])(?P<secret>\"(?:[^\"\\]|\\.)*\"|'[^']*'|[^\s,;&}\]\"']+)",
        "",
    ),
    (rf"(?i)(?P<keep>--(?:{_KEY_WORDS})[= ])(?!\[REDACTED\])(?P<secret>\S+)", ""),
)


@dataclass(frozen=True)
class RedactionPolicy:
    """What to redact; extra patterns and keys come from settings."""

    enabled: bool = True
    patterns: tuple[tuple[str, str], ...] = DEFAULT_PATTERNS
    secret_keys: tuple[str, ...] = DEFAULT_SECRET_KEYS
    max_value_bytes: int = 64 * 1024
    preview_bytes: int = 4096

    @classmethod
    def with_extras(
        cls,
        *,
        enabled: bool,
        extra_patterns: Iterable[str] = (),
        extra_keys: Iterable[str] = (),
        max_value_bytes: int,
    ) -> RedactionPolicy:
        return cls(
            enabled=enabled,
            patterns=DEFAULT_PATTERNS + tuple((p, REDACTED) for p in extra_patterns),
            secret_keys=DEFAULT_SECRET_KEYS + tuple(k.lower() for k in extra_keys),
            max_value_bytes=max_value_bytes,
            preview_bytes=min(4096, max_value_bytes),
        )


# A key *ending* in one of these words names a secret (db_password, github_token,
# client-secret); counters such as input_tokens (plural) are not matched.
_SECRET_KEY_SUFFIX = re.compile(
    r"(?:^|[._\-])(?:pass(?:word|wd)?|pwd|secret|token|api[_\-]?key|apikey|private[_\-]?key"
    r"|credentials?|authorization|cookie)$"
)

# docker inspect: "Env": ["KEY=value", ...] -> keep the names, drop the values.
_ENV_BLOCK = re.compile(r'"Env"\s*:\s*\[(?P<body>[^\]]*)\]')
_ENV_ITEM = re.compile(r'"(?P<name>[^"=\\]+)=(?:[^"\\]|\\.)*"')


def _redact_env_block(match: re.Match[str]) -> str:
    body = _ENV_ITEM.sub(lambda m: f'"{m.group("name")}={REDACTED}"', match.group("body"))
    return f'"Env": [{body}]'


def _substitute(match: re.Match[str]) -> str:
    keep = match.group("keep")
    secret = match.group("secret")
    if secret.startswith(('"', "'")) and len(secret) >= 2:
        return f"{keep}{secret[0]}{REDACTED}{secret[0]}"
    return f"{keep}{REDACTED}"


@dataclass
class Sanitizer:
    """Applies a RedactionPolicy to span records; pure and thread-safe."""

    policy: RedactionPolicy = field(default_factory=RedactionPolicy)

    def __post_init__(self) -> None:
        self._compiled = [(re.compile(p, re.DOTALL), r) for p, r in self.policy.patterns]
        self._secret_keys = frozenset(k.lower() for k in self.policy.secret_keys)
        # Attribute keys repeat across spans ("gen_ai.tool.name", ...); a bounded cache
        # keeps a flood of unique keys from growing memory.
        self._is_secret_key = functools.lru_cache(maxsize=4096)(self._key_names_secret)
        # A cheap first look that skips most strings; only valid for the default
        # patterns, so any extra pattern turns it off.
        self._quick_ok = self.policy.patterns == DEFAULT_PATTERNS
        # Every default pattern needs one of these literals (the key=value ones a
        # key word, the URL one "://", the Env block '"env"'), searched in the
        # lower-cased text: a case-sensitive alternation of literals is far faster
        # in Python's re than the same with (?i).
        self._quick = re.compile(
            r"private key|\"env\"|sk-|gh[pousr]_|github_pat_|akia|asia|xox|aiza|hf_|glpat-"
            r"|eyj|bearer|basic|token|://|pass|pwd|secret|key|authoriz|credential"
        )

    # --- strings -----------------------------------------------------------------
    def redact_text(self, text: str) -> str:
        """Replace every secret the patterns find in ``text``."""
        if not self.policy.enabled or not text:
            return text
        if self._quick_ok and not self._quick.search(text.lower()):
            return text
        if '"Env"' in text:
            text = _ENV_BLOCK.sub(_redact_env_block, text)
        for pattern, replacement in self._compiled:
            if "(?P<keep>" in pattern.pattern:
                text = pattern.sub(_substitute, text)
            else:
                text = pattern.sub(replacement, text)
        return text

    def _key_names_secret(self, key: str) -> bool:
        lowered = key.lower()
        last = lowered.rsplit(".", 1)[-1]
        return (
            lowered in self._secret_keys
            or last in self._secret_keys
            or _SECRET_KEY_SUFFIX.search(last) is not None
        )

    def _value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.redact_text(value)
        if isinstance(value, list):
            return [self._value(v) for v in value]
        if isinstance(value, dict):
            return self._mapping(value)
        return value

    def _mapping(self, mapping: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in mapping.items():
            if self.policy.enabled and self._is_secret_key(key) and value not in (None, "", [], {}):
                out[key] = REDACTED
            else:
                out[key] = self._value(value)
        return out

    # --- truncation --------------------------------------------------------------
    def _truncate(self, attributes: dict[str, Any]) -> dict[str, Any]:
        limit = self.policy.max_value_bytes
        cut: list[str] = []
        out: dict[str, Any] = {}
        for key, value in attributes.items():
            if isinstance(value, str) and len(value) * 4 > limit:
                raw = value.encode("utf-8", "surrogatepass")
                if len(raw) > limit:
                    preview = raw[: self.policy.preview_bytes].decode("utf-8", "ignore")
                    digest = hashlib.sha256(raw).hexdigest()
                    out[key] = (
                        f"{preview}\n…[truncated by agent-audit: {len(raw)} bytes, sha256={digest}]"
                    )
                    out[f"{TRUNCATED_KEY}.{key}.bytes"] = len(raw)
                    out[f"{TRUNCATED_KEY}.{key}.sha256"] = digest
                    cut.append(key)
                    continue
            out[key] = value
        if cut:
            out[TRUNCATED_KEY] = cut
        return out

    # --- spans ---------------------------------------------------------------------
    def apply(self, spans: Sequence[SpanRecord]) -> list[SpanRecord]:
        """Redacted and truncated copies of ``spans``."""
        # The spans of one ResourceSpans share one resource dict: clean it once.
        resources: dict[int, dict[str, Any]] = {}
        return [self._span(s, resources) for s in spans]

    def _span(self, span: SpanRecord, resources: dict[int, dict[str, Any]]) -> SpanRecord:
        resource = resources.get(id(span.resource))
        if resource is None:
            resource = resources[id(span.resource)] = self._mapping(span.resource)
        return dataclasses.replace(
            span,
            name=self.redact_text(span.name),
            status_message=self.redact_text(span.status_message),
            attributes=self._truncate(self._mapping(span.attributes)),
            events=[
                {
                    **e,
                    "name": self.redact_text(str(e.get("name", ""))),
                    "attributes": self._truncate(self._mapping(e.get("attributes") or {})),
                }
                for e in span.events
            ],
            links=[
                {**link, "attributes": self._mapping(link.get("attributes") or {})}
                for link in span.links
            ],
            resource=resource,
        )
