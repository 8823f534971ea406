"""Keep the lake small: flush inlined rows, merge small files, drop old snapshots.

Every shipping pass is one small commit, so without this the lake grows one
Parquet file (or a few inlined catalog rows) per collector per pass, plus a
delete file per replaced batch (bench/lake_probe.py: 240 files after 120
commits, 2-4 after compaction).

- Each collector compacts the tables of its own schema itself, on its shipping
  thread: nobody else writes them, so this never conflicts.
- The shared ``spans`` table, expiring snapshots and deleting unreferenced files
  are done by one collector at a time: whoever holds a PostgreSQL advisory lock
  on the catalog database (a lease that ends with its session, so another
  collector takes over when the holder dies).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta

import duckdb

from collector.lake.layout import OWNED_TABLES, SHARED_TABLES

__all__ = ["MaintenanceLease", "compact_own_tables", "maintain_shared", "MaintenanceReport"]

logger = logging.getLogger(__name__)

# Any fixed 64-bit number; names this lake's maintenance lease in pg_locks.
_LEASE_KEY = 0x6167_656E_7461_7564  # "agentaud"


@dataclass
class MaintenanceReport:
    """What a maintenance pass did, for logs and /healthz."""

    tables: list[str] = field(default_factory=list)
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


def _call(
    lake: duckdb.DuckDBPyConnection, sql: str, params: list[object], report: MaintenanceReport
) -> None:
    try:
        lake.execute(sql, params)
    except duckdb.Error as exc:
        # A conflict with a concurrent commit: the next pass tries again.
        report.errors.append(f"{sql.split('(')[0]}: {exc}")


def compact_own_tables(
    lake: duckdb.DuckDBPyConnection, alias: str, schema: str
) -> MaintenanceReport:
    """Flush inlined rows, merge small files, rewrite files with many deletes."""
    report = MaintenanceReport()
    start = time.perf_counter()
    for table in (*OWNED_TABLES, "ship_marks"):
        _call(
            lake,
            "CALL ducklake_flush_inlined_data(?, schema_name => ?, table_name => ?)",
            [alias, schema, table],
            report,
        )
        _call(
            lake,
            "CALL ducklake_rewrite_data_files(?, ?, schema => ?, delete_threshold => 0.3)",
            [alias, table, schema],
            report,
        )
        _call(
            lake,
            "CALL ducklake_merge_adjacent_files(?, ?, schema => ?)",
            [alias, table, schema],
            report,
        )
        report.tables.append(f"{schema}.{table}")
    report.seconds = time.perf_counter() - start
    return report


def maintain_shared(
    lake: duckdb.DuckDBPyConnection, alias: str, *, keep_snapshots: timedelta
) -> MaintenanceReport:
    """Compact the shared tables, expire old snapshots and delete files none references."""
    report = MaintenanceReport()
    start = time.perf_counter()
    for table in SHARED_TABLES:
        _call(
            lake,
            "CALL ducklake_flush_inlined_data(?, schema_name => 'main', table_name => ?)",
            [alias, table],
            report,
        )
        _call(
            lake,
            "CALL ducklake_merge_adjacent_files(?, ?, schema => 'main')",
            [alias, table],
            report,
        )
        report.tables.append(f"main.{table}")
    cutoff_sql = "now() - INTERVAL (? || ' seconds')"
    seconds = str(int(keep_snapshots.total_seconds()))
    _call(
        lake,
        f"CALL ducklake_expire_snapshots(?, older_than => {cutoff_sql})",
        [alias, seconds],
        report,
    )
    _call(
        lake,
        f"CALL ducklake_cleanup_old_files(?, older_than => {cutoff_sql})",
        [alias, seconds],
        report,
    )
    report.seconds = time.perf_counter() - start
    return report


class MaintenanceLease:
    """A session-level advisory lock on the catalog: held = this collector maintains."""

    def __init__(self, catalog_dsn: str) -> None:
        self._dsn = catalog_dsn
        self._conn: object | None = None

    def try_acquire(self) -> bool:
        """True if this process holds the lease (now or already)."""
        import psycopg  # only the lake mode needs it

        if self._conn is not None:
            try:
                self._conn.execute("SELECT 1")  # type: ignore[attr-defined]
                return True
            except psycopg.Error:
                self._conn = None  # the session (and with it the lock) is gone

        try:
            conn = psycopg.connect(self._dsn, autocommit=True, connect_timeout=5)
        except psycopg.Error as exc:
            logger.warning("cannot reach the catalog for the maintenance lease: %s", exc)
            return False
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", [_LEASE_KEY]).fetchone()
        if row and row[0]:
            self._conn = conn
            return True
        conn.close()
        return False

    def release(self) -> None:
        if self._conn is not None:
            self._conn.close()  # type: ignore[attr-defined]
            self._conn = None
