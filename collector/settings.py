"""Collector settings, read once from the environment into a frozen object."""

from __future__ import annotations

import ipaddress
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

__all__ = ["Settings", "SettingsError"]


class SettingsError(ValueError):
    """A setting has a bad value; the message names the variable."""


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise SettingsError(f"{name}={value} must be >= {minimum}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, *, minimum: float = 0.0) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number") from None
    if value < minimum:
        raise SettingsError(f"{name}={value} must be >= {minimum}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name}={raw!r} is not a boolean (use true or false)")


def _patterns(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """A JSON array of regular expressions, each compiled to check it."""
    raw = env.get(name)
    if not raw:
        return ()
    try:
        patterns = json.loads(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a JSON array of regular expressions") from None
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        raise SettingsError(f"{name} must be a JSON array of regular expressions")
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            message = f"{name}: {pattern!r} is not a valid regular expression: {exc}"
            raise SettingsError(message) from None
    return tuple(patterns)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and 'localhost'."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything the collector needs to start; see the README for each variable."""

    db_path: Path = Path("agent_audit.duckdb")
    host: str = "127.0.0.1"
    grpc_port: int = 4317
    http_port: int = 4318
    token: str | None = None
    # Ingest
    max_request_bytes: int = 16 * 1024 * 1024  # after decompression
    max_queued_spans: int = 200_000  # beyond this, answer "retry later"
    commit_max_spans: int = 20_000  # one transaction holds at most this many spans
    grpc_workers: int = 8
    # Live runs
    lost_after_s: float = 300.0
    # Query API
    sql_max_rows: int = 10_000
    sql_timeout_s: float = 10.0
    sql_max_bytes: int = 16 * 1024 * 1024  # JSON bytes of one /sql result
    sql_memory_mb: int = 512  # DuckDB memory limit of the /sql worker process
    sql_temp_mb: int = 1024  # disk the /sql worker may spill to
    # Storage
    max_attribute_bytes: int = 64 * 1024
    redact: bool = True
    redact_patterns: tuple[str, ...] = ()  # extra regular expressions
    redact_keys: tuple[str, ...] = ()  # extra attribute keys whose values are secret
    redact_budget_ms: int = 500  # per request; then whole values are redacted unscanned
    retention_days: float = 0.0  # 0 keeps everything
    startup_read_check: bool = True  # read every block at start to find damage early
    db_memory_mb: int = 256  # DuckDB's memory limit

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        """Read AGENT_AUDIT_* variables; a bad value raises SettingsError naming it."""
        settings = cls(
            db_path=Path(env.get("AGENT_AUDIT_DB") or "agent_audit.duckdb"),
            host=env.get("AGENT_AUDIT_HOST") or "127.0.0.1",
            grpc_port=_int(env, "AGENT_AUDIT_GRPC_PORT", 4317),
            http_port=_int(env, "AGENT_AUDIT_HTTP_PORT", 4318),
            token=env.get("AGENT_AUDIT_TOKEN") or None,
            max_request_bytes=_int(
                env, "AGENT_AUDIT_MAX_REQUEST_BYTES", 16 * 1024 * 1024, minimum=1024
            ),
            max_queued_spans=_int(env, "AGENT_AUDIT_MAX_QUEUED_SPANS", 200_000, minimum=1),
            commit_max_spans=_int(env, "AGENT_AUDIT_COMMIT_MAX_SPANS", 20_000, minimum=1),
            grpc_workers=_int(env, "AGENT_AUDIT_GRPC_WORKERS", 8, minimum=1),
            lost_after_s=_float(env, "AGENT_AUDIT_LOST_AFTER_S", 300.0, minimum=1.0),
            sql_max_rows=_int(env, "AGENT_AUDIT_SQL_MAX_ROWS", 10_000, minimum=1),
            sql_timeout_s=_float(env, "AGENT_AUDIT_SQL_TIMEOUT_S", 10.0, minimum=0.1),
            sql_max_bytes=_int(env, "AGENT_AUDIT_SQL_MAX_BYTES", 16 * 1024 * 1024, minimum=1024),
            sql_memory_mb=_int(env, "AGENT_AUDIT_SQL_MEMORY_MB", 512, minimum=64),
            sql_temp_mb=_int(env, "AGENT_AUDIT_SQL_TEMP_MB", 1024, minimum=0),
            max_attribute_bytes=_int(
                env, "AGENT_AUDIT_MAX_ATTRIBUTE_BYTES", 64 * 1024, minimum=256
            ),
            redact=_bool(env, "AGENT_AUDIT_REDACT", True),
            redact_patterns=_patterns(env, "AGENT_AUDIT_REDACT_PATTERNS"),
            redact_keys=tuple(
                k.strip() for k in env.get("AGENT_AUDIT_REDACT_KEYS", "").split(",") if k.strip()
            ),
            redact_budget_ms=_int(env, "AGENT_AUDIT_REDACT_BUDGET_MS", 500, minimum=1),
            retention_days=_float(env, "AGENT_AUDIT_RETENTION_DAYS", 0.0),
            startup_read_check=_bool(env, "AGENT_AUDIT_STARTUP_READ_CHECK", True),
            db_memory_mb=_int(env, "AGENT_AUDIT_DB_MEMORY_MB", 256, minimum=64),
        )
        settings.validate()
        return settings

    def with_overrides(self, **changes: object) -> Settings:
        """A copy with some fields changed (command-line flags win over the environment)."""
        updated = replace(self, **changes)  # type: ignore[arg-type]
        updated.validate()
        return updated

    def validate(self) -> None:
        """Refuse combinations that are unsafe or cannot work."""
        for name in ("grpc_port", "http_port"):
            port = getattr(self, name)
            if not 0 <= port <= 65535:
                raise SettingsError(f"{name}={port} is not a TCP port")
        if not self.token and not is_loopback(self.host):
            raise SettingsError(
                f"refusing to listen on {self.host} without a token: set AGENT_AUDIT_TOKEN "
                "or bind to 127.0.0.1"
            )
