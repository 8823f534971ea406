"""Collector settings, read once from the environment into a frozen object."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from collector.bodies_in_flight import BodiesInFlight
from collector.errors import CollectorError
from collector.pricing import PriceBook, PricesFileError
from collector.request_budget import PartsInFlight, RequestBudget
from instrumentation import env as E
from instrumentation.security import is_loopback

__all__ = ["Settings", "SettingsError", "MIN_TOKEN_CHARS"]

MIN_TOKEN_CHARS = 16

_COLLECTOR_ID = re.compile(r"^[a-z0-9][a-z0-9_]{0,62}$")


class SettingsError(CollectorError, ValueError):
    """A setting has a bad value; the message names the variable."""


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything the collector needs to start; defaults from instrumentation.env."""

    db_path: Path = Path(E.DB.default)
    host: str = E.HOST.default
    grpc_port: int = E.GRPC_PORT.default
    http_port: int = E.HTTP_PORT.default
    token: str | None = E.TOKEN.default
    # Ingest
    max_request_bytes: int = E.MAX_REQUEST_BYTES.default  # after decompression
    # Bodies held at once by both receivers (collector/bodies_in_flight.py).
    max_inflight_bytes: int = E.MAX_INFLIGHT_BYTES.default
    max_queued_spans: int = E.MAX_QUEUED_SPANS.default  # beyond this, answer "retry later"
    # Past these a request is refused before it is decoded (collector/request_budget.py).
    max_request_spans: int = E.MAX_REQUEST_SPANS.default
    max_request_parts: int = E.MAX_REQUEST_PARTS.default
    # One transaction holds at most this many spans.
    commit_max_spans: int = E.COMMIT_MAX_SPANS.default
    grpc_workers: int = E.GRPC_WORKERS.default
    request_timeout_s: float = E.REQUEST_TIMEOUT_S.default
    # Live runs
    lost_after_s: float = E.LOST_AFTER_S.default
    # Query API
    sql_max_rows: int = E.SQL_MAX_ROWS.default
    sql_timeout_s: float = E.SQL_TIMEOUT_S.default
    sql_max_bytes: int = E.SQL_MAX_BYTES.default  # JSON bytes of one /sql result
    sql_memory_mb: int = E.SQL_MEMORY_MB.default  # DuckDB memory limit of the /sql worker
    sql_temp_mb: int = E.SQL_TEMP_MB.default  # disk the /sql worker may spill to
    sql_address_space_mb: int = E.SQL_ADDRESS_SPACE_MB.default  # RLIMIT_AS of the worker
    sql_copy_wait_s: float = E.SQL_COPY_WAIT_S.default  # then 503 "copy being built, N%"
    sql_copy_at_start: bool = E.SQL_COPY_AT_START.default
    sql_copy_dir: Path | None = None  # None: $TMPDIR/agent-audit-sql.<uid>
    sql_copy_keep_days: float = E.SQL_COPY_KEEP_DAYS.default
    # Storage
    max_attribute_bytes: int = E.MAX_ATTRIBUTE_BYTES.default
    redact: bool = E.REDACT.default
    redact_patterns: tuple[str, ...] = E.REDACT_PATTERNS.default  # extra regular expressions
    # Extra attribute keys whose values are secret.
    redact_keys: tuple[str, ...] = E.REDACT_KEYS.default
    # Per request; past it, whole values are redacted unscanned.
    redact_budget_ms: int = E.REDACT_BUDGET_MS.default
    retention_days: float = E.RETENTION_DAYS.default  # 0 keeps everything
    # Read every block at start to find damage early.
    startup_read_check: bool = E.STARTUP_READ_CHECK.default
    db_memory_mb: int = E.DB_MEMORY_MB.default  # DuckDB's memory limit
    db_memory_max_mb: int = E.DB_MEMORY_MAX_MB.default  # how far writes and reads may raise it
    db_threads: int = E.DB_THREADS.default  # DuckDB's worker threads; 0 = one per core
    db_checkpoint_mb: int = E.DB_CHECKPOINT_MB.default  # WAL size that starts a checkpoint
    malloc_arenas: int = E.MALLOC_ARENAS.default  # glibc arena cap at start; 0 = glibc's
    malloc_mmap_kb: int = E.MALLOC_MMAP_KB.default  # glibc's mmap threshold fixed; 0 = glibc's own
    # Scale-out: with a lake catalog, db_path is this collector's own file and
    # reads go to the lake (collector/lake/).
    lake_catalog: str | None = None  # libpq connection string or postgres:// URL
    lake_data_path: str | None = E.LAKE_DATA_PATH.default
    collector_id: str | None = E.COLLECTOR_ID.default
    lake_ship_interval_s: float = E.LAKE_SHIP_INTERVAL_S.default
    lake_compact_every_s: float = E.LAKE_COMPACT_EVERY_S.default
    lake_inline_rows: int = E.LAKE_INLINE_ROWS.default
    # Costs: a file of model prices that wins over the built-in table (collector.pricing).
    prices_path: Path | None = None
    search_index: bool = E.SEARCH_INDEX.default  # a live full-text index beside the database
    # The chain's HMAC key file; None: <db>.key (collector/chain_key.py).
    chain_key_path: Path | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        """Read AGENT_AUDIT_* variables; a bad value raises SettingsError naming it."""
        if E.set_but_blank(E.TOKEN, env):
            # Set but blank is a mistake (an empty secret in a unit file), not "no token".
            raise SettingsError(
                "AGENT_AUDIT_TOKEN is set but blank: set a random token of at least "
                f"{MIN_TOKEN_CHARS} characters, or unset the variable"
            )
        try:
            db_path, lake_catalog = _store(E.STORE.read(env), E.DB.read(env))
            settings = cls(
                db_path=db_path,
                lake_catalog=lake_catalog,
                lake_data_path=E.LAKE_DATA_PATH.read(env),
                collector_id=E.COLLECTOR_ID.read(env),
                lake_ship_interval_s=E.LAKE_SHIP_INTERVAL_S.read(env),
                lake_compact_every_s=E.LAKE_COMPACT_EVERY_S.read(env),
                lake_inline_rows=E.LAKE_INLINE_ROWS.read(env),
                host=E.HOST.read(env),
                grpc_port=E.GRPC_PORT.read(env),
                http_port=E.HTTP_PORT.read(env),
                token=E.TOKEN.read(env),
                max_request_bytes=E.MAX_REQUEST_BYTES.read(env),
                max_inflight_bytes=E.MAX_INFLIGHT_BYTES.read(env),
                max_queued_spans=E.MAX_QUEUED_SPANS.read(env),
                max_request_spans=E.MAX_REQUEST_SPANS.read(env),
                max_request_parts=E.MAX_REQUEST_PARTS.read(env),
                commit_max_spans=E.COMMIT_MAX_SPANS.read(env),
                grpc_workers=E.GRPC_WORKERS.read(env),
                request_timeout_s=E.REQUEST_TIMEOUT_S.read(env),
                lost_after_s=E.LOST_AFTER_S.read(env),
                sql_max_rows=E.SQL_MAX_ROWS.read(env),
                sql_timeout_s=E.SQL_TIMEOUT_S.read(env),
                sql_max_bytes=E.SQL_MAX_BYTES.read(env),
                sql_memory_mb=E.SQL_MEMORY_MB.read(env),
                sql_temp_mb=E.SQL_TEMP_MB.read(env),
                sql_address_space_mb=E.SQL_ADDRESS_SPACE_MB.read(env),
                sql_copy_wait_s=E.SQL_COPY_WAIT_S.read(env),
                sql_copy_at_start=E.SQL_COPY_AT_START.read(env),
                sql_copy_dir=Path(folder) if (folder := E.SQL_COPY_DIR.read(env)) else None,
                sql_copy_keep_days=E.SQL_COPY_KEEP_DAYS.read(env),
                max_attribute_bytes=E.MAX_ATTRIBUTE_BYTES.read(env),
                redact=E.REDACT.read(env),
                redact_patterns=E.REDACT_PATTERNS.read(env),
                redact_keys=E.REDACT_KEYS.read(env),
                redact_budget_ms=E.REDACT_BUDGET_MS.read(env),
                retention_days=E.RETENTION_DAYS.read(env),
                prices_path=Path(E.PRICES.read(env)) if E.PRICES.read(env) else None,
                startup_read_check=E.STARTUP_READ_CHECK.read(env),
                db_memory_mb=E.DB_MEMORY_MB.read(env),
                db_memory_max_mb=E.DB_MEMORY_MAX_MB.read(env),
                db_threads=E.DB_THREADS.read(env),
                db_checkpoint_mb=E.DB_CHECKPOINT_MB.read(env),
                malloc_arenas=E.MALLOC_ARENAS.read(env),
                malloc_mmap_kb=E.MALLOC_MMAP_KB.read(env),
                search_index=E.SEARCH_INDEX.read(env),
                chain_key_path=Path(key) if (key := E.CHAIN_KEY.read(env)) else None,
            )
        except E.EnvError as exc:
            raise SettingsError(str(exc)) from None
        settings.validate()
        return settings

    @property
    def request_budget(self) -> RequestBudget:
        """How many spans and parts one OTLP request may hold."""
        return RequestBudget(max_spans=self.max_request_spans, max_parts=self.max_request_parts)

    def parts_in_flight(self) -> PartsInFlight:
        """The bound on parts being decoded at once, shared by the HTTP and gRPC
        receivers: two full budgets (collector/request_budget.py)."""
        return PartsInFlight(2 * self.max_request_parts)

    def bodies_in_flight(self) -> BodiesInFlight:
        """The bound on request body bytes held at once, shared by the HTTP and gRPC receivers."""
        return BodiesInFlight(self.max_inflight_bytes)

    def with_overrides(self, **changes: object) -> Settings:
        """A copy with some fields changed (command-line flags win over the environment)."""
        updated = replace(self, **changes)  # type: ignore[arg-type]
        updated.validate()
        return updated

    def validate(self) -> None:
        """Refuse combinations that are unsafe or cannot work."""
        if self.token is not None:
            if not self.token.strip():
                raise SettingsError(
                    "AGENT_AUDIT_TOKEN is blank: set a random token of at least "
                    f"{MIN_TOKEN_CHARS} characters, or unset it to run without one on 127.0.0.1"
                )
            if self.token != self.token.strip():
                raise SettingsError("AGENT_AUDIT_TOKEN starts or ends with whitespace")
            if len(self.token) < MIN_TOKEN_CHARS:
                raise SettingsError(
                    f"AGENT_AUDIT_TOKEN is {len(self.token)} characters long: use at least "
                    f"{MIN_TOKEN_CHARS} (e.g. python -c 'import secrets; "
                    "print(secrets.token_urlsafe(24))')"
                )
        for name in ("grpc_port", "http_port"):
            port = getattr(self, name)
            if not 0 <= port <= 65535:
                raise SettingsError(f"{name}={port} is not a TCP port")
        if self.lake_catalog and not self.lake_data_path:
            raise SettingsError(
                f"{E.STORE.name}=ducklake:... needs {E.LAKE_DATA_PATH.name}, "
                "where the lake's Parquet files live"
            )
        if self.collector_id is not None and not _COLLECTOR_ID.match(self.collector_id):
            raise SettingsError(
                f"{E.COLLECTOR_ID.name}={self.collector_id!r} must be 1-63 characters "
                "of a-z, 0-9 and _"
            )
        if not self.token and not is_loopback(self.host):
            raise SettingsError(
                f"refusing to listen on {self.host} without a token: set AGENT_AUDIT_TOKEN "
                "or bind to 127.0.0.1"
            )
        if self.prices_path is not None:
            # Read now, so a bad prices file stops start-up before anything listens.
            try:
                PriceBook.from_file(self.prices_path)
            except PricesFileError as exc:
                raise SettingsError(f"AGENT_AUDIT_PRICES: {exc}") from None


def _store(store: str, db: str) -> tuple[Path, str | None]:
    """AGENT_AUDIT_STORE -> (this collector's DuckDB file, the lake catalog or None)."""
    kind, _, target = store.partition(":")
    if kind == "duckdb":
        if target and db != E.DB.default and target != db:
            raise SettingsError(
                f"{E.STORE.name}={store!r} and {E.DB.name}={db!r} name different files"
            )
        return Path(target or db), None
    if kind == "ducklake":
        if not target.startswith(("postgres:", "postgresql:", "host=", "dbname=")):
            raise SettingsError(
                f"{E.STORE.name}={store!r}: the lake's catalog must be PostgreSQL "
                "(ducklake:postgres://user:password@host:5432/database)"
            )
        return Path(db), target
    raise SettingsError(f"{E.STORE.name}={store!r}: use duckdb:PATH or ducklake:postgres://...")
