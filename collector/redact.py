"""Secrets out, huge values cut: applied to every span before it is stored.

Order matters for speed and safety. A string over the stored limit is cut
first (keeping a preview, its length in bytes and the sha256 of the original
whole), and only the preview (plus a margin, so a secret cut in half is still
recognised) is redacted: the work is bounded by the limit, not by the input.
Redaction then runs over every string a span carries (name, attribute keys and
values, events, links, status message, resource), recursively through lists
and maps, with patterns compiled by RE2 (:mod:`collector.redact_patterns`),
so each pattern is linear in its input. Values whose *key* names a secret are
replaced whole; a key that itself contains a secret is redacted too.

A request has a time budget for redaction; once spent, every further string of
that request is replaced whole by :data:`BUDGET_REDACTED` instead of being
scanned: ingest is never stalled by redaction, and nothing unscanned is stored.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import re2

from collector.decode import SpanRecord
from collector.redact_patterns import DEFAULT_PATTERNS, REDACTED, Rule, compile_pattern

__all__ = [
    "RedactionPolicy",
    "Sanitizer",
    "REDACTED",
    "BUDGET_REDACTED",
    "TRUNCATED_KEY",
    "DEFAULT_PATTERNS",
]

TRUNCATED_KEY = "agent_audit.truncated"
BUDGET_REDACTED = "[REDACTED: redaction time budget spent]"
# Redact this much past the preview, so a secret straddling the cut is still whole.
_PREVIEW_MARGIN = 1024

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
    "connection_string",
    "dsn",
)


@dataclass(frozen=True)
class RedactionPolicy:
    """What to redact; extra patterns and keys come from settings."""

    enabled: bool = True
    patterns: tuple[tuple[str, str], ...] = DEFAULT_PATTERNS
    secret_keys: tuple[str, ...] = DEFAULT_SECRET_KEYS
    max_value_bytes: int = 64 * 1024
    preview_bytes: int = 4096
    time_budget_s: float = 0.5  # per request; past it, whole values are redacted

    @classmethod
    def with_extras(
        cls,
        *,
        enabled: bool,
        extra_patterns: Iterable[str] = (),
        extra_keys: Iterable[str] = (),
        max_value_bytes: int,
        time_budget_s: float = 0.5,
    ) -> RedactionPolicy:
        return cls(
            enabled=enabled,
            patterns=DEFAULT_PATTERNS + tuple((p, REDACTED) for p in extra_patterns),
            secret_keys=DEFAULT_SECRET_KEYS + tuple(k.lower() for k in extra_keys),
            max_value_bytes=max_value_bytes,
            preview_bytes=min(4096, max_value_bytes),
            time_budget_s=time_budget_s,
        )


# A key *ending* in one of these words names a secret (db_password, github_token,
# client-secret); counters such as input_tokens (plural) are not matched.
_SECRET_KEY_SUFFIX = re2.compile(
    r"(?:^|[._\-])(?:pass(?:word|wd|phrase)?|pwd|secret|token|api[_\-]?key|apikey"
    r"|private[_\-]?key|credentials?|authorization|cookie|dsn|connection[_\-]?string)$"
)

# docker inspect: "Env": ["KEY=value", ...] -> keep the names, drop the values.
_ENV_BLOCK = re2.compile(r'"Env"\s*:\s*\[(?P<body>[^\]]*)\]')
_ENV_ITEM = re2.compile(r'"(?P<name>[^"=\\]+)=(?:[^"\\]|\\.)*"')


def _redact_env_block(match: Any) -> str:
    body = _ENV_ITEM.sub(lambda m: f'"{m.group("name")}={REDACTED}"', match.group("body"))
    return f'"Env": [{body}]'


class _Budget:
    """The redaction time left for one request."""

    def __init__(self, seconds: float) -> None:
        self._deadline = time.monotonic() + seconds
        self.spent = False

    def left(self) -> bool:
        if not self.spent and time.monotonic() > self._deadline:
            self.spent = True
        return not self.spent


@dataclass
class Sanitizer:
    """Applies a RedactionPolicy to span records; pure and thread-safe."""

    policy: RedactionPolicy = field(default_factory=RedactionPolicy)

    def __post_init__(self) -> None:
        self._rules = [Rule(p, r) for p, r in self.policy.patterns]
        self._secret_keys = frozenset(k.lower() for k in self.policy.secret_keys)
        # Attribute keys repeat across spans ("gen_ai.tool.name", ...); a bounded cache
        # keeps a flood of unique keys from growing memory.
        self._is_secret_key = functools.lru_cache(maxsize=4096)(self._key_names_secret)
        self._clean_key = functools.lru_cache(maxsize=4096)(self._redact_key)
        # A cheap first look that skips most strings; only valid for the default
        # patterns, so any extra pattern turns it off.
        self._quick_ok = self.policy.patterns == DEFAULT_PATTERNS
        self._quick = compile_pattern(
            r"(?i)private key|\"env\"|sk-|sk_|rk_|whsec_|gh[pousr]_|github_pat_|akia|asia|abia"
            r"|acca|xox|xapp-|hooks\.slack|aiza|hf_|glpat-|npm_|eyj|bearer|basic|token|://"
            r"|pass|pwd|secret|key|authoriz|credential|dsn|[A-Za-z0-9/+=]{40}"
        )

    # --- strings -----------------------------------------------------------------
    def redact_text(self, text: str, budget: _Budget | None = None) -> str:
        """Replace every secret the patterns find in ``text``."""
        if not self.policy.enabled or not text:
            return text
        if budget is not None and not budget.left():
            return BUDGET_REDACTED
        if self._quick_ok and not self._quick.search(text):
            return text
        if '"Env"' in text:
            text = _ENV_BLOCK.sub(_redact_env_block, text)
        for rule in self._rules:
            text = rule.sub(text)
        return text

    def _redact_key(self, key: str) -> str:
        return self.redact_text(key)

    def _key_names_secret(self, key: str) -> bool:
        lowered = key.lower()
        last = lowered.rsplit(".", 1)[-1]
        return (
            lowered in self._secret_keys
            or last in self._secret_keys
            or _SECRET_KEY_SUFFIX.search(last) is not None
        )

    def _value(self, value: Any, budget: _Budget) -> Any:
        if isinstance(value, str):
            return self.redact_text(value, budget)
        if isinstance(value, list):
            return [self._value(v, budget) for v in value]
        if isinstance(value, dict):
            return self._mapping(value, budget, truncate=False)
        return value

    def _key(self, key: str, taken: dict[str, Any]) -> str:
        if not self.policy.enabled:
            return key
        cleaned = str(self._clean_key(key)) if len(key) <= 4096 else BUDGET_REDACTED
        if cleaned != key:
            # Two redacted keys must not overwrite each other.
            base, index = cleaned, 2
            while cleaned in taken:
                cleaned, index = f"{base}#{index}", index + 1
        return cleaned

    def _mapping(
        self, mapping: dict[str, Any], budget: _Budget, *, truncate: bool
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        cut: list[str] = []
        for raw_key, value in mapping.items():
            key = self._key(raw_key, out)
            if (
                self.policy.enabled
                and self._is_secret_key(raw_key)
                and value
                not in (
                    None,
                    "",
                    [],
                    {},
                )
            ):
                out[key] = REDACTED
            elif truncate and isinstance(value, str) and self._too_long(value):
                out.update(self._truncated(key, value, budget))
                cut.append(key)
            else:
                out[key] = self._value(value, budget)
        if cut:
            out[TRUNCATED_KEY] = cut
        return out

    # --- truncation --------------------------------------------------------------
    def _too_long(self, value: str) -> bool:
        limit = self.policy.max_value_bytes
        # A str of n characters has at most 4n UTF-8 bytes: most values skip encoding.
        return len(value) * 4 > limit and len(value.encode("utf-8", "surrogatepass")) > limit

    def _truncated(self, key: str, value: str, budget: _Budget) -> dict[str, Any]:
        """The stored form of a value over the limit: preview (redacted), length, sha256."""
        raw = value.encode("utf-8", "surrogatepass")
        digest = hashlib.sha256(raw).hexdigest()
        window = raw[: self.policy.preview_bytes + _PREVIEW_MARGIN].decode("utf-8", "ignore")
        cleaned = self.redact_text(window, budget)
        preview = cleaned.encode("utf-8", "surrogatepass")[: self.policy.preview_bytes]
        text = preview.decode("utf-8", "ignore")
        return {
            key: f"{text}\n…[truncated by agent-audit: {len(raw)} bytes, sha256={digest}]",
            f"{TRUNCATED_KEY}.{key}.bytes": len(raw),
            f"{TRUNCATED_KEY}.{key}.sha256": digest,
        }

    # --- spans ---------------------------------------------------------------------
    def apply(self, spans: Sequence[SpanRecord]) -> list[SpanRecord]:
        """Redacted and truncated copies of ``spans``."""
        # The spans of one ResourceSpans share one resource dict: clean it once.
        resources: dict[int, dict[str, Any]] = {}
        budget = _Budget(self.policy.time_budget_s)
        return [self._span(s, resources, budget) for s in spans]

    def _span(
        self, span: SpanRecord, resources: dict[int, dict[str, Any]], budget: _Budget
    ) -> SpanRecord:
        resource = resources.get(id(span.resource))
        if resource is None:
            resource = resources[id(span.resource)] = self._mapping(
                span.resource, budget, truncate=True
            )
        return dataclasses.replace(
            span,
            name=self.redact_text(span.name, budget),
            status_message=self.redact_text(span.status_message, budget),
            attributes=self._mapping(span.attributes, budget, truncate=True),
            events=[
                {
                    **e,
                    "name": self.redact_text(str(e.get("name", "")), budget),
                    "attributes": self._mapping(e.get("attributes") or {}, budget, truncate=True),
                }
                for e in span.events
            ],
            links=[
                {
                    **link,
                    "attributes": self._mapping(
                        link.get("attributes") or {}, budget, truncate=True
                    ),
                }
                for link in span.links
            ],
            resource=resource,
        )
