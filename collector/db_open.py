"""Open the DuckDB file with the collector's settings, turning its errors into clear ones."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from collector.store_errors import StoreOpenError, open_error

__all__ = ["open_database", "default_ceiling_mb"]


def open_database(
    path: Path, memory_limit_mb: int = 256, threads: int = 0, checkpoint_mb: int = 256
) -> duckdb.DuckDBPyConnection:
    """Open (or create) the file, turning DuckDB's errors into clear ones."""
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise StoreOpenError(f"directory {path.parent} does not exist")
    try:
        # No file or network access from SQL: /sql runs users' queries on this
        # database, and the collector itself never needs it.
        con = duckdb.connect(str(path), config={"enable_external_access": False})
    except duckdb.Error as exc:
        raise open_error(path, exc) from None
    con.execute("SET TimeZone = 'UTC'")
    # Checkpointing every 16 MB of WAL (DuckDB's default) rewrote and fragmented
    # the file under steady ingest; a larger threshold keeps it compact and fast.
    # Rows not yet checkpointed stay in DuckDB's memory: a smaller threshold with
    # a smaller memory limit keeps a small collector small (README, Performance).
    # The collector checkpoints at shutdown.
    con.execute(f"SET checkpoint_threshold = '{int(checkpoint_mb)}MB'")
    # DuckDB's own default is 80% of RAM; a sidecar should stay small. Queries
    # that need more spill to disk (the temp directory beside the file).
    con.execute(f"SET memory_limit = '{int(memory_limit_mb)}MB'")
    if threads > 0:
        # The writer's statements are small: more DuckDB threads cost more CPU
        # in hand-offs than they save, on cores the receivers need (README,
        # Performance).
        con.execute(f"SET threads = {int(threads)}")
    return con


def default_ceiling_mb() -> int:
    """How far the writer may raise DuckDB's memory limit by default: half the RAM."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (OSError, ValueError):
        return 4096
    return max(256, total // (2 * 1024 * 1024))
