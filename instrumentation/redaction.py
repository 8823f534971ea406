"""Secrets out, huge values cut: the redaction engine both ends of the wire use.

The instrumentation applies it to every span written to the on-disk spool,
and before export with ``AGENT_AUDIT_REDACT_WIRE`` (:mod:`instrumentation.span_redaction`); the
collector applies it again before storing (:mod:`collector.redact`), for spans
from any other sender. The same policy at both ends gives the same stored
result: redacting an already redacted value changes nothing.

Order matters for speed and safety. A string over the stored limit is cut
first (keeping a preview, its length in bytes and the sha256 of the original
whole), and only the preview (plus a margin, so a secret cut in half is still
recognised) is redacted: the work is bounded by the limit, not by the input.
Redaction then runs over every string (attribute keys and values, recursively
through lists and maps), with patterns compiled by RE2
(:mod:`instrumentation.redaction_patterns`), so each pattern is linear in its
input. Values whose *key* names a secret are replaced whole; a key that itself
contains a secret is redacted too.

A batch has a time budget for redaction; once spent, every further string of
that batch is replaced whole by :data:`BUDGET_REDACTED` instead of being
scanned: nothing waits on redaction, and nothing unscanned goes out.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import re2

from instrumentation.redaction_patterns import DEFAULT_PATTERNS, REDACTED, Rule, compile_pattern

__all__ = [
    "BUDGET_REDACTED",
    "DEFAULT_PATTERNS",
    "DEFAULT_SECRET_KEYS",
    "REDACTED",
    "TRUNCATED_KEY",
    "Budget",
    "RedactionPolicy",
    "Redactor",
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
    time_budget_s: float = 0.5  # per request (batch); past it, whole values are redacted

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


# A string's scan costs about as much as this many characters more, whatever its length.
_CHARS_PER_STRING = 512
_READ_CLOCK_EVERY = 32 * 1024


class Budget:
    """The redaction time left for one request or batch.

    Counted in the CPU time of the thread that redacts (the budget is spent by
    input that is slow to scan), not in wall time: on a busy machine a request
    waiting for a core would otherwise lose its values to the budget marker.
    Each request is redacted on one thread.
    """

    def __init__(self, seconds: float) -> None:
        self._deadline = time.thread_time() + seconds
        self.spent = False
        self._unread = _READ_CLOCK_EVERY  # the first look reads the clock

    def left(self, scan_chars: int | None = None) -> bool:
        """Whether time is left. With ``scan_chars`` (the length of the text about
        to be scanned) the clock, a system call, is read only once such texts add
        up to _READ_CLOCK_EVERY since the last reading: the budget is then passed
        by at most that much scanning (~0.1 ms)."""
        if self.spent:
            return False
        if scan_chars is not None:
            self._unread += scan_chars + _CHARS_PER_STRING
            if self._unread < _READ_CLOCK_EVERY:
                return True
        self._unread = 0
        if time.thread_time() > self._deadline:
            self.spent = True
        return not self.spent


_EMPTY: tuple[Any, ...] = (None, "", [], {}, ())
# Values kept as they are (no text to scan): most attributes besides strings.
_PLAIN = frozenset({int, bool, float, type(None)})
# Strings up to this long are remembered once scanned (at most ~2 MB of them).
_CACHED_CHARS = 256
_CACHE_ENTRIES = 8192


def _remember(cache: dict[str, Any], key: str, value: Any) -> None:
    if len(cache) >= _CACHE_ENTRIES:
        cache.clear()  # a flood of unique strings: start over rather than grow
    cache[key] = value


# The one default pattern a text without any keyword can match (bare AWS secret keys).
_AWS_RUN_PATTERN = next(p for p, r in DEFAULT_PATTERNS if r == "aws-secret")


@dataclass
class Redactor:
    """Applies a RedactionPolicy to strings and attribute maps; pure and thread-safe."""

    policy: RedactionPolicy = field(default_factory=RedactionPolicy)

    def __post_init__(self) -> None:
        self._rules = [Rule(p, r) for p, r in self.policy.patterns]
        self._secret_keys = frozenset(k.lower() for k in self.policy.secret_keys)
        # Attribute keys repeat across spans ("gen_ai.tool.name", ...), and so do short
        # values (tool names, models, statuses): each is looked at once. Both caches are
        # bounded (emptied when full), so a flood of unique strings cannot grow memory.
        self._keys: dict[str, tuple[str, bool]] = {}  # raw key -> (cleaned key, names a secret)
        self._short: dict[str, str] = {}  # short text -> its redacted form
        # A str of n characters has at most 4n UTF-8 bytes: up to this many it cannot be
        # over the stored limit, and is not encoded to find out.
        self._fits_chars = self.policy.max_value_bytes // 4
        # A cheap first look that skips most strings; only valid for the default
        # patterns, so any extra pattern turns it off. A text with none of the
        # keywords can hold only a bare AWS secret key (a 40-character run): then
        # that one rule runs, not all of them (long tool output is such text).
        self._quick_ok = self.policy.patterns == DEFAULT_PATTERNS
        self._quick = compile_pattern(
            r"(?i)private key|\"env\"|sk-|sk_|rk_|whsec_|gh[pousr]_|github_pat_|akia|asia|abia"
            r"|acca|xox|xapp-|hooks\.slack|aiza|hf_|glpat-|npm_|eyj|bearer|basic|token|://"
            r"|pass|pwd|secret|key|authoriz|credential|dsn"
        )
        # A whole run of 40 base64 characters (trailing '=' aside), as the rule wants.
        self._quick_run = compile_pattern(
            r"(?:^|[^A-Za-z0-9/+=])[A-Za-z0-9/+=]{39}[A-Za-z0-9/+]=*(?:$|[^A-Za-z0-9/+=])"
        )
        self._run_rules = [rule for rule in self._rules if rule.pattern == _AWS_RUN_PATTERN]
        # Both first looks in one pass (RE2 runs an alternation as one automaton): most
        # text, long tool output above all, matches neither and is read only once.
        self._quick_either = compile_pattern(
            f"(?:{self._quick.pattern})|(?:{self._quick_run.pattern})"
        )

    def budget(self) -> Budget:
        """A fresh time budget for one request or batch."""
        return Budget(self.policy.time_budget_s)

    # --- strings -----------------------------------------------------------------
    def redact_text(self, text: str, budget: Budget | None = None) -> str:
        """Replace every secret the patterns find in ``text``."""
        if not self.policy.enabled or not text:
            return text
        short = len(text) <= _CACHED_CHARS
        if short:
            known = self._short.get(text)
            if known is not None:
                return known  # scanned before: no budget spent, no pattern run
        if budget is not None and not budget.left(len(text)):
            return BUDGET_REDACTED
        cleaned = self._scan(text)
        if short:
            _remember(self._short, text, cleaned)
        return cleaned

    def _scan(self, text: str) -> str:
        if self._quick_ok and not self._quick_either.search(text):
            return text
        if self._quick_ok and not self._quick.search(text):
            if not self._quick_run.search(text):
                return text
            for rule in self._run_rules:
                text = rule.sub(text)
            return text
        if '"Env"' in text:
            text = _ENV_BLOCK.sub(_redact_env_block, text)
        for rule in self._rules:
            text = rule.sub(text)
        return text

    def _key_plan(self, key: str) -> tuple[str, bool]:
        plan = self._keys.get(key)
        if plan is None:
            cleaned = self.redact_text(key) if len(key) <= 4096 else BUDGET_REDACTED
            plan = (cleaned, self._key_names_secret(key))
            _remember(self._keys, key, plan)
        return plan

    def _key_names_secret(self, key: str) -> bool:
        lowered = key.lower()
        last = lowered.rsplit(".", 1)[-1]
        return (
            lowered in self._secret_keys
            or last in self._secret_keys
            or _SECRET_KEY_SUFFIX.search(last) is not None
        )

    def _value(self, value: Any, budget: Budget) -> Any:
        if isinstance(value, str):
            return self.redact_text(value, budget)
        if isinstance(value, list | tuple):
            return [self._value(v, budget) for v in value]
        if isinstance(value, Mapping):
            return self.mapping(value, budget, truncate=False)
        if isinstance(value, bytes):
            try:
                text = value.decode("utf-8")
            except UnicodeDecodeError:
                return value  # not text: no pattern applies
            cleaned = self.redact_text(text, budget)
            return value if cleaned == text else cleaned.encode("utf-8", "surrogatepass")
        return value

    @staticmethod
    def _unique(cleaned: str, taken: Mapping[str, Any]) -> str:
        # Two redacted keys must not overwrite each other.
        base, index = cleaned, 2
        while cleaned in taken:
            cleaned, index = f"{base}#{index}", index + 1
        return cleaned

    def mapping(
        self, mapping: Mapping[str, Any], budget: Budget, *, truncate: bool
    ) -> dict[str, Any]:
        """A redacted copy of an attribute map; with ``truncate``, long strings are cut."""
        out: dict[str, Any] = {}
        cut: list[str] = []
        enabled = self.policy.enabled
        # The common case inlined (every attribute of every span comes through here):
        # a known key, and a short string already scanned or a number.
        keys, short = self._keys, self._short
        for raw_key, value in mapping.items():
            plan = keys.get(raw_key) if enabled else (raw_key, False)
            key, secret = plan if plan is not None else self._key_plan(raw_key)
            if key != raw_key:
                key = self._unique(key, out)
            kind = type(value)
            if secret and value not in _EMPTY:
                out[key] = REDACTED
            elif kind is str:
                known = short.get(value) if len(value) <= _CACHED_CHARS else None
                if known is not None:
                    out[key] = known
                elif truncate and self._too_long(value):
                    out.update(self._truncated(key, value, budget))
                    cut.append(key)
                else:
                    out[key] = self.redact_text(value, budget)
            elif kind in _PLAIN:
                out[key] = value
            else:
                out[key] = self._value(value, budget)
        if cut:
            # Values cut earlier (by the sender's own redaction) stay listed.
            earlier = out.get(TRUNCATED_KEY)
            listed = [str(k) for k in earlier] if isinstance(earlier, list) else []
            out[TRUNCATED_KEY] = listed + [k for k in cut if k not in listed]
        return out

    # --- truncation --------------------------------------------------------------
    def _too_long(self, value: str) -> bool:
        limit = self.policy.max_value_bytes
        # A str of n characters has at most 4n UTF-8 bytes: most values skip encoding.
        return len(value) > self._fits_chars and len(value.encode("utf-8", "surrogatepass")) > limit

    def _truncated(self, key: str, value: str, budget: Budget) -> dict[str, Any]:
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
