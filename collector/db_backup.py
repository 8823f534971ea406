"""A consistent copy of the whole database as a new DuckDB file, taken while serving.

The collector holds the only lock on its file, so a copy must come from inside
it. One read-only transaction reads every table (spans, the hash chain and its
tombstones, runs, steps, cancel requests, retention log, schema versions) and a
separate DuckDB instance writes them into a fresh file created with the same
schema. The copy opens like the original: a collector can serve it and
``agent-audit verify --db`` checks it. Ingest goes on meanwhile; what it commits
after the transaction began is not in the copy.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from collector.schema import migrate

__all__ = ["Backup", "take_backup"]

_BATCH_ROWS = 65_536
BACKUP_NAME = "agent-audit.duckdb"


@dataclass
class Backup:
    """The copy in a private temporary directory; ``cleanup()`` removes it."""

    path: Path
    row_counts: dict[str, int]
    taken_at: datetime

    def cleanup(self) -> None:
        """Delete the temporary directory."""
        shutil.rmtree(self.path.parent, ignore_errors=True)


def _tables(cursor: duckdb.DuckDBPyConnection) -> list[str]:
    rows = cursor.execute(
        "SELECT table_name FROM duckdb_tables() "
        "WHERE database_name = current_database() AND schema_name = 'main' "
        "AND NOT temporary ORDER BY table_name"
    ).fetchall()
    return [str(row[0]) for row in rows]


def take_backup(cursor: duckdb.DuckDBPyConnection, *, taken_at: datetime) -> Backup:
    """Copy every table from one read-only transaction into a new file."""
    directory = Path(tempfile.mkdtemp(prefix="agent-audit-backup-"))
    path = directory / BACKUP_NAME
    counts: dict[str, int] = {}
    try:
        target = duckdb.connect(str(path))
        try:
            migrate(target)
            target_tables = set(_tables(target))
            cursor.execute("BEGIN TRANSACTION READ ONLY")
            try:
                for table in _tables(cursor):
                    if table not in target_tables:
                        raise RuntimeError(f"table {table} is not in this version's schema")
                    reader = cursor.sql(f"SELECT * FROM {table}").to_arrow_reader(_BATCH_ROWS)
                    # migrate() seeds some tables (schema_version): the copy replaces them.
                    target.execute(f"DELETE FROM {table}")
                    target.register("_backup_rows", reader)
                    try:
                        # BY NAME: a migrated file may hold its columns in another order.
                        target.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _backup_rows")
                    finally:
                        target.unregister("_backup_rows")
                    row = target.execute(f"SELECT count(*) FROM {table}").fetchone()
                    counts[table] = int(row[0]) if row else 0
            finally:
                cursor.execute("ROLLBACK")
            target.execute("CHECKPOINT")
        finally:
            target.close()
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return Backup(path=path, row_counts=counts, taken_at=taken_at)
