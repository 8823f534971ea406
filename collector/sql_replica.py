"""The ``/sql`` worker's DuckDB file: the documented tables, kept in step at each sync.

Runs in the worker process (:mod:`collector.sql_worker`). A sync arrives as
Arrow batches; they are committed every ``commit_bytes`` of Arrow data rather
than in one transaction: loaded in one transaction, a whole copy grew the
worker with the store (1.75 GB RSS at 100k runs; past its 4 GB address space
at 1M), while committed in chunks it stayed under 0.9 GB at 1M. Queries
never see a half-loaded copy: the worker answers one message at a time, and
the sync ends before the next query is read. The copy id file beside the
database is removed in a sync's first commit and written after its last, so
a copy cut short is never taken over (:mod:`collector.sql_saved_copy`); a
worker whose sync failed exits, and the collector starts a new one.
"""

from __future__ import annotations

import contextlib
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from collector.schema_costs import COST_VIEWS_DDL

__all__ = ["Replica"]


class Replica:
    """The worker's database and how a sync lands in it."""

    def __init__(self, workdir: Path, limits: dict[str, Any]) -> None:
        import duckdb

        spill = workdir / "spill"
        spill.mkdir(mode=0o700, exist_ok=True)
        config: dict[str, str | bool | int | float | list[str]] = {
            "enable_external_access": False,
            "autoload_known_extensions": False,
            "autoinstall_known_extensions": False,
            "memory_limit": f"{int(limits['memory_mb'])}MB",
            "temp_directory": str(spill),
            "max_temp_directory_size": f"{int(limits['temp_mb'])}MB",
            "threads": int(limits["threads"]),
        }
        # Beside the file rather than in it: a table would show in SHOW TABLES.
        self._id_path = workdir / "copy-id"
        database = workdir / "replica.duckdb"
        try:
            self.con = duckdb.connect(str(database), config=config)
        except duckdb.Error as exc:
            if "lock" in str(exc).lower():
                raise  # a worker still exiting holds it: never remove a file in use
            # A copy cut short where it began (its disk full while the file was made)
            # is not a DuckDB file: it is only a copy, so it is made anew.
            for path in (database, database.with_name(database.name + ".wal"), self._id_path):
                path.unlink(missing_ok=True)
            self.con = duckdb.connect(str(database), config=config)
        self.con.execute("SET TimeZone = 'UTC'")
        self._commit_bytes = int(limits["commit_bytes"])
        self._pending_bytes = 0
        self.generation: int | None = None
        self._locked = False
        # A file kept from an earlier worker (collector/sql_saved_copy.py) has its tables.
        kept = self.con.execute("SELECT table_name FROM duckdb_tables()").fetchall()
        self._tables: set[str] = {str(row[0]) for row in kept}
        self._views_created = False

    def copy_id(self) -> str | None:
        """The id the last complete sync left (None after a sync cut short)."""
        try:
            return self._id_path.read_text().strip() or None
        except OSError:
            return None

    def load(
        self, conn: Connection, plan: list[tuple[str, str]], generation: int, copy_id: str
    ) -> None:
        """Receive tables as Arrow batches: ``replace`` a table, ``append`` to it, or
        ``upsert`` (drop the ids sent first, then add the rows). ``copy_id`` names
        the copy once the last commit is made."""
        con = self.con
        con.execute("BEGIN TRANSACTION")
        self._pending_bytes = 0
        try:
            # Until the last commit the file holds a copy no one can trust.
            self._id_path.unlink(missing_ok=True)
            for table, mode in plan:
                self._load_table(conn, table, mode)
            if not self._views_created:
                con.execute(COST_VIEWS_DDL)
                self._views_created = True
            con.execute("COMMIT")
        except BaseException:
            # A COMMIT that failed (the disk full) has ended the transaction already:
            # the error to report is the commit's, not the rollback's.
            with contextlib.suppress(Exception):
                con.execute("ROLLBACK")
            raise
        self.generation = generation
        partial = self._id_path.with_suffix(".partial")
        partial.write_text(copy_id)
        partial.replace(self._id_path)
        if not self._locked:
            # From here on no statement can change a setting, the user's least of all.
            con.execute("SET lock_configuration = true")
            self._locked = True

    def _load_table(self, conn: Connection, table: str, mode: str) -> None:
        con = self.con
        created = mode in ("append", "upsert") and table in self._tables
        if mode == "upsert":
            kind, stale = conn.recv()
            if kind != "drop" or not created:
                raise ValueError(f"upsert of {table} without its ids or its table")
            con.register("stale", stale)
            con.execute(f'DELETE FROM "{table}" WHERE id IN (SELECT id FROM stale)')
            con.unregister("stale")
        if not created:
            con.execute(f'DROP TABLE IF EXISTS "{table}"')
            self._tables.discard(table)
        while True:
            message = conn.recv()
            if message[0] == "end":
                break
            _, batch = message
            con.register("incoming", batch)
            if created:
                con.execute(f'INSERT INTO "{table}" BY NAME SELECT * FROM incoming')
            else:
                con.execute(f'CREATE TABLE "{table}" AS SELECT * FROM incoming')
                created = True
            con.unregister("incoming")
            self._pending_bytes += batch.nbytes
            if self._pending_bytes >= self._commit_bytes:
                # Bounded memory: what is committed leaves the transaction's buffers.
                con.execute("COMMIT")
                con.execute("BEGIN TRANSACTION")
                self._pending_bytes = 0
        self._tables.add(table)
